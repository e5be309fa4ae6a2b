"""The shared sampler contract (BlackJAX ``base.py``) and gradient helpers.

Every kernel in :mod:`reprlab.samplers` works on a *batch of chains*: a position is a tensor
of shape ``(B, ...)`` and ``logdensity_fn`` maps it to log densities of shape ``(B,)``.
Randomness comes only from an explicit ``torch.Generator``. A *gradient evaluation* is one
evaluation of ``∇ log p`` for every chain of the batch (one batched autograd call), so the
counters below are per chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

__all__ = [
    "SamplingAlgorithm",
    "LogDensityFn",
    "logdensity_and_grad",
    "from_energy",
    "sample_chain",
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
    Counts as one gradient evaluation per chain.
    """
    with torch.enable_grad():
        x = position.detach().requires_grad_(True)
        logp = logdensity_fn(x)
        if logp.shape != x.shape[:1]:
            raise ValueError(
                f"logdensity_fn must return shape (B,) = {tuple(x.shape[:1])} for a position "
                f"of shape {tuple(x.shape)}, got {tuple(logp.shape)}"
            )
        (grad,) = torch.autograd.grad(logp.sum(), x)
    return logp.detach(), grad.detach()


def from_energy(energy_fn: LogDensityFn, *, temperature: float = 1.0) -> LogDensityFn:
    """Turn an energy ``E(x)`` (``p ∝ exp(−E/T)``) into a log density ``−E(x)/T``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

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
