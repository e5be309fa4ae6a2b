"""Poincaré-ball math for clipped hyperbolic classifiers (Guo et al., CVPR 2022).

Free tensor functions with keyword-only curvature ``c > 0`` (the ball has sectional
curvature ``−c`` and radius ``1/√c``). Generic gyrovector operations delegate to ``geoopt``
(``geoopt.manifolds.stereographic.math`` with ``k = −c``); what it lacks — feature clipping,
a margin projection, and a batched multinomial logistic regression over all classes at once —
is written here.

The paper's argument: a hybrid HNN maps a Euclidean feature ``x`` to the ball with
``Exp₀ᶜ``; training pushes ``‖Exp₀ᶜ(x)‖`` to the boundary where the Riemannian gradient is
scaled by ``(1 − c‖h‖²)²/4 → 0``, so the backbone stops learning. Clipping
``x ← min(1, r/‖x‖)·x`` keeps ``‖h‖ ≤ tanh(√c·r)/√c`` away from the boundary.
"""

from __future__ import annotations

import math
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
    "hyperbolic_embed",
    "hyperbolic_mlr",
    "clipped_hyperbolic_logits",
    "class_offsets_and_normals",
    "conformal_factor",
]

# Margin kept from the boundary by `project`, as a fraction of the radius (claims.md: 1e-5).
BALL_EPS = 1e-5
# Guard added to feature norms before dividing (the paper's / hyptorch's 1e-5).
NORM_EPS = 1e-5


def _check_c(c: float) -> None:
    if not c > 0:
        raise ValueError(f"curvature c must be > 0, got {c}")


def _k(c: float, like: torch.Tensor) -> torch.Tensor:
    """geoopt's signed curvature ``k = −c`` as a tensor matching ``like``."""
    return torch.as_tensor(-c, dtype=like.dtype, device=like.device)


def clip_features(x: torch.Tensor, *, r: float, dim: int = -1) -> torch.Tensor:
    """Feature clipping ``x ← min(1, r/‖x‖)·x`` (the paper's Eq. for the clipped HNN).

    ``‖x‖`` is guarded by ``+1e-5`` so the zero vector passes through unchanged.
    """
    if not r > 0:
        raise ValueError(f"clipping radius r must be > 0, got {r}")
    norm = x.norm(dim=dim, keepdim=True) + NORM_EPS
    return x * torch.clamp(r / norm, max=1.0)


def project(x: torch.Tensor, *, c: float, eps: float = BALL_EPS, dim: int = -1) -> torch.Tensor:
    """Pull points into the open ball of radius ``(1 − eps)/√c`` (no-op inside it)."""
    _check_c(c)
    max_norm = (1.0 - eps) / math.sqrt(c)
    norm = x.norm(dim=dim, keepdim=True).clamp_min(1e-15)
    return torch.where(norm > max_norm, x / norm * max_norm, x)


def expmap0(u: torch.Tensor, *, c: float, dim: int = -1) -> torch.Tensor:
    """Exponential map at the origin: ``tanh(√c‖u‖)·u/(√c‖u‖)`` (geoopt)."""
    _check_c(c)
    return gmath.expmap0(u, k=_k(c, u), dim=dim)


def logmap0(y: torch.Tensor, *, c: float, dim: int = -1) -> torch.Tensor:
    """Logarithmic map at the origin, inverse of :func:`expmap0` (geoopt)."""
    _check_c(c)
    return gmath.logmap0(y, k=_k(c, y), dim=dim)


def mobius_add(x: torch.Tensor, y: torch.Tensor, *, c: float, dim: int = -1) -> torch.Tensor:
    """Möbius addition ``x ⊕_c y`` (geoopt)."""
    _check_c(c)
    return gmath.mobius_add(x, y, k=_k(c, x), dim=dim)


