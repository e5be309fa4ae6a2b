"""Unadjusted Langevin (ULA) and the Metropolis-adjusted Langevin algorithm (MALA).

Langevin proposal for ``p ∝ exp(log p)`` with step size ``ε`` and temperature ``T``::

    x' = x + ε ∇log p(x) + sqrt(2 ε T) ξ,     ξ ~ N(0, I)

ULA accepts every proposal (biased for finite ε; stationary law ``≈ p^{1/T}``).
MALA (Roberts & Tweedie, 1996; ``T = 1``) accepts with probability
``min(1, p(x') q(x|x') / (p(x) q(x'|x)))`` where ``q(x'|x) = N(x'; x + ε∇log p(x), 2ε I)``,
which makes ``p`` exactly invariant.

Examples
--------
>>> import torch
>>> from reprlab.samplers import mala, sample_chain
>>> logp = lambda x: -0.5 * (x ** 2).sum(-1)
>>> algo = mala(logp, step_size=0.5)
>>> state = algo.init(torch.zeros(4, 2))
>>> g = torch.Generator().manual_seed(0)
>>> state, draws, infos = sample_chain(algo, state, 10, generator=g)
>>> draws.shape, int(state.n_grad_evals)
(torch.Size([10, 4, 2]), 11)
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from reprlab.samplers.base import LogDensityFn, SamplingAlgorithm, logdensity_and_grad

__all__ = [
    "LangevinState",
    "LangevinInfo",
    "init",
    "build_ula_kernel",
    "build_mala_kernel",
    "ula",
    "mala",
    "langevin_log_q",
]


class LangevinState(NamedTuple):
    """Position ``(B, ...)``, its log density ``(B,)`` and gradient, and the cumulative
    number of gradient evaluations per chain (initialisation included)."""

    position: torch.Tensor
    logdensity: torch.Tensor
    logdensity_grad: torch.Tensor
    n_grad_evals: int


class LangevinInfo(NamedTuple):
    """Per-step diagnostics: acceptance probability and decision ``(B,)``, and the number of
    gradient evaluations per chain spent by this step."""

    acceptance_rate: torch.Tensor
    is_accepted: torch.Tensor
    n_grad_evals: int


def init(position: torch.Tensor, logdensity_fn: LogDensityFn) -> LangevinState:
    """Evaluate the log density and its gradient at ``position`` (one gradient evaluation)."""
    logp, grad = logdensity_and_grad(logdensity_fn, position)
    return LangevinState(position.detach(), logp, grad, 1)


def _check_step(step_size: float) -> None:
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")


def langevin_log_q(
    x_to: torch.Tensor, x_from: torch.Tensor, grad_from: torch.Tensor, *, step_size: float
) -> torch.Tensor:
    """``log N(x_to; x_from + ε∇log p(x_from), 2ε I)`` per chain, up to a constant shared by
    the forward and reverse moves (it cancels in the MH ratio)."""
    diff = x_to - x_from - step_size * grad_from
    return -(diff**2).flatten(1).sum(1) / (4.0 * step_size)


def build_ula_kernel():
    """Unadjusted Langevin kernel ``kernel(generator, state, logdensity_fn, step_size,
    temperature=1.0)``; one gradient evaluation per step."""

    def kernel(
        generator: torch.Generator,
        state: LangevinState,
        logdensity_fn: LogDensityFn,
        step_size: float,
        temperature: float = 1.0,
    ) -> tuple[LangevinState, LangevinInfo]:
        _check_step(step_size)
        x = state.position
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        new = x + step_size * state.logdensity_grad + (2 * step_size * temperature) ** 0.5 * noise
        logp, grad = logdensity_and_grad(logdensity_fn, new)
        ones = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        return (
            LangevinState(new, logp, grad, state.n_grad_evals + 1),
            LangevinInfo(ones, ones.bool(), 1),
        )

    return kernel


def build_mala_kernel():
    """MALA kernel ``kernel(generator, state, logdensity_fn, step_size)``; one gradient
    evaluation per step (the gradient at the current point is cached in the state)."""

    def kernel(
        generator: torch.Generator,
        state: LangevinState,
        logdensity_fn: LogDensityFn,
        step_size: float,
    ) -> tuple[LangevinState, LangevinInfo]:
        _check_step(step_size)
        x = state.position
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        prop = x + step_size * state.logdensity_grad + (2 * step_size) ** 0.5 * noise
        logp_p, grad_p = logdensity_and_grad(logdensity_fn, prop)
        log_fwd = langevin_log_q(prop, x, state.logdensity_grad, step_size=step_size)
        log_rev = langevin_log_q(x, prop, grad_p, step_size=step_size)
        log_a = logp_p + log_rev - state.logdensity - log_fwd
        # NaN (e.g. overflow far in the tails) counts as a rejection
        log_a = torch.nan_to_num(log_a, nan=-torch.inf)
        accept_prob = log_a.clamp(max=0.0).exp()
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        accepted = u < accept_prob
        m = accepted.view(-1, *([1] * (x.dim() - 1)))
        new_state = LangevinState(
            torch.where(m, prop, x),
            torch.where(accepted, logp_p, state.logdensity),
            torch.where(m, grad_p, state.logdensity_grad),
            state.n_grad_evals + 1,
        )
        return new_state, LangevinInfo(accept_prob, accepted, 1)

    return kernel


def ula(logdensity_fn: LogDensityFn, *, step_size: float,
        temperature: float = 1.0) -> SamplingAlgorithm:
    """Unadjusted Langevin as a :class:`SamplingAlgorithm`."""
    _check_step(step_size)
    kernel = build_ula_kernel()

    def init_fn(position: torch.Tensor) -> LangevinState:
        return init(position, logdensity_fn)

    def step_fn(generator: torch.Generator, state: LangevinState):
        return kernel(generator, state, logdensity_fn, step_size, temperature)

    return SamplingAlgorithm(init_fn, step_fn)


def mala(logdensity_fn: LogDensityFn, *, step_size: float) -> SamplingAlgorithm:
    """MALA as a :class:`SamplingAlgorithm`."""
    _check_step(step_size)
    kernel = build_mala_kernel()

    def init_fn(position: torch.Tensor) -> LangevinState:
        return init(position, logdensity_fn)

    def step_fn(generator: torch.Generator, state: LangevinState):
        return kernel(generator, state, logdensity_fn, step_size)

    return SamplingAlgorithm(init_fn, step_fn)
