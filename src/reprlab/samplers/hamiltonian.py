"""Hamiltonian Monte Carlo with a leapfrog integrator and a Metropolis–Hastings correction.

With momentum ``r ~ N(0, M)`` (``M⁻¹ = inverse_mass_matrix``: a float, a diagonal ``(d,)``
or a dense ``(d, d)`` matrix, see :mod:`reprlab.samplers.metrics`) and Hamiltonian
``H(x, r) = −log p(x) + ½ rᵀM⁻¹r``, ``L`` leapfrog steps of size ``ε``::

    r ← r + ε/2 ∇log p(x);  x ← x + ε M⁻¹ r;  r ← r + ε/2 ∇log p(x)

and the end point is accepted with probability ``min(1, exp(H_0 − H_L))`` (Neal, 2011).
The gradient at the current point is cached in the state, so one HMC step costs ``L``
gradient evaluations per chain.

Jitter (optional, drawn per chain and per step from the explicit generator):
``step_size_jitter = j`` draws ``ε_i = ε·(1 + j·u)``, ``u ~ U(−1, 1)`` (Stan's
``stepsize_jitter``); ``trajectory_jitter=True`` draws ``L_i = ⌈2·u·L⌉``, ``u ~ U(0, 1)``
(BlackJAX ``dynamic_hmc`` with a uniform instead of a Halton sequence), mean ≈ ``L``. Both
keep the kernel exact (a mixture of exact kernels) and break the periodicity that makes
fixed-length HMC fail on Gaussians. Gradient evaluations are counted per chain
(``n_grad_evals`` is a ``(B,)`` tensor), so jittered lengths are counted exactly.

Examples
--------
>>> import torch
>>> from reprlab.samplers import hmc, sample_chain
>>> algo = hmc(lambda x: -0.5 * (x ** 2).sum(-1), step_size=0.3, num_integration_steps=5)
>>> state = algo.init(torch.zeros(4, 2))
>>> state, draws, _ = sample_chain(algo, state, 3, generator=torch.Generator().manual_seed(0))
>>> state.n_grad_evals.tolist()
[16, 16, 16, 16]
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from reprlab.samplers.base import (
    LogDensityFn,
    SamplingAlgorithm,
    check_initial_state,
    check_step_size,
    logdensity_and_grad,
)
from reprlab.samplers.metrics import EuclideanMetric, gaussian_euclidean, metric_cache

__all__ = ["HMCState", "HMCInfo", "init", "leapfrog", "build_kernel", "hmc",
           "per_chain_step_size"]


class HMCState(NamedTuple):
    """Position ``(B, ...)``, log density ``(B,)``, its gradient, cumulative gradient
    evaluations per chain ``(B,)`` (int64)."""

    position: torch.Tensor
    logdensity: torch.Tensor
    logdensity_grad: torch.Tensor
    n_grad_evals: torch.Tensor


class HMCInfo(NamedTuple):
    """Acceptance probability and decision ``(B,)``, energy error ``H_L − H_0`` ``(B,)``,
    gradient evaluations per chain spent by the step ``(B,)`` (``L_i``), divergence flags
    ``(B,)`` (energy error above 1000 or not finite)."""

    acceptance_rate: torch.Tensor
    is_accepted: torch.Tensor
    energy_error: torch.Tensor
    n_grad_evals: torch.Tensor
    is_divergent: torch.Tensor


def init(position: torch.Tensor, logdensity_fn: LogDensityFn) -> HMCState:
    """Evaluate log density and gradient at ``position`` (one gradient evaluation); raises
    ``ValueError`` on NaN/infinite positions or log densities."""
    logp, grad = logdensity_and_grad(logdensity_fn, position)
    check_initial_state(position, logp)
    n = torch.ones(position.shape[0], dtype=torch.long, device=position.device)
    return HMCState(position.detach(), logp, grad, n)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-chain ``(B,)`` tensor shaped to broadcast against ``like`` ``(B, ...)``."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def per_chain_step_size(step_size, jitter: float, generator: torch.Generator,
                        like: torch.Tensor) -> torch.Tensor:
    """Step sizes ``(B,)``: ``step_size`` (float or ``(B,)``) times ``1 + jitter·U(−1, 1)``."""
    eps = torch.as_tensor(step_size, dtype=like.dtype, device=like.device)
    eps = eps.expand(like.shape[0]).clone() if eps.dim() == 0 else eps
    if eps.shape != like.shape[:1]:
        raise ValueError(f"step_size must be a float or have shape ({like.shape[0]},) (one per "
                         f"chain), got shape {tuple(eps.shape)}")
    if jitter > 0:
        u = torch.rand(like.shape[0], generator=generator, dtype=like.dtype, device=like.device)
        eps = eps * (1 + jitter * (2 * u - 1))
    return eps


def _check_jitter(step_size_jitter: float) -> None:
    if not 0 <= step_size_jitter < 1:
        raise ValueError(f"step_size_jitter must be in [0, 1), got {step_size_jitter}")


def _leapfrog_rows(logdensity_fn, x, r, g, eps, velocity, rows=None):
    """One leapfrog step on all chains (``rows`` None) or on the chains indexed by ``rows``;
    returns full-size ``(x, r, logp or None, g)`` with the other rows untouched (and their
    log density as NaN placeholders the caller must not read)."""
    if rows is None:
        e = _bcast(eps, x)
        r1 = r + 0.5 * e * g
        x1 = x + e * velocity(r1)
        logp, g1 = logdensity_and_grad(logdensity_fn, x1)
        return x1, r1 + 0.5 * e * g1, logp, g1
    xs, rs, gs, e = x[rows], r[rows], g[rows], _bcast(eps[rows], x[rows])
    rs = rs + 0.5 * e * gs
    xs = xs + e * velocity(rs)
    lps, gs = logdensity_and_grad(logdensity_fn, xs)
    rs = rs + 0.5 * e * gs
    x, r, g = x.clone(), r.clone(), g.clone()
    x[rows], r[rows], g[rows] = xs, rs, gs
    logp = torch.full(x.shape[:1], float("nan"), dtype=lps.dtype, device=x.device)
    logp[rows] = lps
    return x, r, logp, g


def leapfrog(
    logdensity_fn: LogDensityFn,
    position: torch.Tensor,
    momentum: torch.Tensor,
    grad: torch.Tensor,
    *,
    step_size: float | torch.Tensor,
    num_steps: int | torch.Tensor,
    inverse_mass_matrix: torch.Tensor | float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leapfrog steps; returns ``(position, momentum, logdensity, grad)`` at the end.

    ``step_size`` and ``num_steps`` are shared (numbers) or per chain (``(B,)`` tensors);
    a chain with ``num_steps[i]`` steps stops there while the others go on. Costs
    ``num_steps[i]`` gradient evaluations for chain ``i`` (``grad`` at the start is given).
    """
    x, r, g = position, momentum, grad
    b = x.shape[0]
    metric = gaussian_euclidean(inverse_mass_matrix, x[0].numel(), dtype=x.dtype,
                                device=x.device)
    eps = torch.as_tensor(step_size, dtype=x.dtype, device=x.device).expand(b)
    steps = torch.as_tensor(num_steps, device=x.device).expand(b)
    logp = torch.full((b,), float("nan"), dtype=x.dtype, device=x.device)
    for t in range(int(steps.max())):
        active = steps > t
        rows = None if bool(active.all()) else active.nonzero().squeeze(1)
        x, r, lp, g = _leapfrog_rows(logdensity_fn, x, r, g, eps, metric.velocity, rows)
        logp = lp if rows is None else torch.where(active, lp, logp)
    return x, r, logp, g


