"""Hamiltonian Monte Carlo with a leapfrog integrator and a Metropolis–Hastings correction.

With momentum ``r ~ N(0, M)`` (``M`` diagonal, given by its inverse ``inverse_mass_matrix``)
and Hamiltonian ``H(x, r) = −log p(x) + ½ rᵀM⁻¹r``, ``L`` leapfrog steps of size ``ε``::

    r ← r + ε/2 ∇log p(x);  x ← x + ε M⁻¹ r;  r ← r + ε/2 ∇log p(x)

and the end point is accepted with probability ``min(1, exp(H_0 − H_L))`` (Neal, 2011).
The gradient at the current point is cached in the state, so one HMC step costs ``L``
gradient evaluations per chain.

Examples
--------
>>> import torch
>>> from reprlab.samplers import hmc, sample_chain
>>> algo = hmc(lambda x: -0.5 * (x ** 2).sum(-1), step_size=0.3, num_integration_steps=5)
>>> state = algo.init(torch.zeros(4, 2))
>>> state, draws, _ = sample_chain(algo, state, 3, generator=torch.Generator().manual_seed(0))
>>> int(state.n_grad_evals)
16
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from reprlab.samplers.base import LogDensityFn, SamplingAlgorithm, logdensity_and_grad

__all__ = ["HMCState", "HMCInfo", "init", "leapfrog", "build_kernel", "hmc"]


class HMCState(NamedTuple):
    """Position ``(B, ...)``, log density ``(B,)``, its gradient, cumulative gradient
    evaluations per chain."""

    position: torch.Tensor
    logdensity: torch.Tensor
    logdensity_grad: torch.Tensor
    n_grad_evals: int


class HMCInfo(NamedTuple):
    """Acceptance probability and decision ``(B,)``, energy error ``H_L − H_0`` ``(B,)``,
    gradient evaluations per chain spent by the step (``L``)."""

    acceptance_rate: torch.Tensor
    is_accepted: torch.Tensor
    energy_error: torch.Tensor
    n_grad_evals: int


def init(position: torch.Tensor, logdensity_fn: LogDensityFn) -> HMCState:
    """Evaluate log density and gradient at ``position`` (one gradient evaluation)."""
    logp, grad = logdensity_and_grad(logdensity_fn, position)
    return HMCState(position.detach(), logp, grad, 1)


def leapfrog(
    logdensity_fn: LogDensityFn,
    position: torch.Tensor,
    momentum: torch.Tensor,
    grad: torch.Tensor,
    *,
    step_size: float,
    num_steps: int,
    inverse_mass_matrix: torch.Tensor | float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``num_steps`` leapfrog steps; returns ``(position, momentum, logdensity, grad)`` at the
    end. Costs ``num_steps`` gradient evaluations (``grad`` at the start is given)."""
    x, r, g = position, momentum, grad
    logp = None
    for _ in range(num_steps):
        r = r + 0.5 * step_size * g
        x = x + step_size * inverse_mass_matrix * r
        logp, g = logdensity_and_grad(logdensity_fn, x)
        r = r + 0.5 * step_size * g
    return x, r, logp, g


def _kinetic(r: torch.Tensor, inverse_mass_matrix: torch.Tensor | float) -> torch.Tensor:
    return 0.5 * (inverse_mass_matrix * r**2).flatten(1).sum(1)


def build_kernel():
    """HMC kernel ``kernel(generator, state, logdensity_fn, step_size, num_integration_steps,
    inverse_mass_matrix=1.0)``."""

    def kernel(
        generator: torch.Generator,
        state: HMCState,
        logdensity_fn: LogDensityFn,
        step_size: float,
        num_integration_steps: int,
        inverse_mass_matrix: torch.Tensor | float = 1.0,
    ) -> tuple[HMCState, HMCInfo]:
        if not step_size > 0:
            raise ValueError(f"step_size must be > 0, got {step_size}")
        if num_integration_steps < 1:
            raise ValueError(f"num_integration_steps must be >= 1, got {num_integration_steps}")
        x = state.position
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        r0 = z / torch.as_tensor(inverse_mass_matrix, dtype=x.dtype).sqrt()  # r ~ N(0, M)
        xl, rl, logp_l, grad_l = leapfrog(
            logdensity_fn, x, r0, state.logdensity_grad, step_size=step_size,
            num_steps=num_integration_steps, inverse_mass_matrix=inverse_mass_matrix,
        )
        h0 = -state.logdensity + _kinetic(r0, inverse_mass_matrix)
        hl = -logp_l + _kinetic(rl, inverse_mass_matrix)
        # divergent trajectories give NaN/Inf energy: they are rejected
        delta = torch.nan_to_num(hl - h0, nan=torch.inf, posinf=torch.inf)
        accept_prob = (-delta).clamp(max=0.0).exp()
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        accepted = u < accept_prob
        m = accepted.view(-1, *([1] * (x.dim() - 1)))
        new = HMCState(
            torch.where(m, xl, x),
            torch.where(accepted, logp_l, state.logdensity),
            torch.where(m, grad_l, state.logdensity_grad),
            state.n_grad_evals + num_integration_steps,
        )
        return new, HMCInfo(accept_prob, accepted, delta, num_integration_steps)

    return kernel


def hmc(
    logdensity_fn: LogDensityFn,
    *,
    step_size: float,
    num_integration_steps: int,
    inverse_mass_matrix: torch.Tensor | float = 1.0,
) -> SamplingAlgorithm:
    """HMC as a :class:`SamplingAlgorithm`."""
    kernel = build_kernel()

    def init_fn(position: torch.Tensor) -> HMCState:
        return init(position, logdensity_fn)

    def step_fn(generator: torch.Generator, state: HMCState):
        return kernel(generator, state, logdensity_fn, step_size, num_integration_steps,
                      inverse_mass_matrix)

    return SamplingAlgorithm(init_fn, step_fn)
