"""Clipped hyperbolic classifiers (Guo et al., CVPR 2022, arXiv:2107.11472).

Poincaré-ball classifier heads for any Euclidean backbone, with the paper's feature clipping.

>>> from reprlab.hyperbolic import ClippedHyperbolicHead
>>> head = ClippedHyperbolicHead(in_features=128, num_classes=10, c=1.0, r=1.0)
"""

from reprlab.hyperbolic import functional
from reprlab.hyperbolic.models import LeNetFeatures, create_classifier, create_head
from reprlab.hyperbolic.modules import (
    ClippedHyperbolicHead,
    FeatureClip,
    HyperbolicMLR,
    PoincareEmbedding,
)

__all__ = [
    "functional",
    "FeatureClip",
    "PoincareEmbedding",
    "HyperbolicMLR",
    "ClippedHyperbolicHead",
    "LeNetFeatures",
    "create_head",
    "create_classifier",
]
