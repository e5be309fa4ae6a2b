"""Poincaré-ball classifier heads as plain ``nn.Module``s for any Euclidean backbone.

``ClippedHyperbolicHead(in_features, num_classes, c=1.0, r=1.0)`` = ``FeatureClip(r)`` →
``Exp₀ᶜ`` (+ margin projection) → ``HyperbolicMLR``. ``r=None`` gives the unclipped HNN
baseline. All parameters are Euclidean (the hyperplane offsets are stored in the tangent space
at the origin), so any ``torch.optim`` optimizer trains them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reprlab.hyperbolic import functional as F

__all__ = ["FeatureClip", "PoincareEmbedding", "HyperbolicMLR", "ClippedHyperbolicHead"]


def _check_features(x: torch.Tensor, in_features: int, who: str) -> None:
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ValueError(f"{who} expects input of shape (batch, {in_features}), "
                         f"got {tuple(x.shape)}")


class FeatureClip(nn.Module):
    """``x ← min(1, r/‖x‖)·x`` over the last dimension (the paper's feature clipping).

    Shape: input ``(*, D)``, output the same.
    """

    def __init__(self, r: float = 1.0) -> None:
        super().__init__()
        if not r > 0:
            raise ValueError(f"clipping radius r must be > 0, got {r}")
        self.r = float(r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.clip_features(x, r=self.r)

    def extra_repr(self) -> str:
        return f"r={self.r}"


class PoincareEmbedding(nn.Module):
    """Euclidean features → points of the Poincaré ball: optional clip, ``Exp₀ᶜ``, projection.

    Parameters
    ----------
    c : float
        Curvature of the ball (> 0); radius ``1/√c``.
    r : float or None
        Feature-clipping radius; ``None`` gives the unclipped HNN map.
    """

    def __init__(self, c: float = 1.0, r: float | None = 1.0) -> None:
        super().__init__()
        if not c > 0:
            raise ValueError(f"curvature c must be > 0, got {c}")
        if r is not None and not r > 0:
            raise ValueError(f"clipping radius r must be > 0 or None, got {r}")
        self.c = float(c)
        self.r = None if r is None else float(r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hyperbolic_embed(x, c=self.c, r=self.r)

    def extra_repr(self) -> str:
        return f"c={self.c}, r={self.r}"


class HyperbolicMLR(nn.Module):
    """Hyperbolic multinomial logistic regression (Ganea et al. 2018) over ``num_classes``.

    Each class has an offset ``p_k = Exp₀ᶜ(p̃_k)`` on the ball and a normal ``a_k`` given at the
    origin and moved to ``p_k`` by parallel transport, ``a_k ↦ (1 − c‖p_k‖²)·a_k``
    (hyptorch's parametrisation), so both stored tensors are Euclidean.

    Shape: input ``(B, in_features)`` points in the ball; output ``(B, num_classes)`` logits.

    Parameters
    ----------
    in_features, num_classes : int
    c : float
        Curvature (> 0).
    fused : bool
        Fuse the elementwise work with ``torch.compile`` (see
        :func:`reprlab.hyperbolic.functional.hyperbolic_mlr`); in
        :class:`ClippedHyperbolicHead` the whole head is compiled as one graph.
    """

    def __init__(self, in_features: int, num_classes: int, c: float = 1.0, *,
                 fused: bool = False, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1:
            raise ValueError(f"in_features and num_classes must be >= 1, got {in_features}, "
                             f"{num_classes}")
        if not c > 0:
            raise ValueError(f"curvature c must be > 0, got {c}")
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.num_classes, self.c, self.fused = (
            in_features, num_classes, float(c), fused)
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
        _check_features(x, self.in_features, type(self).__name__)
        p, a_p = self.offsets_and_normals()
        return F.hyperbolic_mlr(x, p, a_p, c=self.c, fused=self.fused)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, c={self.c}, "
                f"fused={self.fused}")


class ClippedHyperbolicHead(nn.Module):
    """The clipped HNN classifier head: ``FeatureClip(r)`` → ``Exp₀ᶜ`` → ``HyperbolicMLR``.

    Put it on any backbone that outputs ``(B, in_features)`` features. ``r=None`` is the
    unclipped hybrid HNN of Ganea et al.; ``r=1.0, c=1.0`` are the paper's defaults, under
    which ``‖z‖ ≤ tanh(1) ≈ 0.762``.

    Shape: input ``(B, in_features)``; output ``(B, num_classes)`` logits.

    Examples
    --------
    >>> head = ClippedHyperbolicHead(16, 10)
    >>> head(torch.randn(4, 16)).shape
    torch.Size([4, 10])
    >>> head.embed(torch.randn(4, 16) * 100).norm(dim=-1).max() < 0.77
    tensor(True)
    """

    def __init__(self, in_features: int, num_classes: int, c: float = 1.0,
                 r: float | None = 1.0, *, fused: bool = False,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.to_ball = PoincareEmbedding(c=c, r=r)
        self.mlr = HyperbolicMLR(in_features, num_classes, c=c, fused=fused, device=device,
                                 dtype=dtype)

    @property
    def c(self) -> float:
        return self.to_ball.c

    @property
    def r(self) -> float | None:
        return self.to_ball.r

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The hyperbolic embedding ``z`` of features ``x`` (diagnostics, OOD scores)."""
        _check_features(x, self.in_features, type(self).__name__)
        return self.to_ball(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_features(x, self.in_features, type(self).__name__)
        return F.clipped_hyperbolic_logits(x, self.mlr.p_tangent, self.mlr.a, c=self.c,
                                           r=self.r, fused=self.mlr.fused)
