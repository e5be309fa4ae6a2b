"""Step-size adaptation by dual averaging, and Stan's window adaptation of step size and mass.

Dual averaging to a target acceptance (Hoffman & Gelman, 2014, §3.2).

After warm-up iteration ``t`` with mean acceptance ``a_t`` (over the batch of chains)::

    H̄_t = (1 − 1/(t+t0)) H̄_{t−1} + (δ − a_t)/(t+t0)
    log ε_t = μ − √t/γ · H̄_t;   log ε̄_t = t^{−κ} log ε_t + (1 − t^{−κ}) log ε̄_{t−1}

with ``μ = log(10 ε_0)``, ``γ = 0.05``, ``t0 = 10``, ``κ = 0.75`` (the paper's and Stan's
defaults). The tuned step size is ``ε̄`` at the end of warm-up.

:func:`window_adaptation` (BlackJAX's API) adds Stan's schedule of slow windows estimating
the inverse mass matrix (diagonal or dense) between fast step-size intervals.
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
    "AdaptationResults",
    "AdaptationInfo",
    "AdaptationAlgorithm",
    "build_schedule",
    "window_adaptation",
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
    chain spent in warm-up (the largest over chains when they differ). For a mass matrix as
    well, use :func:`window_adaptation`.
    """
    da = dual_averaging_init(initial_step_size)
    n_grad = 0
    for _ in range(n_steps):
        algo = make_algorithm(math.exp(da.log_step_size))
        state, info = algo.step(generator, state)
        n_grad += int(torch.as_tensor(info.n_grad_evals).max())
        da = dual_averaging_update(da, float(info.acceptance_rate.mean()), target=target)
    step = math.exp(da.log_step_size_avg) if n_steps > 0 else initial_step_size
    return state, step, n_grad


# -- Stan's window adaptation (BlackJAX ``window_adaptation``) ------------------------------


class AdaptationResults(NamedTuple):
    """The warmed-up chain state and the tuned parameters (``step_size``,
    ``inverse_mass_matrix`` and the extra parameters), ready for ``algorithm(logp, **p)``."""

    state: Any
    parameters: dict


class AdaptationInfo(NamedTuple):
    """Per warm-up step: the step size used ``(n,)``, the mean acceptance over chains
    ``(n,)``; and the gradient evaluations per chain spent in warm-up ``(B,)``."""

    step_size: torch.Tensor
    acceptance_rate: torch.Tensor
    n_grad_evals: torch.Tensor


class AdaptationAlgorithm(NamedTuple):
    """``run(position, num_steps=1000, *, generator) -> (AdaptationResults, AdaptationInfo)``."""

    run: Callable[..., tuple[AdaptationResults, AdaptationInfo]]


def build_schedule(num_steps: int, initial_buffer_size: int = 75, final_buffer_size: int = 50,
                   first_window_size: int = 25) -> list[tuple[int, bool]]:
    """Stan's warm-up schedule: ``(stage, is_window_end)`` per step, stage 0 = fast (step
    size only), 1 = slow (mass matrix too), ``is_window_end`` at the end of each slow window.

    An initial fast buffer (75), slow windows doubling from 25 (the last one stretched to the
    final buffer), a final fast buffer (50); under 20 steps everything is fast, and when the
    three defaults do not fit they become 15 % / 75 % / 10 % of ``num_steps`` (BlackJAX's
    ``build_schedule``, which follows Stan's).
    """
    if not (isinstance(num_steps, int) and num_steps >= 0):
        raise ValueError(f"num_steps must be an int >= 0, got {num_steps!r}")
    if num_steps < 20:
        return [(0, False)] * num_steps
    if initial_buffer_size + first_window_size + final_buffer_size > num_steps:
        initial_buffer_size = int(0.15 * num_steps)
        final_buffer_size = int(0.1 * num_steps)
        first_window_size = num_steps - initial_buffer_size - final_buffer_size
    schedule = [(0, False)] * initial_buffer_size
    final_start = num_steps - final_buffer_size
    size, start = first_window_size, initial_buffer_size
    while start < final_start:
        cur = size
        if 3 * cur <= final_start - start:
            size = 2 * cur
        else:
            cur = final_start - start
        schedule += [(1, False)] * (cur - 1) + [(1, True)]
        start += cur
    schedule += [(0, False)] * (num_steps - final_start)
    return schedule


class _Moments:
    """Running sums (float64) of positions pooled over chains, for the covariance."""

    def __init__(self, dim: int, dense: bool, device) -> None:
        self.n = 0
        self.s1 = torch.zeros(dim, dtype=torch.float64, device=device)
        self.s2 = torch.zeros((dim, dim) if dense else (dim,), dtype=torch.float64,
                              device=device)
        self.dense = dense

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().flatten(1).double()
        self.n += x.shape[0]
        self.s1 += x.sum(0)
        self.s2 += x.T @ x if self.dense else (x * x).sum(0)

    def regularised(self) -> torch.Tensor:
        """Stan's ``n/(n+5)·Σ + 1e-3·5/(n+5)·I`` from the pooled sample covariance."""
        n = self.n
        mean = self.s1 / n
        if self.dense:
            cov = (self.s2 - n * torch.outer(mean, mean)) / (n - 1)
            cov = 0.5 * (cov + cov.T)
            eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
            return (n / (n + 5)) * cov + 1e-3 * (5 / (n + 5)) * eye
        var = ((self.s2 - n * mean**2) / (n - 1)).clamp(min=0.0)
        return (n / (n + 5)) * var + 1e-3 * (5 / (n + 5))


