"""Poincaré-ball classifier heads as plain ``nn.Module``s for any Euclidean backbone.

``ClippedHyperbolicHead(in_features, num_classes, c=1.0, r=1.0)`` = feature clipping →
``Exp₀ᶜ`` (+ margin projection, + the lineage's Riemannian backward rescaling) → hyperbolic
MLR. ``r=None`` gives the unclipped HNN baseline. All parameters are Euclidean (the
hyperplane offsets are stored in the tangent space at the origin; a trainable curvature as
``log c``), so any ``torch.optim`` optimizer trains them.

Inputs are ``(B, D, *)`` with the features at ``dim`` (default 1, the channel convention of
``nn.Conv2d`` and ``nn.CrossEntropyLoss``): a ``(B, D, H, W)`` feature map gives
``(B, K, H, W)`` logits for dense prediction; pass ``dim=-1`` for ``(B, T, D)`` tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reprlab.hyperbolic import functional as F

__all__ = ["FeatureClip", "PoincareEmbedding", "HyperbolicMLR", "ClippedHyperbolicHead"]


def _check_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _check_curvature(c: float) -> float:
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not (c > 0 and
                                                                       math.isfinite(c)):
        raise ValueError(f"curvature c must be a finite number > 0, got {c!r}")
    return float(c)


def _check_radius(r: float | None) -> float | None:
    if r is None:
        return None
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not (r > 0 and
                                                                       math.isfinite(r)):
        raise ValueError(f"clipping radius r must be a finite number > 0 or None (no "
                         f"clipping), got {r!r}")
    return float(r)


def _check_dim_arg(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {dim!r}")
    return dim


def _check_input(x: torch.Tensor, in_features: int, dim: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{who} expects input of shape (batch, {in_features}, *) with the "
                         f"features at dim={dim}, got shape {tuple(x.shape)}")
    if not -x.dim() <= dim < x.dim() or x.shape[dim] != in_features:
        raise ValueError(f"{who} expects {in_features} features at dim={dim}, got input of "
                         f"shape {tuple(x.shape)}; pass dim= for another layout (e.g. dim=-1 "
                         "for (batch, tokens, features))")
    if not x.is_floating_point():
        raise ValueError(f"{who} expects floating-point input, got {x.dtype}")


class FeatureClip(nn.Module):
    """``x ← min(1, r/‖x‖)·x`` along ``dim`` (the paper's feature clipping).

    Shape: input ``(B, D, *)``, output the same.
    """

    def __init__(self, r: float = 1.0, *, dim: int = 1) -> None:
        super().__init__()
        r = _check_radius(r)
        if r is None:
            raise ValueError("FeatureClip needs a clipping radius r > 0, got None")
        self.r = r
        self.dim = _check_dim_arg(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.clip_features(x, r=self.r, dim=self.dim)

    def extra_repr(self) -> str:
        return f"r={self.r}, dim={self.dim}"


class PoincareEmbedding(nn.Module):
    """Euclidean features → points of the Poincaré ball: optional clip, ``Exp₀ᶜ``, projection.

    Parameters
    ----------
    c : float
        Curvature of the ball (> 0); radius ``1/√c``.
    r : float or None
        Feature-clipping radius; ``None`` gives the unclipped HNN map.
    dim : int
        The feature dimension of the input.
    riemannian : bool
        Rescale the gradient by ``(1 − c‖z‖²)²/4`` on the backward pass (hyptorch's
        ``ToPoincare(riemannian=True)``).
    """

    def __init__(self, c: float = 1.0, r: float | None = 1.0, *, dim: int = 1,
                 riemannian: bool = False) -> None:
        super().__init__()
        self.c = _check_curvature(c)
        self.r = _check_radius(r)
        self.dim = _check_dim_arg(dim)
        if not isinstance(riemannian, bool):
            raise TypeError(f"riemannian must be True or False, got {riemannian!r}")
        self.riemannian = riemannian

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hyperbolic_embed(x, c=self.c, r=self.r, dim=self.dim,
                                  riemannian=self.riemannian)

    def extra_repr(self) -> str:
        return f"c={self.c}, r={self.r}, dim={self.dim}, riemannian={self.riemannian}"


class HyperbolicMLR(nn.Module):
    """Hyperbolic multinomial logistic regression (Ganea et al. 2018) over ``num_classes``.

    Each class has an offset ``p_k = Exp₀ᶜ(p̃_k)`` on the ball and a normal ``a_k`` given at the
    origin and moved to ``p_k`` by parallel transport, ``a_k ↦ (1 − c‖p_k‖²)·a_k``
    (hyptorch's parametrisation), so both stored tensors are Euclidean.

    Shape: input ``(B, in_features, *)`` points in the ball (features at ``dim``; points
    outside the ball raise ``ValueError``); output ``(B, num_classes, *)`` logits.

    Parameters
    ----------
    in_features, num_classes : int
    c : float
        Curvature (> 0).
    dim : int
        The feature dimension of the input; the logits put the classes there.
    fused : bool or None
        Fuse the elementwise work with ``torch.compile`` (``None``: when a C compiler is
        present). Off by default: the eager path is already within 3× of ``nn.Linear``
        and compiling stalls the first call (and every new input shape) for seconds to
        minutes.
    """

    def __init__(self, in_features: int, num_classes: int, c: float = 1.0, *, dim: int = 1,
                 fused: bool | None = False, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features = _check_int(in_features, "in_features")
        self.num_classes = _check_int(num_classes, "num_classes")
        self.c = _check_curvature(c)
        self.dim = _check_dim_arg(dim)
        self.fused = fused
        self.p_tangent = nn.Parameter(torch.empty(num_classes, in_features, **kw))
        self.a = nn.Parameter(torch.empty(num_classes, in_features, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # hyptorch's HypMLR initialises both tensors like nn.Linear's weight
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.p_tangent, a=math.sqrt(5))

    def offsets_and_normals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The class offsets ``p`` (on the ball) and normals ``a_p`` (tangent at ``p``)."""
        return F.class_offsets_and_normals(self.p_tangent, self.a, c=self.c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features, self.dim, type(self).__name__)
        p, a_p = self.offsets_and_normals()
        return F.hyperbolic_mlr(x, p, a_p, c=self.c, dim=self.dim, fused=self.fused)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, c={self.c}, "
                f"dim={self.dim}, fused={self.fused}")


class ClippedHyperbolicHead(nn.Module):
    """The clipped HNN classifier head: feature clipping → ``Exp₀ᶜ`` → hyperbolic MLR.

    Put it on any backbone that outputs ``(B, in_features, *)`` features. ``r=None`` is the
    unclipped hybrid HNN of Ganea et al.; ``r=1.0, c=1.0`` are the paper's defaults, under
    which ``‖z‖ ≤ tanh(1) ≈ 0.762``.

    Parameters
    ----------
    in_features, num_classes : int
    c : float
        Curvature (> 0); with ``learn_c=True`` its initial value.
    r : float or None
        Clipping radius (> 0); ``None``: no clipping (the baseline HNN).
    dim : int
        The feature dimension of the input (default 1); the logits put the classes there.
    riemannian : bool
        Scale the gradient reaching the ball embedding ``z`` by ``(1 − c‖z‖²)²/4`` on the
        backward pass (the Riemannian gradient), as the paper's code lineage does — hyptorch
        ``ToPoincare(riemannian=True)``, its default, and the first author's HACK code, which
        always applies it. Default ``True``. ``False`` gives plain autograd (the exact
        gradient of the forward function; what ``gradcheck`` verifies).
    learn_c : bool
        Make the curvature trainable (stored as ``log_c`` so it stays > 0, as HACK's
        ``ToPoincare(train_c=True)``). The Riemannian rescaling treats ``c`` as a constant.
    fused : bool or None
        Compile the head with ``torch.compile`` (``None``: when a C compiler is present).
        Off by default (see :class:`HyperbolicMLR`).

    Shape: input ``(B, in_features, *)``; output ``(B, num_classes, *)`` logits.

    Examples
    --------
    >>> head = ClippedHyperbolicHead(16, 10)
    >>> head(torch.randn(4, 16)).shape
    torch.Size([4, 10])
    >>> head(torch.randn(2, 16, 5, 5)).shape  # a feature map: per-pixel logits
    torch.Size([2, 10, 5, 5])
    >>> head.embed(torch.randn(4, 16) * 100).norm(dim=-1).max() < 0.77
    tensor(True)
    """

    def __init__(self, in_features: int, num_classes: int, c: float = 1.0,
                 r: float | None = 1.0, *, dim: int = 1, riemannian: bool = True,
                 learn_c: bool = False, fused: bool | None = False,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features = _check_int(in_features, "in_features")
        self.num_classes = _check_int(num_classes, "num_classes")
        c = _check_curvature(c)
        self.r = _check_radius(r)
        self.dim = _check_dim_arg(dim)
        for name, flag in (("riemannian", riemannian), ("learn_c", learn_c)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.riemannian = riemannian
        self.learn_c = learn_c
        self.fused = fused
        self.mlr = HyperbolicMLR(in_features, num_classes, c=c, dim=dim, fused=fused,
                                 device=device, dtype=dtype)
        if learn_c:
            self.log_c = nn.Parameter(torch.tensor(math.log(c), device=device,
                                                   dtype=dtype or torch.get_default_dtype()))
        else:
            self.register_parameter("log_c", None)

    @property
    def c(self) -> float | torch.Tensor:
        """The curvature: a float, or a 0-d tensor (differentiable) when ``learn_c``."""
        return self.log_c.exp() if self.log_c is not None else self.mlr.c

    def _checked(self, x: torch.Tensor) -> None:
        _check_input(x, self.in_features, self.dim, type(self).__name__)
        if x.dtype != self.mlr.a.dtype:
            raise ValueError(f"{type(self).__name__} has {self.mlr.a.dtype} parameters but got "
                             f"{x.dtype} input; convert one of them (e.g. head.to(x.dtype))")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The hyperbolic embedding ``z`` of features ``x`` (diagnostics), same layout as x."""
        self._checked(x)
        return F.hyperbolic_embed(x, c=self.c, r=self.r, dim=self.dim,
                                  riemannian=self.riemannian)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._checked(x)
        return F.clipped_hyperbolic_logits(x, self.mlr.p_tangent, self.mlr.a, c=self.c,
                                           r=self.r, dim=self.dim, riemannian=self.riemannian,
                                           fused=self.fused)

    def extra_repr(self) -> str:
        c = f"{float(self.c):.4g} (learned)" if self.learn_c else f"{self.c}"
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, c={c}, "
                f"r={self.r}, dim={self.dim}, riemannian={self.riemannian}, "
                f"fused={self.fused}")
