"""Backbones and whole classifiers for the hyperbolic reproduction (ENN / HNN / clipped HNN).

``create_classifier("clipped", feat_dim=128)`` returns ``nn.Sequential(LeNetFeatures, head)``
where the head is ``nn.Linear`` (ENN), ``ClippedHyperbolicHead(r=None)`` (HNN) or
``ClippedHyperbolicHead(r=r)`` (clipped HNN): same backbone, only the head differs.
"""

from __future__ import annotations

import torch
from torch import nn

from reprlab.hyperbolic.modules import ClippedHyperbolicHead

__all__ = ["LeNetFeatures", "HEADS", "create_head", "create_classifier"]

HEADS = ("euclidean", "hyperbolic", "clipped")


class LeNetFeatures(nn.Module):
    """LeNet-style backbone of the paper's MNIST runs: conv 20 → conv 50 → FC 500 → features.

    Shape: input ``(B, 1, 28, 28)``; output ``(B, feat_dim)``.
    """

    def __init__(self, feat_dim: int = 128, in_channels: int = 1) -> None:
        super().__init__()
        self.feat_dim = feat_dim
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU())
        self.out = nn.Linear(500, feat_dim)  # "the backbone's last layer" of the diagnostics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-2:] != (28, 28):
            raise ValueError(f"LeNetFeatures expects images (B, C, 28, 28), got {tuple(x.shape)}")
        return self.out(self.fc(self.conv(x)))


def create_head(kind: str, feat_dim: int, num_classes: int, *, c: float = 1.0,
                r: float = 1.0, riemannian: bool = True, fused: bool | None = False) -> nn.Module:
    """The classifier head called ``kind``: "euclidean", "hyperbolic" (unclipped) or "clipped".

    Both hyperbolic heads use the lineage's Riemannian backward rescaling by default
    (``riemannian=True``), as hyptorch's ``ToPoincare`` and the first author's HACK code do.
    """
    if kind == "euclidean":
        return nn.Linear(feat_dim, num_classes)
    if kind == "hyperbolic":
        return ClippedHyperbolicHead(feat_dim, num_classes, c=c, r=None,
                                     riemannian=riemannian, fused=fused)
    if kind == "clipped":
        return ClippedHyperbolicHead(feat_dim, num_classes, c=c, r=r, riemannian=riemannian,
                                     fused=fused)
    raise ValueError(f"unknown head {kind!r}; expected one of {HEADS}")


def create_classifier(kind: str, *, feat_dim: int = 128, num_classes: int = 10,
                      c: float = 1.0, r: float = 1.0, riemannian: bool = True,
                      fused: bool | None = False) -> nn.Sequential:
    """LeNet backbone + the head ``kind`` as ``nn.Sequential(backbone, head)``."""
    return nn.Sequential(LeNetFeatures(feat_dim),
                         create_head(kind, feat_dim, num_classes, c=c, r=r,
                                     riemannian=riemannian, fused=fused))
