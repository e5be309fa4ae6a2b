"""Evaluation shared by all methods: accuracy, adversarial robustness, OOD detection, FD."""

from reprlab.eval.classification import accuracy, accuracy_from_logits, predict_logits
from reprlab.eval.generative import frechet_distance, psnr
from reprlab.eval.ood import (
    auroc,
    embedding_norm_score,
    fpr_at_tpr,
    max_softmax_score,
    ood_metrics,
)
from reprlab.eval.robustness import fgsm, pgd, robust_accuracy

__all__ = [
    "accuracy",
    "accuracy_from_logits",
    "predict_logits",
    "fgsm",
    "pgd",
    "robust_accuracy",
    "auroc",
    "fpr_at_tpr",
    "max_softmax_score",
    "embedding_norm_score",
    "ood_metrics",
    "frechet_distance",
    "psnr",
]
