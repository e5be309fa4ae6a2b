"""Out-of-distribution detection: scores, AUROC and FPR at 95% TPR.

Convention: a higher score means "more in-distribution"; in-distribution is the positive
class, as in Hendrycks & Gimpel (2017).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["max_softmax_score", "embedding_norm_score", "auroc", "fpr_at_tpr", "ood_metrics"]


def max_softmax_score(logits: torch.Tensor) -> torch.Tensor:
    """Maximum softmax probability of each row (Hendrycks & Gimpel 2017)."""
    return logits.softmax(-1).max(-1).values


def embedding_norm_score(embeddings: torch.Tensor) -> torch.Tensor:
    """ℓ2 norm of each embedding row: confident in-distribution inputs sit far from the
    origin. For Poincaré-ball embeddings the geodesic distance to the origin
    (``reprlab.hyperbolic.functional.origin_distance``) is a monotone function of it, so both
    give the same AUROC and FPR95."""
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {tuple(embeddings.shape)}")
    return embeddings.norm(dim=-1)


def _labels_scores(score_in, score_out) -> tuple[np.ndarray, np.ndarray]:
    s_in = np.asarray(torch.as_tensor(score_in).detach().double().cpu())
    s_out = np.asarray(torch.as_tensor(score_out).detach().double().cpu())
    if s_in.ndim != 1 or s_out.ndim != 1:
        raise ValueError(f"scores must be 1-d, got shapes {s_in.shape} and {s_out.shape}")
    if s_in.size == 0 or s_out.size == 0:
        raise ValueError(f"both score sets must be non-empty, got {s_in.size} in-distribution "
                         f"and {s_out.size} OOD scores")
    if not (np.isfinite(s_in).all() and np.isfinite(s_out).all()):
        raise ValueError("OOD scores contain NaN/Inf")
    y = np.concatenate([np.ones_like(s_in), np.zeros_like(s_out)])
    return y, np.concatenate([s_in, s_out])


def auroc(score_in, score_out) -> float:
    """Area under the ROC curve separating in- (positive) from out-of-distribution."""
    from sklearn.metrics import roc_auc_score

    y, s = _labels_scores(score_in, score_out)
    return float(roc_auc_score(y, s))


def fpr_at_tpr(score_in, score_out, tpr: float = 0.95) -> float:
    """False-positive rate (OOD accepted as in-distribution) at the threshold keeping
    ``tpr`` of the in-distribution samples."""
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    y, s = _labels_scores(score_in, score_out)
    s_in, s_out = s[y == 1], s[y == 0]
    threshold = np.quantile(s_in, 1.0 - tpr)
    return float((s_out >= threshold).mean())


def ood_metrics(score_in, score_out) -> dict[str, float]:
    """``{"auroc": ..., "fpr95": ...}`` for one score."""
    return {"auroc": auroc(score_in, score_out), "fpr95": fpr_at_tpr(score_in, score_out)}