def poincare_dist(x: torch.Tensor, y: torch.Tensor, *, c: float, dim: int = -1,
                  keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance ``(2/√c)·artanh(√c‖−x ⊕ y‖)`` (geoopt)."""
    _check_c(c)
    return gmath.dist(x, y, k=_k(c, x), dim=dim, keepdim=keepdim)


def origin_distance(x: torch.Tensor, *, c: float, dim: int = -1,
                    keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance to the origin ``(2/√c)·artanh(√c‖x‖)`` (geoopt ``dist0``).

    Also the hyperbolic heads' OOD score: confident in-distribution embeddings lie far from
    the origin.
    """
    _check_c(c)
    return gmath.dist0(x, k=_k(c, x), dim=dim, keepdim=keepdim)


def conformal_factor(x: torch.Tensor, *, c: float, dim: int = -1,
                     keepdim: bool = False) -> torch.Tensor:
    """``λᶜ_x = 2/(1 − c‖x‖²)``, the metric's scale at ``x``."""
    _check_c(c)
    return 2.0 / (1.0 - c * x.pow(2).sum(dim=dim, keepdim=keepdim)).clamp_min(1e-15)


def hyperbolic_embed(x: torch.Tensor, *, c: float, r: float | None = None) -> torch.Tensor:
    """Euclidean features → Poincaré ball: optional clipping, ``Exp₀ᶜ``, margin projection.

    ``r=None`` gives the unclipped baseline HNN.
    """
    if r is not None:
        x = clip_features(x, r=r)
    return project(expmap0(x, c=c), c=c)


def _asinh_log1p(t: torch.Tensor) -> torch.Tensor:
    """``asinh`` as ``sign(t)·log1p(|t| + t²/(1 + √(1 + t²)))``: exact to rounding, and built
    from functions the compiler vectorises (``torch.asinh`` falls back to scalar code)."""
    at = t.abs()
    return torch.sign(t) * torch.log1p(at + at * at / (1.0 + torch.sqrt(1.0 + at * at)))


def _mlr_from_products(xp: torch.Tensor, xa: torch.Tensor, x2: torch.Tensor, p2: torch.Tensor,
                       pa: torch.Tensor, a_norm: torch.Tensor, c: float,
                       fusable_asinh: bool = False) -> torch.Tensor:
    """The elementwise part of :func:`hyperbolic_mlr`, from inner products and norms.

    ``xp, xa``: (B, K) ``⟨x, p_k⟩``, ``⟨x, a_k⟩``; ``x2``: (B, 1) ``‖x‖²``; ``p2, pa, a_norm``:
    (K,) ``‖p_k‖²``, ``⟨p_k, a_k⟩``, ``‖a_k‖``. Kept separate so ``torch.compile`` can fuse it
    (forward and backward) into one pass each while the matrix product stays in BLAS.
    """
    sqrt_c = math.sqrt(c)
    # Möbius sum w = (−p) ⊕ x = (A·(−p) + B·x)/D with A, B, D as in Ganea et al. Eq. 4
    coef_p = 1.0 - 2.0 * c * xp + c * x2  # A, (B, K)
    coef_x = 1.0 - c * p2  # B, (K,)
    denom = (1.0 - 2.0 * c * xp + c * c * p2 * x2).clamp_min(1e-15)  # D > 0 inside the ball
    w_dot_a = (coef_x * xa - coef_p * pa) / denom
    w_sq = (coef_p.pow(2) * p2 - 2.0 * coef_p * coef_x * xp + coef_x.pow(2) * x2) / denom.pow(2)
    # 1 − c‖w‖² > 0 inside the ball; the clamp keeps float32 finite right at the margin
    gap = (1.0 - c * w_sq).clamp_min(1e-15)
    lam_p = 2.0 / (1.0 - c * p2).clamp_min(1e-15)
    t = 2.0 * sqrt_c * w_dot_a / (gap * a_norm)
    return (lam_p * a_norm / sqrt_c) * (_asinh_log1p(t) if fusable_asinh else torch.asinh(t))


def _mlr_logits(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, c: float,
                fusable_asinh: bool = False) -> torch.Tensor:
    """MLR logits from one (B, D)×(D, 2K) product plus elementwise work (see below)."""
    num_classes = p.shape[0]
    both = x @ torch.cat([p, a]).t()  # (B, 2K): ⟨x, p_k⟩ and ⟨x, a_k⟩ in one product
    return _mlr_from_products(both[:, :num_classes], both[:, num_classes:],
                              x.pow(2).sum(-1, keepdim=True), p.pow(2).sum(-1), (p * a).sum(-1),
                              a.norm(dim=-1).clamp_min(1e-15), c, fusable_asinh)


def _ball_map(u: torch.Tensor, c: float, r: float | None) -> torch.Tensor:
    """Clip (when ``r``), ``Exp₀ᶜ``, margin projection, in plain tensor ops for the compiler.

    The same maths as :func:`hyperbolic_embed` (which goes through geoopt); written out
    because the compiler cannot trace geoopt's TorchScript functions.
    """
    sqrt_c = math.sqrt(c)
    if r is not None:
        u = u * torch.clamp(r / (u.norm(dim=-1, keepdim=True) + NORM_EPS), max=1.0)
    norm = u.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    # tanh saturates to exactly 1 in float32, so the margin projection is a clamp of the norm
    scale = torch.clamp(torch.tanh(sqrt_c * norm), max=1.0 - BALL_EPS) / (sqrt_c * norm)
    return u * scale


def _head_logits(x: torch.Tensor, p_tangent: torch.Tensor, a: torch.Tensor, c: float,
                 r: float | None) -> torch.Tensor:
    """The whole clipped head (see :func:`clipped_hyperbolic_logits`) as one traceable graph."""
    p = _ball_map(p_tangent, c, None)
    a_p = a * (1.0 - c * p.pow(2).sum(-1, keepdim=True))
    return _mlr_logits(_ball_map(x, c, r), p, a_p, c, True)


_compiled: dict[str, Callable[..., torch.Tensor]] = {}
_compile_failed = False


def _compiled_call(fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """``fn(*args)`` through ``torch.compile`` (fused kernels forward and backward).

    Falls back to eager, with one warning, where compilation is unavailable (no C compiler,
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
                              c: float, r: float | None = 1.0,
                              fused: bool = False) -> torch.Tensor:
    """Logits of the clipped HNN head from Euclidean features, in one call.

    ``z = proj(Exp₀ᶜ(min(1, r/‖x‖)·x))``; class offsets ``p = proj(Exp₀ᶜ(p̃))``, normals
    ``a_p = (1 − c‖p‖²)·a`` (parallel transport from the origin); logits
    ``hyperbolic_mlr(z, p, a_p)``. ``r=None`` skips the clipping (plain HNN).

    Parameters
    ----------
    x : Tensor, shape (B, D)
        Euclidean features.
    p_tangent, a : Tensor, shape (K, D)
        Class offsets in the tangent space at the origin, and class normals at the origin.
    c, r : float
        Curvature (> 0) and clipping radius (> 0, or None).
    fused : bool
        Compile the whole head with ``torch.compile`` (one fused elementwise kernel on each
        side of the matrix product, forward and backward); the first call compiles.

    Returns
    -------
    Tensor, shape (B, K)
    """
    _check_c(c)
    if r is not None and not r > 0:
        raise ValueError(f"clipping radius r must be > 0 or None, got {r}")
    _check_mlr_shapes(x, p_tangent, a)
    if fused:
        return _compiled_call(_head_logits, x, p_tangent, a, float(c), r)
    return hyperbolic_mlr(hyperbolic_embed(x, c=c, r=r),
                          *class_offsets_and_normals(p_tangent, a, c=c), c=c)


def class_offsets_and_normals(p_tangent: torch.Tensor, a: torch.Tensor, *,
                              c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MLR hyperplanes from Euclidean parameters (hyptorch's parametrisation).

    ``p = proj(Exp₀ᶜ(p̃))`` on the ball; ``a_p = (1 − c‖p‖²)·a``, the normal given at the
    origin moved to ``p`` by parallel transport (``λ₀/λ_p = 1 − c‖p‖²``).
    """
    p = project(expmap0(p_tangent, c=c), c=c)
    return p, a * (1.0 - c * p.pow(2).sum(-1, keepdim=True))


def _check_mlr_shapes(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor) -> None:
    if x.dim() != 2 or p.dim() != 2 or p.shape != a.shape or x.shape[1] != p.shape[1]:
        raise ValueError(f"expected x (B, D), p and a (K, D); got x {tuple(x.shape)}, "
                         f"p {tuple(p.shape)}, a {tuple(a.shape)}")


def hyperbolic_mlr(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, *, c: float,
                   fused: bool = False) -> torch.Tensor:
    """Hyperbolic multinomial logistic regression logits (Ganea et al. 2018, Eq. 25).

    ``logit_k(x) = (λᶜ_{p_k}‖a_k‖/√c) · asinh(2√c⟨−p_k ⊕ x, a_k⟩ / ((1 − c‖−p_k ⊕ x‖²)‖a_k‖))``

    Computed for all (sample, class) pairs without materialising the (B, K, D) tensor of
    Möbius sums: ``⟨−p ⊕ x, a⟩`` and ``‖−p ⊕ x‖²`` are closed forms in the inner products
    ``⟨x, p⟩``, ``⟨x, a⟩`` (one matrix product) and the norms, so the cost is one (B, D)×(D, 2K)
    product plus elementwise work on (B, K).

    Parameters
    ----------
    x : Tensor, shape (B, D)
        Points in the ball.
    p : Tensor, shape (K, D)
        Each class hyperplane's offset, a point in the ball.
    a : Tensor, shape (K, D)
        Each hyperplane's normal, a tangent vector at ``p_k``.
    c : float
        Curvature (> 0).
    fused : bool
        Run the elementwise part through ``torch.compile`` (2-3× faster on CPU; first call
        compiles for a few seconds).

    Returns
    -------
    Tensor, shape (B, K)

    Examples
    --------
    >>> x = torch.randn(4, 3) * 0.1
    >>> hyperbolic_mlr(x, torch.zeros(5, 3), torch.randn(5, 3), c=1.0).shape
    torch.Size([4, 5])
    """
    _check_c(c)
    _check_mlr_shapes(x, p, a)
    if fused:
        return _compiled_call(_mlr_logits, x, p, a, float(c), True)
    return _mlr_logits(x, p, a, float(c))
