"""The Euclidean metric of HMC and NUTS: momentum law, kinetic energy, velocity, U-turn test.

With a positive-definite inverse mass matrix ``M⁻¹`` (a vector ``(d,)`` for a diagonal
metric, a matrix ``(d, d)`` for a dense one) the momentum is ``r ~ N(0, M)``, the kinetic
energy ``K(r) = ½ rᵀ M⁻¹ r`` and the velocity ``dx/dt = M⁻¹ r`` (BlackJAX
``metrics.gaussian_euclidean``). Positions of any event shape are flattened to ``(B, d)``.
The generalized U-turn criterion (Betancourt, 2017) on a trajectory with ends ``r⁻, r⁺``
and momentum sum ``ρ`` says the trajectory turns when ``(M⁻¹r⁻)·ρ ≤ 0`` or ``(M⁻¹r⁺)·ρ ≤ 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = ["EuclideanMetric", "gaussian_euclidean", "check_inverse_mass_matrix",
           "metric_cache"]


class EuclideanMetric(NamedTuple):
    """``sample_momentum(generator, like)``, ``kinetic_energy(r)``, ``velocity(r)``,
    ``is_turning(r_left, r_right, r_sum)`` for momenta of shape ``(B, ...)``."""

    sample_momentum: Callable[[torch.Generator, torch.Tensor], torch.Tensor]
    kinetic_energy: Callable[[torch.Tensor], torch.Tensor]
    velocity: Callable[[torch.Tensor], torch.Tensor]
    is_turning: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    inverse_mass_matrix: torch.Tensor


def check_inverse_mass_matrix(inverse_mass_matrix, dim: int, *, dtype: torch.dtype,
                              device: torch.device) -> torch.Tensor:
    """``inverse_mass_matrix`` as a tensor: a float (times the identity), ``(d,)`` positive
    entries or ``(d, d)`` symmetric positive definite; ``ValueError`` otherwise."""
    imm = torch.as_tensor(inverse_mass_matrix, dtype=dtype, device=device)
    if imm.dim() == 0:
        imm = imm.expand(dim).clone()
    if imm.shape not in ((dim,), (dim, dim)):
        raise ValueError(f"inverse_mass_matrix must have shape ({dim},) or ({dim}, {dim}) for "
                         f"a position with {dim} features per chain, got {tuple(imm.shape)}")
    if not bool(torch.isfinite(imm).all()):
        raise ValueError("inverse_mass_matrix has NaN or infinite entries")
    if imm.dim() == 1:
        if not bool((imm > 0).all()):
            raise ValueError(f"a diagonal inverse_mass_matrix must be > 0, got min "
                             f"{float(imm.min()):.3g}")
    else:
        if not torch.allclose(imm, imm.T, rtol=1e-5, atol=1e-8 * float(imm.abs().max())):
            raise ValueError("a dense inverse_mass_matrix must be symmetric")
        _, info = torch.linalg.cholesky_ex(imm)
        if int(info) != 0:
            raise ValueError("a dense inverse_mass_matrix must be positive definite "
                             "(its Cholesky factorisation failed)")
    return imm


def gaussian_euclidean(inverse_mass_matrix, dim: int, *, dtype: torch.dtype = torch.float32,
                       device: torch.device | str = "cpu") -> EuclideanMetric:
    """The Gaussian Euclidean metric for ``inverse_mass_matrix`` (see module docstring)."""
    imm = check_inverse_mass_matrix(inverse_mass_matrix, dim, dtype=dtype,
                                    device=torch.device(device))
    if imm.dim() == 1:
        inv_sqrt = imm.rsqrt()

        def velocity(r: torch.Tensor) -> torch.Tensor:
            return (r.flatten(1) * imm).view_as(r)

        def sample_momentum(generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
            z = torch.randn(like.shape, generator=generator, dtype=like.dtype,
                            device=like.device)
            return (z.flatten(1) * inv_sqrt).view_as(like)  # r ~ N(0, diag(1/imm))
    else:
        chol = torch.linalg.cholesky(imm)  # M⁻¹ = L Lᵀ, so M = L⁻ᵀ L⁻¹

        def velocity(r: torch.Tensor) -> torch.Tensor:
            return (r.flatten(1) @ imm).view_as(r)  # imm is symmetric

        def sample_momentum(generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
            z = torch.randn(like.flatten(1).shape, generator=generator, dtype=like.dtype,
                            device=like.device)
            # r = L⁻ᵀ z has covariance L⁻ᵀ L⁻¹ = M; solve Lᵀ r = z row-wise
            r = torch.linalg.solve_triangular(chol.T, z.T, upper=True).T
            return r.reshape(like.shape)

    def kinetic_energy(r: torch.Tensor) -> torch.Tensor:
        return 0.5 * (r.flatten(1) * velocity(r).flatten(1)).sum(1)

    def is_turning(r_left: torch.Tensor, r_right: torch.Tensor,
                   r_sum: torch.Tensor) -> torch.Tensor:
        rho = r_sum.flatten(1)
        left = (velocity(r_left).flatten(1) * rho).sum(1)
        right = (velocity(r_right).flatten(1) * rho).sum(1)
        return (left <= 0) | (right <= 0)

    return EuclideanMetric(sample_momentum, kinetic_energy, velocity, is_turning, imm)


def _dim(position: torch.Tensor) -> int:
    return int(math.prod(position.shape[1:]))


def metric_cache(inverse_mass_matrix) -> Callable[[torch.Tensor], EuclideanMetric]:
    """``metric_for(position)``: the metric of ``inverse_mass_matrix`` for positions like
    ``position``, validated and factorised once per (size, dtype, device) — a sampler's
    ``step`` calls it every step."""
    cache: dict = {}

    def metric_for(x: torch.Tensor) -> EuclideanMetric:
        key = (x[0].numel(), x.dtype, x.device)
        if key not in cache:
            cache.clear()
            cache[key] = gaussian_euclidean(inverse_mass_matrix, key[0], dtype=x.dtype,
                                            device=x.device)
        return cache[key]

    return metric_for
