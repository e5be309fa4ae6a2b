"""L∞ adversarial attacks (FGSM, PGD) and robust accuracy.

Inputs are images in ``[clip_min, clip_max]`` (default [0, 1]); the attacks maximise the
cross-entropy of the true label, as in Goodfellow et al. (FGSM) and Madry et al. (PGD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from reprlab.eval.classification import _batches
from reprlab.utils import check_positive, check_range

__all__ = ["fgsm", "pgd", "robust_accuracy"]


def _check_eps(eps: float) -> None:
    check_positive("eps", eps, allow_zero=True)


def _check_inputs(x: torch.Tensor, clip_min: float, clip_max: float) -> None:
    if not clip_min < clip_max:
        raise ValueError(f"clip_min must be < clip_max, got {clip_min} and {clip_max}")
    check_range("x", x, clip_min, clip_max)


_LOSSES = ("ce", "margin")


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                loss: str = "ce") -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if loss == "ce":
        value = F.cross_entropy(logits, y)
    else:  # the margin max_{j≠y} z_j − z_y (Carlini & Wagner): no softmax saturation to hide
        true = logits.gather(1, y[:, None])[:, 0]
        other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
        value = (other - true).sum()
    (grad,) = torch.autograd.grad(value, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
         clip_min: float = 0.0, clip_max: float = 1.0) -> torch.Tensor:
    """Fast gradient sign attack: ``x + eps·sign(∇ₓ CE)``, clipped to the valid range."""
    _check_eps(eps)
    _check_inputs(x, clip_min, clip_max)
    grad = _input_grad(model, x, y)
    return (x + eps * grad.sign()).clamp(clip_min, clip_max).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 10,
        step_size: float | None = None, random_start: bool = True,
        generator: torch.Generator | None = None, clip_min: float = 0.0,
        clip_max: float = 1.0, loss: str = "ce") -> torch.Tensor:
    """Projected gradient descent in the L∞ ball of radius ``eps`` (Madry et al. 2018).

    ``step_size`` defaults to ``2.5·eps/steps``; ``random_start`` begins at a uniform point
    of the ball (drawn from ``generator``). ``loss="margin"`` ascends the logit margin
    instead of the cross-entropy: the usual check for gradient masking (a defence whose
    gain vanishes under it was hiding its gradients, not robust).
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    _check_eps(eps)
    check_positive("steps", steps, integer=True)
    check_positive("step_size", step_size, allow_none=True)
    _check_inputs(x, clip_min, clip_max)
    alpha = 2.5 * eps / steps if step_size is None else step_size
    x0 = x.detach()
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype) * 2 - 1
        adv = (x0 + eps * noise.to(x0.device)).clamp(clip_min, clip_max)
    else:
        adv = x0.clone()
    for _ in range(steps):
        grad = _input_grad(model, adv, y, loss)
        adv = adv + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(clip_min, clip_max).detach()
    return adv


def robust_accuracy(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor], *,
                    attack: str = "pgd", eps: float, steps: int = 10,
                    step_size: float | None = None, batch_size: int = 500,
                    seed: int = 0, loss: str = "ce") -> float:
    """Accuracy under ``attack`` ("fgsm" or "pgd") at L∞ radius ``eps``; ``loss`` is the
    PGD objective (``"ce"`` or ``"margin"``, see :func:`pgd`)."""
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    _check_eps(eps)
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    for x, y in _batches(data, batch_size):
        if eps == 0:
            adv = x
        elif attack == "fgsm":
            adv = fgsm(model, x, y, eps=eps)
        else:
            adv = pgd(model, x, y, eps=eps, steps=steps, step_size=step_size, generator=g,
                      loss=loss)
        with torch.no_grad():
            correct += (model(adv).argmax(-1) == y).sum().item()
        total += y.numel()
    model.train(was_training)
    return correct / total
