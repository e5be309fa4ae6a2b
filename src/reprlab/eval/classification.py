"""Batched prediction and accuracy."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from reprlab.utils import check_finite, check_positive

__all__ = ["predict_logits", "accuracy", "accuracy_from_logits"]



def _tensors(data: Dataset | tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data must be (inputs, labels), got a tuple of {len(data)}")
        x, y = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    else:
        if len(data) == 0:
            raise ValueError("data is empty")
        xs, ys = zip(*[data[i] for i in range(len(data))])
        x, y = torch.stack(xs), torch.as_tensor(ys)
    if x.shape[0] == 0:
        raise ValueError("data is empty")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs and labels differ in length: {x.shape[0]} vs {y.shape[0]}")
    return x, y


def _batches(data: Dataset | tuple[torch.Tensor, torch.Tensor], batch_size: int):
    check_positive("batch_size", batch_size, integer=True)
    x, y = _tensors(data)
    for i in range(0, x.shape[0], batch_size):
        yield x[i:i + batch_size], y[i:i + batch_size]


@torch.no_grad()
def predict_logits(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor], *,
                   batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a whole data set, ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in _batches(data, batch_size):
        logits.append(model(x))
        labels.append(y)
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def accuracy(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor], *,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy in [0, 1]."""
    logits, labels = predict_logits(model, data, batch_size=batch_size)
    return accuracy_from_logits(logits, labels)


def accuracy_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] of ``(N, K)`` logits; NaN logits or labels outside
    ``0..K-1`` raise instead of counting as wrong."""
    if logits.dim() != 2 or labels.dim() != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must be (N, K) and labels (N,), got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("accuracy of an empty set is undefined")
    check_finite("logits", logits)
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}, found "
                         f"{int(labels.min())}..{int(labels.max())}")
    return (logits.argmax(-1) == labels).float().mean().item()
