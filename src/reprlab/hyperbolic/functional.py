"""Poincaré-ball math for clipped hyperbolic classifiers (Guo et al., CVPR 2022).

Free tensor functions with keyword-only curvature ``c > 0`` (a float, or a 0-d tensor for a
trainable curvature): the ball has sectional curvature ``−c`` and radius ``1/√c``. Generic
gyrovector operations delegate to ``geoopt`` (``geoopt.manifolds.stereographic.math`` with
``k = −c``); what it lacks — feature clipping, a margin projection, the backward rescaling of
the hyptorch lineage and a batched multinomial logistic regression over all classes at once —
is written here. Every function takes ``dim``, the feature dimension.

The paper's argument: a hybrid HNN maps a Euclidean feature ``x`` to the ball with
``Exp₀ᶜ``; training pushes ``‖Exp₀ᶜ(x)‖`` to the boundary where the Riemannian gradient is
scaled by ``(1 − c‖h‖²)²/4 → 0``, so the backbone stops learning. Clipping
``x ← min(1, r/‖x‖)·x`` keeps ``‖h‖ ≤ tanh(√c·r)/√c`` away from the boundary.

The rescaling itself is what the paper's code lineage does on the backward pass:
hyptorch's ``ToPoincare(riemannian=True)`` (its default) and the first author's HACK code
(which applies it unconditionally) multiply the gradient reaching the ball point ``h`` by
``(1 − c‖h‖²)²/4`` — the inverse metric ``(λᶜ_h)⁻²``, i.e. the Riemannian gradient. Here it is
:func:`riemannian_grad` and the ``riemannian=`` argument of :func:`hyperbolic_embed` and
:func:`clipped_hyperbolic_logits`.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Callable
from typing import Any

import geoopt.manifolds.stereographic.math as gmath
import torch

__all__ = [
    "clip_features",
    "expmap0",
    "logmap0",
    "mobius_add",
    "project",
    "poincare_dist",
    "origin_distance",
    "riemannian_grad",
    "hyperbolic_embed",
    "hyperbolic_mlr",
    "clipped_hyperbolic_logits",
    "class_offsets_and_normals",
    "conformal_factor",
    "check_in_ball",
    "fusion_available",
]

Curvature = float | torch.Tensor

# Margin kept from the boundary by `project`, as a fraction of the radius (claims.md: 1e-5;
# hyptorch/HACK use 1e-3).
BALL_EPS = 1e-5
# Guard added to feature norms before dividing (the paper's / hyptorch's 1e-5).
NORM_EPS = 1e-5
# Denominators that are > 0 inside the ball are clamped here (float32 at the margin).
TINY = 1e-15


# --------------------------------------------------------------------------- validation
def _c_value(c: Curvature, name: str = "c") -> float:
    """The curvature as a float, after checking it is one finite number > 0."""
    if isinstance(c, torch.Tensor):
        if c.numel() != 1:
            raise ValueError(f"curvature {name} must be a scalar, got a tensor of shape "
                             f"{tuple(c.shape)}")
        value = float(c.detach())
    elif isinstance(c, (int, float)) and not isinstance(c, bool):
        value = float(c)
    else:
        raise TypeError(f"curvature {name} must be a float or a 0-d tensor, got {c!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"curvature {name} must be a finite number > 0, got {value}; the "
                         "Poincaré ball of curvature −c needs c > 0")
    return value


def _check_r(r: float | None, *, allow_none: bool = True) -> None:
    if r is None and allow_none:
        return
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not (r > 0 and
                                                                       math.isfinite(r)):
        hint = " or None (no clipping)" if allow_none else ""
        raise ValueError(f"clipping radius r must be a finite number > 0{hint}, got {r!r}")


def _check_dim(x: torch.Tensor, dim: int, name: str = "x") -> int:
    """``dim`` as a non-negative index of ``x``'s dimensions (ValueError when out of range)."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {dim!r}")
    if x.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim={dim} is out of range for {name} of shape {tuple(x.shape)} "
                         f"(expected -{x.dim()} <= dim < {x.dim()})")
    return dim % x.dim()


def _sqrt(c: Curvature) -> Curvature:
    return c.sqrt() if isinstance(c, torch.Tensor) else math.sqrt(c)


