"""Small helpers every section uses: progress bars, seeding, input checks."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["progress_enabled", "progress_bar", "seed_everything", "check_finite", "check_shape",
           "check_positive", "check_range"]

T = TypeVar("T")


def progress_enabled() -> bool:
    """tqdm bars on a terminal; off in CI (``CI`` set), pipes, or with ``REPRLAB_NO_PROGRESS``."""
    if os.environ.get("CI") or os.environ.get("REPRLAB_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool | None = None,
                 **kwargs: Any) -> Any:
    """A ``tqdm`` bar that hides itself when progress is off (see :func:`progress_enabled`)."""
    disable = not (progress_enabled() if enabled is None else enabled)
    return tqdm(iterable, disable=disable, dynamic_ncols=True, leave=False, **kwargs)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ``ValueError`` naming ``name`` if ``tensor`` holds NaN or Inf."""
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} contains {bad} NaN/Inf values; clean the input first")


def check_shape(name: str, tensor: torch.Tensor, *, ndim: int | tuple[int, ...] | None = None,
                size: dict[int, int] | None = None) -> None:
    """Raise ``ValueError`` if ``tensor`` has the wrong rank or sizes, printing both shapes.

    ``size`` maps a dimension index to its required size, e.g. ``{-1: 128}``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if tensor.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                             f"got shape {tuple(tensor.shape)}")
    for dim, want in (size or {}).items():
        if tensor.shape[dim] != want:
            raise ValueError(f"{name} must have size {want} in dim {dim}, got shape "
                             f"{tuple(tensor.shape)}")


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False,
                   allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0 (>= 0 with ``allow_zero``).

    Written as ``not value > 0`` so NaN fails too; ``integer`` also rejects floats and bools.
    """
    if value is None and allow_none:
        return
    if integer:
        ok_type = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    else:
        ok_type = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    ok = ok_type and (value >= 0 if allow_zero else value > 0) and value != float("inf")
    if not ok:
        want = ("an integer" if integer else "a finite number") + (
            " >= 0" if allow_zero else " > 0") + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {want}, got {value!r}")


def check_range(name: str, tensor: torch.Tensor, low: float = 0.0, high: float = 1.0) -> None:
    """Raise ``ValueError`` unless ``tensor`` is non-empty, finite and inside [low, high],
    naming the range found (e.g. images in 0..255 passed where [0, 1] is expected)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)})")
    check_finite(name, tensor)
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < low or hi > high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], found values in "
                         f"[{lo:g}, {hi:g}]; rescale the input (e.g. divide 0..255 images "
                         "by 255)")
