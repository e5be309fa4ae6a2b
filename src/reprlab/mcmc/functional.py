"""Pure tensor math of the proposal-entropy neural sampler (Li, Chen & Sommer, arXiv:2010.03587).

Notation (the paper's, with ``U = E = −log p`` the target energy):

* proposal ``x' = x + ε·z``, ``z = f(v; x, ∇U)``, ``v ~ N(0, I)``, ``f`` a stack of affine
  coupling blocks. Block half-step on the coordinates ``m̄`` given the others ``m``::

      v_m̄ ← v_m̄ ⊙ exp(S) − ε/(2K) · (∇U(x + R) ⊙ exp(Q) + T),   (S, Q, T) = V(x, v_m, ∇U)

  with ``log|det ∂v_new/∂v| = Σ m̄ ⊙ S``.
* ``log q(x'|x) = −U_v(v) − log|det ∂z/∂v| − d·log ε − (d/2) log 2π``, ``U_v(v) = ½‖v‖²``.
* reverse move ``x' → x`` uses ``v' = f⁻¹(−z; x')`` so the MH log acceptance is::

      log a = U_v(v) − U_v(v') + U(x) − U(x') + log|det ∂z/∂v| + log|det ∂v'/∂(−z)|

* proposal entropy ``H(q(·|x)) = E_v[U_v(v)] + (d/2) log 2π + E_v[log|det ∂z/∂v|] + d·log ε``;
  the trained surrogate keeps the ``v``-dependent part ``log|det ∂z/∂v| + d·log ε``.
* loss ``L = −E[min(0, log a)] − β·H``; after each step ``β ← β·(1 + ρ·(ā − a*))`` clipped to
  ``[β_min, β_max]`` (official code: ``β0 = β_min = 1e-3``, ``β_max = 1e3``, ``ρ = 0.03``,
  ``a* = 0.9``).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "gaussian_energy",
    "coupling_half_step",
    "log_acceptance",
    "proposal_entropy",
    "entropy_surrogate",
    "langevin_proposal_entropy",
    "entropy_loss",
    "adapt_beta",
]


def gaussian_energy(v: torch.Tensor) -> torch.Tensor:
    """``½‖v‖²`` per row: ``(B, ...) -> (B,)``."""
    return 0.5 * v.pow(2).flatten(1).sum(1)


def coupling_half_step(
    v: torch.Tensor,
    scale: torch.Tensor,
    grad_scale: torch.Tensor,
    shift: torch.Tensor,
    grad: torch.Tensor,
    *,
    mask: torch.Tensor,
    step_size: torch.Tensor | float,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One affine coupling half-step on the coordinates where ``mask`` is 0.

    Forward: ``v_m̄ ← v_m̄·exp(S) − ε'(∇U·exp(Q) + T)``; reverse inverts it. ``S, Q, T`` must
    have been computed from ``v`` restricted to ``mask`` (unchanged by the step), which makes
    the map invertible with a triangular Jacobian.

    Returns
    -------
    v_new : tensor, same shape as ``v``.
    logdet : ``(B,)`` log-determinant of the Jacobian of this step (``−Σ m̄·S`` in reverse).
    """
    keep = mask
    free = 1.0 - mask
    drift = step_size * (grad * grad_scale.exp() + shift)
    if not reverse:
        moved = v * scale.exp() - drift
        logdet = (free * scale).flatten(1).sum(1)
    else:
        moved = (v + drift) * (-scale).exp()
        logdet = -(free * scale).flatten(1).sum(1)
    return keep * v + free * moved, logdet


def log_acceptance(
    *,
    energy_x: torch.Tensor,
    energy_xp: torch.Tensor,
    v: torch.Tensor,
    v_rev: torch.Tensor,
    logdet_fwd: torch.Tensor,
    logdet_rev: torch.Tensor,
) -> torch.Tensor:
    """Metropolis–Hastings ``log a`` of ``x → x'`` (see module docstring), shape ``(B,)``."""
    return (gaussian_energy(v) - gaussian_energy(v_rev) + energy_x - energy_xp
            + logdet_fwd + logdet_rev)


def entropy_surrogate(logdet_fwd: torch.Tensor, log_step_size: torch.Tensor,
                      dim: int) -> torch.Tensor:
    """The trainable part of ``H(q(·|x))``: ``log|det ∂z/∂v| + d·log ε`` per chain."""
    return logdet_fwd + dim * log_step_size


def proposal_entropy(logdet_fwd: torch.Tensor, log_step_size: torch.Tensor | float,
                     dim: int) -> torch.Tensor:
    """Exact entropy ``H(q(·|x))`` estimated with one ``v`` per chain, shape ``(B,)``:
    ``d/2·(1 + log 2π) + log|det ∂z/∂v| + d·log ε`` (``E[½‖v‖²] = d/2``)."""
    return 0.5 * dim * (1.0 + math.log(2 * math.pi)) + logdet_fwd + dim * log_step_size


def langevin_proposal_entropy(step_size: float, dim: int) -> float:
    """Entropy of the Langevin/MALA proposal ``N(x + ε∇log p, 2ε I)``: ``d/2·log(2πe·2ε)``."""
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    return 0.5 * dim * math.log(2 * math.pi * math.e * 2 * step_size)


def entropy_loss(log_a: torch.Tensor, entropy: torch.Tensor, *, beta: float) -> torch.Tensor:
    """``−E[min(0, log a)] − β·E[H]`` (scalar)."""
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return -(log_a.clamp(max=0.0)).mean() - beta * entropy.mean()


def adapt_beta(beta: float, acceptance: float, *, target: float = 0.9, rate: float = 0.03,
               beta_min: float = 1e-3, beta_max: float = 1e3) -> float:
    """``β ← clip(β·(1 + ρ(ā − a*)), β_min, β_max)``: more entropy while acceptance is high."""
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    return float(min(max(beta * (1 + rate * (acceptance - target)), beta_min), beta_max))