def window_adaptation(
    algorithm: Any,
    logdensity_fn: Callable,
    *,
    is_mass_matrix_diagonal: bool = True,
    initial_step_size: float = 1.0,
    target_acceptance_rate: float = 0.8,
    progress: bool = False,
    **extra_parameters: Any,
) -> AdaptationAlgorithm:
    """Stan's warm-up of step size and inverse mass matrix, over a batch of chains.

    Mirrors BlackJAX's ``window_adaptation``: ``algorithm`` is :class:`~reprlab.samplers.nuts`
    or :class:`~reprlab.samplers.hmc` (anything with ``init`` and ``build_kernel`` whose kernel
    is ``kernel(generator, state, logdensity_fn, step_size, inverse_mass_matrix, **extra)``);
    ``extra_parameters`` go to every kernel call and into the returned parameters (e.g.
    ``num_integration_steps=`` for HMC, ``step_size_jitter=``, ``trajectory_jitter=``).

    Schedule (:func:`build_schedule`): a fast interval adapting the step size by dual
    averaging, slow doubling windows that also estimate the (diagonal or dense) covariance of
    the positions, which at each window's end becomes the inverse mass matrix, regularised
    toward the identity as Stan does (``n/(n+5)·Σ + 1e-3·5/(n+5)·I``), with dual averaging
    restarted from the averaged step size; then a final fast interval. The final step size is
    the dual-averaged one. Deviations from BlackJAX (one chain per run): the batch of chains
    shares one step size, adapted to the *mean* acceptance over chains, and the covariance is
    estimated from all chains' draws pooled (``n`` = window length × chains).

    Examples
    --------
    >>> import torch
    >>> from reprlab.samplers import nuts, window_adaptation
    >>> logp = lambda x: -0.5 * (x ** 2 / torch.tensor([0.1, 10.0]) ** 2).sum(1)
    >>> warmup = window_adaptation(nuts, logp)
    >>> g = torch.Generator().manual_seed(0)
    >>> (state, params), info = warmup.run(torch.randn(8, 2, generator=g), 200, generator=g)
    >>> sorted(params), bool(params["inverse_mass_matrix"][1] > params["inverse_mass_matrix"][0])
    (['inverse_mass_matrix', 'step_size'], True)
    """
    if not 0 < target_acceptance_rate < 1:
        raise ValueError(f"target_acceptance_rate must be in (0, 1), got "
                         f"{target_acceptance_rate}")
    if not (initial_step_size > 0 and math.isfinite(initial_step_size)):
        raise ValueError(f"initial_step_size must be a finite number > 0, got "
                         f"{initial_step_size}")
    if not hasattr(algorithm, "build_kernel") or not hasattr(algorithm, "init"):
        raise TypeError(f"algorithm must provide init and build_kernel (reprlab.samplers.nuts "
                        f"or hmc), got {algorithm!r}")
    kernel = algorithm.build_kernel()

    def run(position: torch.Tensor, num_steps: int = 1000, *,
            generator: torch.Generator) -> tuple[AdaptationResults, AdaptationInfo]:
        from reprlab.samplers.metrics import gaussian_euclidean
        from reprlab.utils import progress_bar

        schedule = build_schedule(num_steps)
        state = algorithm.init(position, logdensity_fn)
        x = state.position
        dim = x[0].numel()
        dense = not is_mass_matrix_diagonal
        imm = (torch.eye(dim, dtype=x.dtype, device=x.device) if dense
               else torch.ones(dim, dtype=x.dtype, device=x.device))
        metric = gaussian_euclidean(imm, dim, dtype=x.dtype, device=x.device)
        da = dual_averaging_init(initial_step_size)
        moments = _Moments(dim, dense, x.device)
        n0 = state.n_grad_evals
        steps, accs = [], []
        for stage, window_end in progress_bar(schedule, enabled=progress, desc="warm-up"):
            step_size = math.exp(da.log_step_size)
            state, info = kernel(generator, state, logdensity_fn, step_size, imm,
                                 metric=metric, **extra_parameters)
            acc = float(info.acceptance_rate.mean())
            steps.append(step_size)
            accs.append(acc)
            da = dual_averaging_update(da, acc, target=target_acceptance_rate)
            if stage == 1:
                moments.update(state.position)
            if window_end:
                imm = moments.regularised().to(x.dtype)
                metric = gaussian_euclidean(imm, dim, dtype=x.dtype, device=x.device)
                moments = _Moments(dim, dense, x.device)
                da = dual_averaging_init(math.exp(da.log_step_size_avg))
        final_step = math.exp(da.log_step_size_avg) if num_steps > 0 else initial_step_size
        params = {"step_size": final_step, "inverse_mass_matrix": imm, **extra_parameters}
        info = AdaptationInfo(torch.tensor(steps, dtype=torch.float64),
                              torch.tensor(accs, dtype=torch.float64),
                              state.n_grad_evals - n0)
        return AdaptationResults(state, params), info

    return AdaptationAlgorithm(run)
