"""Recurrent parameter generator math (Wang et al., arXiv:2107.07110), as pure tensor functions.

A conv weight of shape ``(C_out, C_in/groups, k_h, k_w)`` with ``T_i`` entries is generated
from a shared bank ``W ∈ R^N`` as::

    K_i = reshape(scale_i · s_i ⊙ W[idx_i])

where ``idx_i`` is a fixed slice of one globally shuffled tiling of ``arange(N)`` (every bank
entry is used ``⌊T/N⌋`` or ``⌈T/N⌉`` times over all layers, ``T = Σ T_i``), ``s_i`` a fixed
random ±1 mask drawn from Bernoulli(½) and ``scale_i = √(fan_ref / fan_i)`` undoes the shared
initialisation scale (official ``SuperConv2d.initialization_multiplier``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["balanced_indices", "sign_mask", "fan", "fan_scale", "generate_weight"]


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def balanced_indices(num_params: int, total: int, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """A shuffled tiling of ``arange(num_params)`` of length ``total``.

    Built as in the official ``SuperParams.finalize``: ``⌊total/num_params⌋`` full copies of
    ``arange(num_params)``, plus ``total mod num_params`` distinct entries drawn without
    replacement, then one global random permutation. Slicing the result consecutively gives
    each layer its indices.

    Parameters
    ----------
    num_params : int
        Bank size ``N >= 1``.
    total : int
        Number of generated weights ``T >= 0`` (all shared layers together).
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape (total,), int64
        Every value in ``[0, N)`` appears ``⌊T/N⌋`` or ``⌈T/N⌉`` times. When ``T < N`` some
        bank entries are unused.

    Examples
    --------
    >>> idx = balanced_indices(4, 10, generator=torch.Generator().manual_seed(0))
    >>> sorted(torch.bincount(idx, minlength=4).tolist())
    [2, 2, 3, 3]
    """
    if not _is_int(num_params) or num_params < 1:
        raise ValueError(f"num_params must be an int >= 1, got {num_params!r}")
    if not _is_int(total) or total < 0:
        raise ValueError(f"total must be an int >= 0, got {total!r}")
    reps, rest = divmod(total, num_params)
    parts = [torch.arange(num_params).repeat(reps)]
    if rest:
        parts.append(torch.randperm(num_params, generator=generator)[:rest])
    tiled = torch.cat(parts)
    return tiled[torch.randperm(total, generator=generator)]


def sign_mask(numel: int, *, generator: torch.Generator | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fixed random ±1 mask of length ``numel`` (Bernoulli(½) mapped to {-1, +1})."""
    if not _is_int(numel) or numel < 0:
        raise ValueError(f"numel must be an int >= 0, got {numel!r}")
    bits = torch.randint(0, 2, (numel,), generator=generator)
    return (bits * 2 - 1).to(dtype)


def fan(shape: Sequence[int], *, mode: str = "fan_out") -> int:
    """Fan of a conv weight ``(C_out, C_in/groups, *kernel)``: ``C_out·k`` or ``C_in·k``."""
    if len(shape) < 2:
        raise ValueError(f"shape must have >= 2 dims (C_out, C_in, ...), got {tuple(shape)}")
    receptive = math.prod(shape[2:])
    if mode == "fan_out":
        return int(shape[0] * receptive)
    if mode == "fan_in":
        return int(shape[1] * receptive)
    raise ValueError(f"mode must be 'fan_out' or 'fan_in', got {mode!r}")


def fan_scale(shape: Sequence[int], *, fan_ref: int, mode: str = "fan_out") -> float:
    """``√(fan_ref / fan(shape))``: maps a bank drawn with Kaiming std for ``fan_ref`` to a
    weight with Kaiming std for this layer (official ``initialization_multiplier``)."""
    if not _is_int(fan_ref) or fan_ref < 1:
        raise ValueError(f"fan_ref must be an int >= 1, got {fan_ref!r}")
    return math.sqrt(fan_ref / fan(shape, mode=mode))


def generate_weight(bank: torch.Tensor, index: torch.Tensor, sign: torch.Tensor | None, *,
                    shape: Sequence[int], scale: float = 1.0) -> torch.Tensor:
    """Gather a weight from the bank: ``reshape(scale · sign ⊙ bank[index], shape)``.

    Parameters
    ----------
    bank : Tensor, shape (N,)
    index : Tensor, shape (T,), integer, values in ``[0, N)``
    sign : Tensor, shape (T,), or None
        ±1 mask; ``None`` means no sign flipping (the sign-mask ablation).
    shape : sequence of int
        Output shape with ``prod(shape) == T``.
    scale : float

    Returns
    -------
    Tensor, shape ``shape``
        Differentiable in ``bank`` (the gradient is scattered back with ``index_add``).
    """
    if bank.dim() != 1:
        raise ValueError(f"bank must be 1-D, got shape {tuple(bank.shape)}")
    if index.dim() != 1 or index.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"index must be a 1-D int32/int64 tensor, got shape "
                         f"{tuple(index.shape)} and dtype {index.dtype}")
    if sign is not None and sign.shape != index.shape:
        raise ValueError(f"sign must have the shape of index {tuple(index.shape)}, got "
                         f"{tuple(sign.shape)}")
    if not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    if index.numel() != math.prod(shape):
        raise ValueError(f"index has {index.numel()} entries but shape {tuple(shape)} "
                         f"needs {math.prod(shape)}")
    w = bank.index_select(0, index)
    if sign is not None:
        w = w * sign
    return (w * scale).view(*shape)
