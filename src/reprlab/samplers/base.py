"""The shared sampler contract (BlackJAX ``base.py``) and gradient helpers.

Every kernel in :mod:`reprlab.samplers` works on a *batch of chains*: a position is a tensor
of shape ``(B, ...)`` and ``logdensity_fn`` maps it to log densities of shape ``(B,)``.
Randomness comes only from an explicit ``torch.Generator``. A *gradient evaluation* is one
evaluation of ``∇ log p`` for every chain of the batch (one batched autograd call), so the
counters below are per chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

__all__ = [
    "SamplingAlgorithm",
    "LogDensityFn",
    "logdensity_and_grad",
    "from_energy",
    "sample_chain",
    "check_initial_state",
    "check_step_size",
]

LogDensityFn = Callable[[torch.Tensor], torch.Tensor]


class SamplingAlgorithm(NamedTuple):
    """``init(position) -> State`` and ``step(generator, state) -> (State, Info)``."""

    init: Callable[..., Any]
    step: Callable[..., Any]


def logdensity_and_grad(
    logdensity_fn: LogDensityFn, position: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log density ``(B,)`` and its gradient ``(B, ...)`` at ``position``, both detached.

    Uses ``torch.autograd.grad`` on ``logdensity_fn(x).sum()``, which is valid because the
    chains of a batch are independent (row ``i`` of the output depends on row ``i`` only).
    A ``logdensity_fn`` with a ``value_and_grad`` attribute (``x -> (logp, grad)``, e.g. a
    Gaussian's closed form) is used instead: on small targets the autograd call dominates
    a leapfrog step. Counts as one gradient evaluation per chain either way.
    """
    value_and_grad = getattr(logdensity_fn, "value_and_grad", None)
    if value_and_grad is not None:
        logp, grad = value_and_grad(position.detach())
        if logp.shape != position.shape[:1] or grad.shape != position.shape:
            raise ValueError(
                f"logdensity_fn.value_and_grad must return shapes {tuple(position.shape[:1])} "
                f"and {tuple(position.shape)}, got {tuple(logp.shape)} and {tuple(grad.shape)}")
        return logp.detach(), grad.detach()
    with torch.enable_grad():
        x = position.detach().requires_grad_(True)
        logp = logdensity_fn(x)
        if logp.shape != x.shape[:1]:
            raise ValueError(
                f"logdensity_fn must return shape (B,) = {tuple(x.shape[:1])} for a position "
                f"of shape {tuple(x.shape)}, got {tuple(logp.shape)}"
            )
        if logp.requires_grad:
            (grad,) = torch.autograd.grad(logp.sum(), x, allow_unused=True)
        else:
            grad = None
        if grad is None:  # a log density constant in x (or NaN everywhere)
            grad = torch.zeros_like(x)
    return logp.detach(), grad.detach()


def check_initial_state(position: torch.Tensor, logdensity: torch.Tensor) -> None:
    """Raise ``ValueError`` when a starting point or its log density is NaN or infinite.

    A chain started there would run to the end at acceptance 0; the error names the first
    offending chain so the user can fix the starting points or the target.
    """
    bad_x = ~torch.isfinite(position.detach().flatten(1)).all(1)
    if bool(bad_x.any()):
        i = int(bad_x.nonzero()[0])
        raise ValueError(f"position has NaN or infinite entries in {int(bad_x.sum())} of "
                         f"{position.shape[0]} chains (first: chain {i}); give finite "
                         "starting points")
    bad_p = ~torch.isfinite(logdensity.detach())
    if bool(bad_p.any()):
        i = int(bad_p.nonzero()[0])
        raise ValueError(f"logdensity_fn is {float(logdensity[i])} at the starting point of "
                         f"chain {i} ({int(bad_p.sum())} of {position.shape[0]} chains); "
                         "start the chains where the log density is finite")


def check_step_size(step_size, name: str = "step_size") -> None:
    """``step_size`` (a float or a per-chain tensor) must be finite and > 0."""
    if isinstance(step_size, torch.Tensor):
        ok = bool(torch.isfinite(step_size).all()) and bool((step_size > 0).all())
        shown = step_size if step_size.numel() <= 4 else f"tensor with min {step_size.min()}"
    else:
        ok = isinstance(step_size, (int, float)) and step_size > 0 and math.isfinite(step_size)
        shown = step_size
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {shown}")


def from_energy(energy_fn: LogDensityFn, *, temperature: float = 1.0) -> LogDensityFn:
    """Turn an energy ``E(x)`` (``p ∝ exp(−E/T)``) into a log density ``−E(x)/T``."""
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")

    def logdensity_fn(x: torch.Tensor) -> torch.Tensor:
        return -energy_fn(x) / temperature

    return logdensity_fn


def sample_chain(
    algorithm: SamplingAlgorithm,
    state: Any,
    n_steps: int,
    *,
    generator: torch.Generator,
    thin: int = 1,
    progress: bool = False,
) -> tuple[Any, torch.Tensor, list[Any]]:
    """Run ``n_steps`` kernel steps from ``state`` and keep every ``thin``-th position.

    Returns
    -------
    state : the final state.
    positions : tensor ``(n_steps // thin, B, ...)`` — draws in (draw, chain, ...) order.
    infos : list of the ``Info`` tuples of every step.
    """
    from reprlab.utils import progress_bar

    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    if thin < 1:
        raise ValueError(f"thin must be >= 1, got {thin}")
    kept, infos = [], []
    for t in progress_bar(range(n_steps), enabled=progress, desc="sampling"):
        state, info = algorithm.step(generator, state)
        infos.append(info)
        if (t + 1) % thin == 0:
            kept.append(state.position.clone())
    shape = (0, *state.position.shape)
    positions = torch.stack(kept) if kept else state.position.new_empty(shape)
    return state, positions, infos