def _trajectory_lengths(num_integration_steps: int, jitter: bool, generator, like):
    b = like.shape[0]
    if not jitter:
        return torch.full((b,), num_integration_steps, dtype=torch.long, device=like.device)
    u = torch.rand(b, generator=generator, dtype=torch.float64, device=like.device)
    return (2 * u * num_integration_steps).ceil().long().clamp(min=1)


def build_kernel():
    """HMC kernel ``kernel(generator, state, logdensity_fn, step_size, inverse_mass_matrix,
    num_integration_steps, *, step_size_jitter=0.0, trajectory_jitter=False)`` (the argument
    order of BlackJAX's HMC kernel, which :func:`reprlab.samplers.window_adaptation` calls)."""

    @torch.no_grad()
    def kernel(
        generator: torch.Generator,
        state: HMCState,
        logdensity_fn: LogDensityFn,
        step_size: float | torch.Tensor,
        inverse_mass_matrix: torch.Tensor | float,
        num_integration_steps: int,
        *,
        step_size_jitter: float = 0.0,
        trajectory_jitter: bool = False,
        metric: EuclideanMetric | None = None,
    ) -> tuple[HMCState, HMCInfo]:
        check_step_size(step_size)
        _check_jitter(step_size_jitter)
        if not (isinstance(num_integration_steps, int) and num_integration_steps >= 1):
            raise ValueError(f"num_integration_steps must be an int >= 1, got "
                             f"{num_integration_steps!r}")
        x = state.position
        if metric is None:
            metric = gaussian_euclidean(inverse_mass_matrix, x[0].numel(), dtype=x.dtype,
                                        device=x.device)
        eps = per_chain_step_size(step_size, step_size_jitter, generator, x)
        lengths = _trajectory_lengths(num_integration_steps, trajectory_jitter, generator, x)
        r0 = metric.sample_momentum(generator, x)
        xl, rl, g = x, r0, state.logdensity_grad
        logp_l = state.logdensity
        for t in range(int(lengths.max())):
            active = lengths > t
            rows = None if bool(active.all()) else active.nonzero().squeeze(1)
            xl, rl, lp, g = _leapfrog_rows(logdensity_fn, xl, rl, g, eps, metric.velocity,
                                           rows)
            logp_l = lp if rows is None else torch.where(active, lp, logp_l)
        h0 = -state.logdensity + metric.kinetic_energy(r0)
        hl = -logp_l + metric.kinetic_energy(rl)
        # divergent trajectories give NaN/Inf energy: they are rejected
        delta = torch.nan_to_num(hl - h0, nan=torch.inf, posinf=torch.inf)
        accept_prob = (-delta).clamp(max=0.0).exp()
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        accepted = u < accept_prob
        m = _bcast(accepted, x)
        new = HMCState(
            torch.where(m, xl, x),
            torch.where(accepted, logp_l, state.logdensity),
            torch.where(m, g, state.logdensity_grad),
            state.n_grad_evals + lengths,
        )
        return new, HMCInfo(accept_prob, accepted, delta, lengths, delta > 1000)

    return kernel


