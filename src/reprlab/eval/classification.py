"""Batched prediction and accuracy."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = ["predict_logits", "accuracy"]


def _batches(data: Dataset | tuple[torch.Tensor, torch.Tensor], batch_size: int):
    if isinstance(data, tuple):
        x, y = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    else:
        xs, ys = zip(*[data[i] for i in range(len(data))])
        x, y = torch.stack(xs), torch.as_tensor(ys)
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
    return (logits.argmax(-1) == labels).float().mean().item()