def _as_c(c: Curvature, like: torch.Tensor) -> Curvature:
    """A tensor curvature moved to ``like``'s dtype/device; a float unchanged."""
    if isinstance(c, torch.Tensor):
        return c.to(dtype=like.dtype, device=like.device).reshape(())
    return float(c)


def _k(c: Curvature, like: torch.Tensor) -> torch.Tensor:
    """geoopt's signed curvature ``k = −c`` as a tensor matching ``like``."""
    if isinstance(c, torch.Tensor):
        return -c.to(dtype=like.dtype, device=like.device).reshape(())
    return torch.as_tensor(-c, dtype=like.dtype, device=like.device)


def check_in_ball(x: torch.Tensor, *, c: Curvature, dim: int = -1, name: str = "x") -> None:
    """Raise ``ValueError`` unless every point of ``x`` lies strictly inside the ball.

    The ball has radius ``1/√c``; NaN coordinates fail too. Points of Euclidean features must
    be mapped first (:func:`expmap0`, :func:`hyperbolic_embed`).
    """
    cv = _c_value(c)
    dim = _check_dim(x, dim, name)
    if x.numel() == 0:
        return
    norm = x.detach().norm(dim=dim)
    radius = 1.0 / math.sqrt(cv)
    if not bool((norm < radius).all()):
        if bool(torch.isnan(norm).any()):
            raise ValueError(f"{name} contains NaN coordinates")
        raise ValueError(f"{name} has points outside the Poincaré ball of radius 1/√c = "
                         f"{radius:.6g} (largest norm {float(norm.max()):.6g}); map Euclidean "
                         "vectors into the ball with expmap0 or hyperbolic_embed first")


# --------------------------------------------------------------------------- maps
def clip_features(x: torch.Tensor, *, r: float, dim: int = -1) -> torch.Tensor:
    """Feature clipping ``x ← min(1, r/‖x‖)·x`` (the paper's Eq. for the clipped HNN).

    ``‖x‖`` is guarded by ``+1e-5`` so the zero vector passes through unchanged.
    """
    _check_r(r, allow_none=False)
    dim = _check_dim(x, dim)
    norm = x.norm(dim=dim, keepdim=True) + NORM_EPS
    return x * torch.clamp(r / norm, max=1.0)


def project(x: torch.Tensor, *, c: Curvature, eps: float = BALL_EPS,
            dim: int = -1) -> torch.Tensor:
    """Pull points into the open ball of radius ``(1 − eps)/√c`` (no-op inside it)."""
    _c_value(c)
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    dim = _check_dim(x, dim)
    max_norm = (1.0 - eps) / _sqrt(_as_c(c, x))
    norm = x.norm(dim=dim, keepdim=True).clamp_min(TINY)
    return torch.where(norm > max_norm, x / norm * max_norm, x)


def expmap0(u: torch.Tensor, *, c: Curvature, dim: int = -1) -> torch.Tensor:
    """Exponential map at the origin: ``tanh(√c‖u‖)·u/(√c‖u‖)`` (geoopt)."""
    _c_value(c)
    dim = _check_dim(u, dim, "u")
    return gmath.expmap0(u, k=_k(c, u), dim=dim)


def logmap0(y: torch.Tensor, *, c: Curvature, dim: int = -1) -> torch.Tensor:
    """Logarithmic map at the origin, inverse of :func:`expmap0` (geoopt)."""
    check_in_ball(y, c=c, dim=dim, name="y")
    return gmath.logmap0(y, k=_k(c, y), dim=_check_dim(y, dim, "y"))


def mobius_add(x: torch.Tensor, y: torch.Tensor, *, c: Curvature,
               dim: int = -1) -> torch.Tensor:
    """Möbius addition ``x ⊕_c y`` (geoopt); both arguments must lie in the ball."""
    check_in_ball(x, c=c, dim=dim, name="x")
    check_in_ball(y, c=c, dim=dim, name="y")
    return gmath.mobius_add(x, y, k=_k(c, x), dim=_check_dim(x, dim))