class hmc:  # noqa: N801 — BlackJAX's spelling: a class whose call builds the algorithm
    """HMC as a :class:`SamplingAlgorithm`: ``hmc(logdensity_fn, step_size=…,
    num_integration_steps=…, inverse_mass_matrix=1.0, step_size_jitter=0.0,
    trajectory_jitter=False)``; ``hmc.init`` / ``hmc.build_kernel`` are the raw pieces."""

    init = staticmethod(init)
    build_kernel = staticmethod(build_kernel)

    def __new__(  # type: ignore[misc]
        cls,
        logdensity_fn: LogDensityFn,
        *,
        step_size: float | torch.Tensor,
        num_integration_steps: int,
        inverse_mass_matrix: torch.Tensor | float = 1.0,
        step_size_jitter: float = 0.0,
        trajectory_jitter: bool = False,
    ) -> SamplingAlgorithm:
        check_step_size(step_size)
        _check_jitter(step_size_jitter)
        if not (isinstance(num_integration_steps, int) and num_integration_steps >= 1):
            raise ValueError(f"num_integration_steps must be an int >= 1, got "
                             f"{num_integration_steps!r}")
        kernel = build_kernel()
        metric_for = metric_cache(inverse_mass_matrix)

        def init_fn(position: torch.Tensor) -> HMCState:
            return init(position, logdensity_fn)

        def step_fn(generator: torch.Generator, state: HMCState):
            return kernel(generator, state, logdensity_fn, step_size, inverse_mass_matrix,
                          num_integration_steps, step_size_jitter=step_size_jitter,
                          trajectory_jitter=trajectory_jitter, metric=metric_for(state.position))

        return SamplingAlgorithm(init_fn, step_fn)

