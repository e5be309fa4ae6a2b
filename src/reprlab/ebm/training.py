"""Training an MDSM energy with the shared :func:`reprlab.train.fit` loop."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from reprlab.ebm.functional import dsm_loss, model_dtype_device, noise_levels
from reprlab.train import History, fit

__all__ = ["mdsm_step", "train_mdsm"]


def mdsm_step(model: nn.Module, batch: Any, *, sigma_min: float, sigma_max: float,
              spacing: str = "exp", sigma0: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """One MDSM step for :func:`reprlab.train.fit`: ``batch`` is ``x`` or ``(x, labels)``.

    Row ``i`` of the batch gets the ``i``-th scale of :func:`noise_levels` (the official
    deterministic spread); the noise is drawn from the global torch RNG, which ``fit``
    checkpoints, so a resumed run is bitwise the same. Logs ``loss`` as the official
    "normalized loss" ``σ₀⁴ L``. The batch is moved to the model's dtype and device.
    """
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    dtype, device = model_dtype_device(model)
    if dtype is not None:  # batches follow the model (a float64 or CUDA energy works as is)
        x = x.to(dtype=dtype, device=device)
    sigmas = noise_levels(x.shape[0], sigma_min=sigma_min, sigma_max=sigma_max,
                          spacing=spacing, device=x.device, dtype=x.dtype)
    loss = dsm_loss(model, x, sigmas=sigmas, sigma0=sigma0)
    return loss, {"loss": float(loss.detach()) * sigma0**4}


def train_mdsm(model: nn.Module, data: Dataset, *, epochs: int, batch_size: int = 128,
               lr: float = 5e-5, betas: tuple[float, float] = (0.9, 0.95),
               lr_min: float = 1e-6, sigma_min: float = 0.05, sigma_max: float = 1.2,
               spacing: str = "lin", sigma0: float = 0.1, max_steps_per_epoch: int | None = None,
               checkpoint_dir: str | Path | None = None, resume: bool = False, seed: int = 0,
               on_epoch_end: Callable[[int, nn.Module], dict[str, float]] | None = None,
               progress: bool | None = None) -> History:
    """Fit an energy network by MDSM (official recipe: Adam β=(0.9, 0.95), cosine LR decay
    to ``lr_min``).

    Defaults are the official CIFAR-10 ones (σ linear in [0.05, 1.2], lr 5e-5); the official
    MNIST/Fashion-MNIST run uses σ geometric in [0.1, 3] and lr 1e-4. Deviation: the cosine
    schedule is stepped once per epoch (``fit``'s scheduler contract), not per iteration.
    ``checkpoint_dir``/``resume``/``on_epoch_end`` are passed to :func:`reprlab.train.fit`.

    Returns
    -------
    History
        Per-epoch mean normalized loss (``σ₀⁴ L``).
    """
    for name, v in (("lr", lr), ("sigma_min", sigma_min), ("sigma_max", sigma_max),
                    ("sigma0", sigma0)):
        if not (isinstance(v, (int, float)) and 0 < v < float("inf")):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not 0 <= lr_min <= lr:
        raise ValueError(f"lr_min must be in [0, lr={lr}], got {lr_min}")
    if not sigma_min <= sigma_max:
        raise ValueError(f"need sigma_min <= sigma_max, got {sigma_min} > {sigma_max}")
    if not (isinstance(epochs, int) and epochs >= 0):
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    step = partial(mdsm_step, sigma_min=sigma_min, sigma_max=sigma_max, spacing=spacing,
                   sigma0=sigma0)

    def make_opt(params):
        return torch.optim.Adam(params, lr=lr, betas=betas)

    def make_sched(opt):
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1), eta_min=lr_min)

    return fit(model, data, epochs=epochs, optimizer=make_opt, step_fn=step,
               batch_size=batch_size, scheduler=make_sched, checkpoint_dir=checkpoint_dir,
               resume=resume, seed=seed, max_steps_per_epoch=max_steps_per_epoch,
               on_epoch_end=on_epoch_end, progress=progress, desc="mdsm")
