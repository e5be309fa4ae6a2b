"""Step-size adaptation by dual averaging to a target acceptance (Hoffman & Gelman, 2014, §3.2).

After warm-up iteration ``t`` with mean acceptance ``a_t`` (over the batch of chains)::

    H̄_t = (1 − 1/(t+t0)) H̄_{t−1} + (δ − a_t)/(t+t0)
    log ε_t = μ − √t/γ · H̄_t;   log ε̄_t = t^{−κ} log ε_t + (1 − t^{−κ}) log ε̄_{t−1}

with ``μ = log(10 ε_0)``, ``γ = 0.05``, ``t0 = 10``, ``κ = 0.75`` (the paper's and Stan's
defaults). The tuned step size is ``ε̄`` at the end of warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from reprlab.samplers.base import SamplingAlgorithm

__all__ = [
    "DualAveragingState",
    "dual_averaging_init",
    "dual_averaging_update",
    "adapt_step_size",
]


class DualAveragingState(NamedTuple):
    log_step_size: float
    log_step_size_avg: float
    step: int
    avg_error: float
    mu: float


def dual_averaging_init(step_size: float) -> DualAveragingState:
    """Start the averaging at ``step_size`` (``μ = log(10 ε0)``)."""
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    return DualAveragingState(math.log(step_size), 0.0, 0, 0.0, math.log(10 * step_size))


def dual_averaging_update(
    state: DualAveragingState,
    acceptance: float,
    *,
    target: float = 0.8,
    gamma: float = 0.05,
    t0: float = 10.0,
    kappa: float = 0.75,
) -> DualAveragingState:
    """One dual-averaging update from the observed mean ``acceptance`` in [0, 1]."""
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    acceptance = 0.0 if math.isnan(acceptance) else min(max(acceptance, 0.0), 1.0)
    t = state.step + 1
    w = 1.0 / (t + t0)
    avg_error = (1 - w) * state.avg_error + w * (target - acceptance)
    log_eps = state.mu - math.sqrt(t) / gamma * avg_error
    eta = t ** (-kappa)
    log_avg = eta * log_eps + (1 - eta) * state.log_step_size_avg
    return DualAveragingState(log_eps, log_avg, t, avg_error, state.mu)


def adapt_step_size(
    make_algorithm: Callable[[float], SamplingAlgorithm],
    state: Any,
    n_steps: int,
    *,
    generator: torch.Generator,
    initial_step_size: float,
    target: float = 0.8,
) -> tuple[Any, float, int]:
    """Warm up ``n_steps`` with dual averaging; ``make_algorithm(step_size)`` builds the
    sampler (its state type must not depend on the step size, as for MALA and HMC).

    Returns the warmed-up state, the tuned step size ``ε̄`` and the gradient evaluations per
    chain spent in warm-up.
    """
    da = dual_averaging_init(initial_step_size)
    n_grad = 0
    for _ in range(n_steps):
        algo = make_algorithm(math.exp(da.log_step_size))
        state, info = algo.step(generator, state)
        n_grad += int(info.n_grad_evals)
        da = dual_averaging_update(da, float(info.acceptance_rate.mean()), target=target)
    step = math.exp(da.log_step_size_avg) if n_steps > 0 else initial_step_size
    return state, step, n_grad