def poincare_dist(x: torch.Tensor, y: torch.Tensor, *, c: Curvature, dim: int = -1,
                  keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance ``(2/√c)·artanh(√c‖−x ⊕ y‖)`` (geoopt); points must lie in the ball."""
    check_in_ball(x, c=c, dim=dim, name="x")
    check_in_ball(y, c=c, dim=dim, name="y")
    return gmath.dist(x, y, k=_k(c, x), dim=_check_dim(x, dim), keepdim=keepdim)


def origin_distance(x: torch.Tensor, *, c: Curvature, dim: int = -1,
                    keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance to the origin ``(2/√c)·artanh(√c‖x‖)`` (geoopt ``dist0``).

    A monotone function of ``‖x‖``: for a *clipped* head every feature longer than ``r`` lands
    on the same sphere, so as an OOD score it ties for all of them (use the pre-clip feature
    norm or the logits instead; see ``docs/hyperbolic.md``).
    """
    check_in_ball(x, c=c, dim=dim, name="x")
    return gmath.dist0(x, k=_k(c, x), dim=_check_dim(x, dim), keepdim=keepdim)


def conformal_factor(x: torch.Tensor, *, c: Curvature, dim: int = -1,
                     keepdim: bool = False) -> torch.Tensor:
    """``λᶜ_x = 2/(1 − c‖x‖²)``, the metric's scale at ``x`` (points must lie in the ball)."""
    check_in_ball(x, c=c, dim=dim, name="x")
    cc = _as_c(c, x)
    return 2.0 / (1.0 - cc * x.pow(2).sum(dim=_check_dim(x, dim), keepdim=keepdim)
                  ).clamp_min(TINY)


def riemannian_grad(z: torch.Tensor, *, c: Curvature, dim: int = -1) -> torch.Tensor:
    """Identity on the forward pass; the gradient through it is scaled by ``(1 − c‖z‖²)²/4``.

    The Riemannian gradient of the Poincaré ball, ``(λᶜ_z)⁻²·∇``, as hyptorch's
    ``RiemannianGradient`` applies it after ``ToPoincare`` (there ``c`` is a class attribute
    shared by every instance; here it is per call). The scale is a constant of the backward
    pass: no gradient flows from it into ``c`` or ``z``. Written as
    ``z + (s − 1)·(z − z.detach())`` with ``s`` detached — exactly ``z`` forward (the bracket is
    exactly zero), ``s·∇`` backward — so that ``torch.compile`` fuses it.
    """
    _c_value(c)
    dim = _check_dim(z, dim, "z")
    return _riemannian(z, _as_c(c, z), dim)


def _riemannian(z: torch.Tensor, c: Curvature, dim: int) -> torch.Tensor:
    if isinstance(c, torch.Tensor):
        c = c.detach()
    scale = ((1.0 - c * z.detach().pow(2).sum(dim, keepdim=True)).pow(2) / 4.0)
    return z + (scale - 1.0) * (z - z.detach())


def hyperbolic_embed(x: torch.Tensor, *, c: Curvature, r: float | None = None, dim: int = -1,
                     riemannian: bool = False) -> torch.Tensor:
    """Euclidean features → Poincaré ball: optional clipping, ``Exp₀ᶜ``, margin projection.

    ``r=None`` gives the unclipped baseline HNN; ``riemannian=True`` rescales the gradient on
    the backward pass as hyptorch's ``ToPoincare(riemannian=True)`` (:func:`riemannian_grad`).
    """
    _c_value(c)
    _check_r(r)
    dim = _check_dim(x, dim)
    return _embed(x, _as_c(c, x), r, dim, riemannian)


def _embed(x: torch.Tensor, c: Curvature, r: float | None, dim: int,
           riemannian: bool) -> torch.Tensor:
    """Clip, ``Exp₀ᶜ``, margin projection, (rescale) in plain tensor ops (compiler-friendly)."""
    sqrt_c = _sqrt(c)
    if r is not None:
        x = x * torch.clamp(r / (x.norm(dim=dim, keepdim=True) + NORM_EPS), max=1.0)
    norm = x.norm(dim=dim, keepdim=True).clamp_min(TINY)
    # tanh saturates to exactly 1 in float32, so the margin projection is a clamp of tanh
    z = x * (torch.clamp(torch.tanh(sqrt_c * norm), max=1.0 - BALL_EPS) / (sqrt_c * norm))
    return _riemannian(z, c, dim) if riemannian else z


# --------------------------------------------------------------------------- MLR
def _asinh(t: torch.Tensor) -> torch.Tensor:
    """``asinh`` as ``sign(t)·log1p(|t| + t²/(1 + √(1 + t²)))``: exact to rounding, and built
    from functions that are vectorised (``torch.asinh`` runs scalar code on CPU, ~10× slower
    than ``log1p``)."""
    at = t.abs()
    return torch.copysign(torch.log1p(at + at * at / (1.0 + torch.sqrt(1.0 + at * at))), t)


class _ScaledAsinh(torch.autograd.Function):
    """``s_k·asinh(t)`` for t (N, K), s (K,), with a hand-written backward (the eager path).

    ``asinh(t) = sign(t)·log(|t| + h)``, ``h = √(1 + t²)``, in seven passes over the (N, K)
    logits (``torch.asinh`` runs scalar code on CPU, ~10× slower than ``log``); ``h`` is kept
    so that the backward, ``∂/∂t = g·s/h`` and ``∂/∂s = Σ_n g·asinh(t)``, takes four passes
    where autograd of the same expression takes about twelve. The log form is accurate to one
    rounding of ``1 + |t|`` in absolute terms (≈ 6e-8 in float32): harmless for logits, and
    the backward uses the exact derivative.
    """

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = torch.addcmul(torch.ones((), dtype=t.dtype, device=t.device), t, t).sqrt_()
        y = t.abs().add_(h).log_().copysign_(t)
        ctx.save_for_backward(h, y, s)
        return y * s

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        h, y, s = ctx.saved_tensors
        grad_t = (g * s).div_(h) if ctx.needs_input_grad[0] else None
        grad_s = (g * y).sum(0) if ctx.needs_input_grad[1] else None
        return grad_t, grad_s


def _mlr_logits(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, c: Curvature,
                compiled: bool = False) -> torch.Tensor:
    """Ganea's MLR logits for ``x`` (N, D), ``p``, ``a`` (K, D) from one (N, D+1)×(D+1, K)
    matrix product.

    With ``w = (−p_k) ⊕ x``, Möbius addition gives ``⟨w, a⟩ = (B⟨x, a⟩ − A⟨p, a⟩)/D`` and the
    gyrovector identity ``1 − c‖w‖² = (1 − c‖p‖²)(1 − c‖x‖²)/D`` (``A = 1 − 2c⟨x,p⟩ + c‖x‖²``,
    ``B = 1 − c‖p‖²``, ``D = 1 − 2c⟨x,p⟩ + c²‖p‖²‖x‖²``). ``D`` cancels and the asinh argument
    is *linear* in the inner products:

        t = α(x)·(⟨x, u_k⟩ − (1 + c‖x‖²)·e_k),   α(x) = 2√c/(1 − c‖x‖²),
        u_k = (a_k + 2c⟨p_k,a_k⟩/B_k · p_k)/‖a_k‖,   e_k = ⟨p_k, a_k⟩/(B_k‖a_k‖),

    i.e. ``t = [α·x, α·(1 + c‖x‖²)] @ [u, −e]ᵀ``, and ``logit = (2‖a_k‖/(√c·B_k))·asinh(t)``.
    The head thus costs one matrix product, like ``nn.Linear``, plus an asinh and a scale on
    the (N, K) result (and their derivative on the way back).
    """
    sqrt_c = _sqrt(c)
    p2 = p.pow(2).sum(-1)
    pa = (p * a).sum(-1)
    a_norm = a.norm(dim=-1).clamp_min(TINY)
    b = (1.0 - c * p2).clamp_min(TINY)  # > 0 inside the ball
    u = (a + (2.0 * c * pa / b).unsqueeze(-1) * p) / a_norm.unsqueeze(-1)  # (K, D)
    e = pa / (b * a_norm)  # (K,)
    x2 = x.pow(2).sum(-1, keepdim=True)  # (N, 1)
    alpha = 2.0 * sqrt_c / (1.0 - c * x2).clamp_min(TINY)  # (N, 1), > 0 inside the ball
    t = torch.cat([alpha * x, alpha * (1.0 + c * x2)], -1) @ torch.cat(
        [u, -e.unsqueeze(-1)], -1).t()
    scale = 2.0 * a_norm / (sqrt_c * b)
    if compiled:  # plain ops: the compiler fuses them and derives the backward itself
        return scale * _asinh(t)
    return _ScaledAsinh.apply(t, scale)


def _flatten_features(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``x`` with feature dimension ``dim`` moved last and the rest flattened: (N, D)."""
    moved = x.movedim(dim, -1)
    return moved.reshape(-1, moved.shape[-1]), tuple(moved.shape[:-1])


def _unflatten_logits(logits: torch.Tensor, lead: tuple[int, ...], dim: int) -> torch.Tensor:
    return logits.reshape(*lead, logits.shape[-1]).movedim(-1, dim)


def _check_mlr_shapes(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, dim: int,
                      p_name: str = "p") -> int:
    dim = _check_dim(x, dim)
    if p.dim() != 2 or p.shape != a.shape:
        raise ValueError(f"expected {p_name} and a of shape (K, D); got {p_name} "
                         f"{tuple(p.shape)}, a {tuple(a.shape)}")
    if x.shape[dim] != p.shape[1]:
        raise ValueError(f"x has {x.shape[dim]} features along dim={dim} (shape "
                         f"{tuple(x.shape)}) but {p_name} and a have D={p.shape[1]}; "
                         f"expected x of shape (B, {p.shape[1]}, *) with the features at dim")
    if x.dtype != p.dtype or x.dtype != a.dtype:
        raise ValueError(f"x, {p_name} and a must share one dtype, got {x.dtype}, {p.dtype}, "
                         f"{a.dtype}; convert with .to(dtype)")
    return dim


def hyperbolic_mlr(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, *, c: Curvature,
                   dim: int = -1, fused: bool | None = False) -> torch.Tensor:
    """Hyperbolic multinomial logistic regression logits (Ganea et al. 2018, Eq. 25).

    ``logit_k(x) = (λᶜ_{p_k}‖a_k‖/√c) · asinh(2√c⟨−p_k ⊕ x, a_k⟩ / ((1 − c‖−p_k ⊕ x‖²)‖a_k‖))``

    Computed for all (point, class) pairs from one matrix product (see ``_mlr_logits`` for the
    closed form), never building the (B, K, D) tensor of Möbius sums.

    Parameters
    ----------
    x : Tensor, shape (B, D, *) with the features at ``dim``
        Points in the ball (checked: a point outside raises ``ValueError``).
    p : Tensor, shape (K, D)
        Each class hyperplane's offset, a point in the ball (checked).
    a : Tensor, shape (K, D)
        Each hyperplane's normal, a tangent vector at ``p_k``.
    c : float or 0-d Tensor
        Curvature (> 0).
    dim : int
        The feature dimension of ``x``; the logits put the K classes there.
    fused : bool or None
        Run through ``torch.compile`` (``None``: when a C compiler is present).

    Returns
    -------
    Tensor, the shape of ``x`` with ``D`` replaced by ``K``

    Examples
    --------
    >>> x = torch.randn(4, 3) * 0.1
    >>> hyperbolic_mlr(x, torch.zeros(5, 3), torch.randn(5, 3), c=1.0).shape
    torch.Size([4, 5])
    """
    _c_value(c)
    dim = _check_mlr_shapes(x, p, a, dim)
    check_in_ball(x, c=c, dim=dim, name="x")
    check_in_ball(p, c=c, dim=-1, name="p")
    flat, lead = _flatten_features(x, dim)
    cc = _as_c(c, x)
    if _use_fused(fused):
        logits = _compiled_call(_mlr_logits, flat, p, a, cc, True)
    else:
        logits = _mlr_logits(flat, p, a, cc)
    return _unflatten_logits(logits, lead, dim)


def class_offsets_and_normals(p_tangent: torch.Tensor, a: torch.Tensor, *,
                              c: Curvature) -> tuple[torch.Tensor, torch.Tensor]:
    """MLR hyperplanes from Euclidean parameters (hyptorch's parametrisation).

    ``p = proj(Exp₀ᶜ(p̃))`` on the ball; ``a_p = (1 − c‖p‖²)·a``, the normal given at the
    origin moved to ``p`` by parallel transport (``λ₀/λ_p = 1 − c‖p‖²``).
    """
    _c_value(c)
    if p_tangent.dim() != 2 or p_tangent.shape != a.shape:
        raise ValueError(f"expected p_tangent and a of shape (K, D); got "
                         f"{tuple(p_tangent.shape)}, {tuple(a.shape)}")
    return _hyperplanes(p_tangent, a, _as_c(c, p_tangent))


def _hyperplanes(p_tangent: torch.Tensor, a: torch.Tensor,
                 c: Curvature) -> tuple[torch.Tensor, torch.Tensor]:
    p = _embed(p_tangent, c, None, -1, False)
    return p, a * (1.0 - c * p.pow(2).sum(-1, keepdim=True))


def _ball_factor(n: torch.Tensor, c: Curvature, r: float | None) -> torch.Tensor:
    """``φ(‖x‖)`` with ``proj(Exp₀ᶜ(clip_r(x))) = φ·x``, from the norms ``n`` (.., 1)."""
    sqrt_c = _sqrt(c)
    m = n
    factor = None
    if r is not None:
        factor = torch.clamp(r / (n + NORM_EPS), max=1.0)  # the clipping, min(1, r/‖x‖)
        m = n * factor
    m = m.clamp_min(TINY)
    phi = torch.clamp(torch.tanh(sqrt_c * m), max=1.0 - BALL_EPS) / (sqrt_c * m)
    return phi if factor is None else phi * factor


class _RiemannianGrad(torch.autograd.Function):
    """Identity forward; backward multiplies by the saved per-row scale (eager path)."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scale)
        return z.view_as(z)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (scale,) = ctx.saved_tensors
        return g * scale, None


def _head_logits(x: torch.Tensor, p_tangent: torch.Tensor, a: torch.Tensor, c: Curvature,
                 r: float | None, riemannian: bool, compiled: bool) -> torch.Tensor:
    """The whole clipped head (see :func:`clipped_hyperbolic_logits`) on (N, D) features.

    The same maths as ``_mlr_logits(_embed(x), *_hyperplanes(p̃, a))``, with the norms reused:
    ``z = φ(‖x‖)·x`` and ``p = φ(‖p̃‖)·p̃``; with the transported normal ``a_p = (1 − c‖p‖²)a``
    the class terms simplify to ``u_k = a_k/‖a_k‖ + 2cφ²⟨p̃_k, a_k⟩/(B_k‖a_k‖)·p̃_k``,
    ``e_k = φ⟨p̃_k, a_k⟩/(B_k‖a_k‖)`` and the scale ``2‖a_k‖/√c``.
    """
    sqrt_c = _sqrt(c)
    # class side, (K, D)
    n_p = p_tangent.norm(dim=-1, keepdim=True)
    phi_p = _ball_factor(n_p, c, None)
    b = (1.0 - c * (phi_p * n_p).pow(2)).clamp_min(TINY)  # 1 − c‖p‖² > 0
    pa = (p_tangent * a).sum(-1, keepdim=True)  # ⟨p̃, a⟩
    a_norm = a.norm(dim=-1, keepdim=True).clamp_min(TINY)
    ratio = pa / (b * a_norm)
    u = a / a_norm + (2.0 * c * phi_p.pow(2) * ratio) * p_tangent
    e = phi_p * ratio
    scale = (2.0 / sqrt_c) * a_norm.squeeze(-1)
    # feature side, (N, D)
    n = x.norm(dim=-1, keepdim=True)
    phi = _ball_factor(n, c, r)
    if riemannian:
        z = x * phi
        q = (phi * n).pow(2)
        grad_scale = (1.0 - (c.detach() if isinstance(c, torch.Tensor) else c) * q.detach()
                      ).pow(2) / 4.0
        if compiled:
            z = z + (grad_scale - 1.0) * (z - z.detach())
        else:
            z = _RiemannianGrad.apply(z, grad_scale)
        q = z.pow(2).sum(-1, keepdim=True)  # through z, so every path is rescaled
        alpha = 2.0 * sqrt_c / (1.0 - c * q).clamp_min(TINY)
        left = alpha * z
    else:
        q = (phi * n).pow(2)
        alpha = 2.0 * sqrt_c / (1.0 - c * q).clamp_min(TINY)
        left = x * (alpha * phi)
    t = torch.cat([left, alpha * (1.0 + c * q)], -1) @ torch.cat([u, -e], -1).t()
    if compiled:
        return scale * _asinh(t)
    return _ScaledAsinh.apply(t, scale)


# --------------------------------------------------------------------------- fusion
_compiled: dict[str, Callable[..., torch.Tensor]] = {}
_compile_failed = False


def fusion_available() -> bool:
    """Whether the fused (``torch.compile``) path can run here: a C compiler is on PATH and
    compilation has not failed before in this process."""
    return not _compile_failed and any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


def _use_fused(fused: bool | None) -> bool:
    if fused is None:
        return fusion_available()
    if not isinstance(fused, bool):
        raise TypeError(f"fused must be True, False or None (auto), got {fused!r}")
    return fused


def _compiled_call(fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """``fn(*args)`` through ``torch.compile`` (fused kernels forward and backward).

    Falls back to eager, with one warning, where compilation fails (no working C compiler,
    an unsupported platform); the numbers are the same either way.
    """
    global _compile_failed
    if not _compile_failed:
        try:
            if fn.__name__ not in _compiled:
                _compiled[fn.__name__] = torch.compile(fn, dynamic=None)
            return _compiled[fn.__name__](*args)
        except Exception as err:  # noqa: BLE001 - any backend failure means "use eager"
            _compile_failed = True
            warnings.warn(f"torch.compile unavailable ({type(err).__name__}: {err}); the "
                          "hyperbolic head runs unfused (slower, same results)", stacklevel=3)
    return fn(*args)


def clipped_hyperbolic_logits(x: torch.Tensor, p_tangent: torch.Tensor, a: torch.Tensor, *,
                              c: Curvature, r: float | None = 1.0, dim: int = -1,
                              riemannian: bool = True,
                              fused: bool | None = False) -> torch.Tensor:
    """Logits of the clipped HNN head from Euclidean features, in one call.

    ``z = proj(Exp₀ᶜ(min(1, r/‖x‖)·x))``; class offsets ``p = proj(Exp₀ᶜ(p̃))``, normals
    ``a_p = (1 − c‖p‖²)·a`` (parallel transport from the origin); logits
    ``hyperbolic_mlr(z, p, a_p)``. ``r=None`` skips the clipping (plain HNN).

    Parameters
    ----------
    x : Tensor, shape (B, D, *) with the features at ``dim``
        Euclidean features (any real values).
    p_tangent, a : Tensor, shape (K, D)
        Class offsets in the tangent space at the origin, and class normals at the origin.
    c : float or 0-d Tensor
        Curvature (> 0); a tensor that requires grad makes the curvature trainable.
    r : float or None
        Clipping radius (> 0), or None for the unclipped HNN.
    dim : int
        The feature dimension of ``x``; the logits put the K classes there.
    riemannian : bool
        Rescale the gradient reaching ``z`` by ``(1 − c‖z‖²)²/4`` on the backward pass, as
        hyptorch's ``ToPoincare(riemannian=True)`` (the lineage's default). ``False`` gives
        plain autograd (the exact Euclidean gradient of the logits).
    fused : bool or None
        Compile the whole head with ``torch.compile`` (one fused elementwise kernel on each
        side of the matrix product, forward and backward; the first call and each new input
        shape compile, seconds to minutes). ``None``: fused when a C compiler is present.
        Default ``False``: the eager path is already within 3× of ``nn.Linear``.

    Returns
    -------
    Tensor, the shape of ``x`` with ``D`` replaced by ``K``
    """
    _c_value(c)
    _check_r(r)
    if not isinstance(riemannian, bool):
        raise TypeError(f"riemannian must be True or False, got {riemannian!r}")
    dim = _check_mlr_shapes(x, p_tangent, a, dim, "p_tangent")
    flat, lead = _flatten_features(x, dim)
    cc = _as_c(c, x)
    if _use_fused(fused):
        logits = _compiled_call(_head_logits, flat, p_tangent, a, cc, r, riemannian, True)
    else:
        logits = _head_logits(flat, p_tangent, a, cc, r, riemannian, False)
    return _unflatten_logits(logits, lead, dim)
