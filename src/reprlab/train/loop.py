"""One seeded, checkpointed, resumable training loop that also runs under ``torchrun``.

Determinism: the shuffle of epoch ``e`` is drawn from a generator seeded with ``seed + e``
(or by ``DistributedSampler`` with the same rule); the global torch RNG (dropout, noise draws)
is seeded with ``seed`` when training starts and its state is saved in every checkpoint.
A run resumed from epoch ``k`` therefore ends with the same weights as one that never
stopped.

Distributed: when launched by ``torchrun`` (``WORLD_SIZE > 1``) the loop initialises a gloo
process group (CPU), wraps the model in ``DistributedDataParallel`` and shards each epoch with
``DistributedSampler``. Only rank 0 writes checkpoints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from reprlab.checkpoint import (
    SettingsMismatch,
    check_writable_dir,
    load_checkpoint,
    save_checkpoint,
)
from reprlab.data import make_loader
from reprlab.utils import check_positive, progress_bar

__all__ = ["History", "fit", "classification_step", "distributed_context", "is_main_process",
           "train_eval", "cosine_schedule"]

_FORMAT = 2  # checkpoint layout of fit(); bump when it changes
StepFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, dict[str, float]]"]


@dataclass
class History:
    """Per-epoch metrics: ``rows[e]`` is a dict of the metrics logged in epoch ``e``."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.rows if key in r]

    def __len__(self) -> int:
        return len(self.rows)

    def last(self) -> dict[str, float]:
        return self.rows[-1] if self.rows else {}


def classification_step(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy on ``(x, y)``; logs the loss and the batch accuracy."""
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(-1) == y).float().mean().item()
    return loss, {"loss": loss.item(), "acc": acc}


def is_main_process() -> bool:
    """True on rank 0 or outside ``torch.distributed``."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


@contextlib.contextmanager
def distributed_context() -> Iterator[bool]:
    """Initialise a gloo process group when launched by ``torchrun``; yield whether it did.

    Outside ``torchrun`` (no ``WORLD_SIZE`` or ``WORLD_SIZE == 1``) it does nothing.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    started = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="gloo")
        started = True
    try:
        yield world > 1
    finally:
        if started:
            dist.barrier()
            dist.destroy_process_group()


_OPT_SKIP = {"params", "initial_lr"}


def _resume_settings(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, *, seed: int,
                     batch_size: int, max_steps_per_epoch: int | None,
                     loader_given: bool) -> dict[str, Any]:
    """What a checkpoint of :func:`fit` is keyed on: resuming with any of it changed would
    silently train another run (the optimizer's state would bring the old learning rate
    back)."""
    groups = [{k: v for k, v in g.items() if k not in _OPT_SKIP and not callable(v)}
              for g in opt.param_groups]
    return {
        "optimizer": type(opt).__name__,
        "param_groups": groups,
        "scheduler": type(sched).__name__ if sched is not None else None,
        "seed": seed,
        "batch_size": None if loader_given else batch_size,
        "max_steps_per_epoch": max_steps_per_epoch,
        "parameters": {k: list(v.shape) for k, v in model.state_dict().items()},
    }


def fit(
    model: nn.Module,
    train_data: Dataset | DataLoader,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None = None,
    step_fn: StepFn = classification_step,
    batch_size: int = 128,
    lr: float = 1e-3,
    regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
    scheduler: Any = None,
    max_grad_norm: float | None = None,
    after_backward: Callable[[nn.Module, dict[str, float]], None] | None = None,
    on_epoch_end: Callable[[int, nn.Module], dict[str, float]] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    max_steps_per_epoch: int | None = None,
    progress: bool | None = None,
    desc: str = "train",
) -> History:
    """Train ``model`` and return its per-epoch :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Any module. Under ``torchrun`` it is wrapped in DDP for the duration of training.
    train_data : Dataset or DataLoader
        A Dataset is batched here (seeded shuffle, ``DistributedSampler`` under torchrun).
        A DataLoader is used as given (its own sampler decides the order).
    epochs : int
        Total epochs; with ``resume`` the loop continues from the last checkpoint up to this.
    optimizer : Optimizer or callable, optional
        An optimizer over ``model``'s parameters, or a factory ``params -> Optimizer``.
        Default: ``Adam(lr=lr)``.
    step_fn : callable
        ``step_fn(model, batch) -> (loss, metrics)``; default :func:`classification_step`.
    regularizer : callable, optional
        ``regularizer(model) -> scalar`` added to the loss each step (e.g. an orthogonality
        penalty); it receives the unwrapped module.
    scheduler : optional
        An LR scheduler (or a factory ``optimizer -> scheduler``) stepped once per epoch.
    after_backward : callable, optional
        ``after_backward(model, metrics)`` runs after ``backward()``, before the optimizer
        step, so gradient diagnostics can be logged into ``metrics``.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, model) -> dict`` adds evaluation metrics to the epoch's row.
    checkpoint_dir : path, optional
        Where ``last.pt`` is written (atomically) after every epoch; checked writable before
        training starts.
    resume : bool
        Continue from ``checkpoint_dir/last.pt`` when it exists. The checkpoint is keyed on
        the optimizer (class and hyper-parameters), scheduler, seed, batch size and the
        model's parameter shapes: a change raises ``ValueError`` naming it, never a silent
        resume; a corrupt file raises :class:`reprlab.checkpoint.CheckpointError`.

    Returns
    -------
    History
        One row per epoch with the mean of every step metric plus ``on_epoch_end`` metrics.
    """
    check_positive("epochs", epochs, integer=True, allow_zero=True)
    check_positive("batch_size", batch_size, integer=True)
    check_positive("lr", lr)
    check_positive("max_grad_norm", max_grad_norm, allow_none=True)
    check_positive("max_steps_per_epoch", max_steps_per_epoch, allow_none=True, integer=True)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir")
    if checkpoint_dir is not None:
        # a file or read-only folder fails now, not after the first epoch
        check_writable_dir(checkpoint_dir, "checkpoint_dir")
    distributed = dist.is_available() and dist.is_initialized()
    if isinstance(optimizer, torch.optim.Optimizer):
        opt = optimizer
    elif optimizer is None:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = optimizer(model.parameters())
    sched = scheduler(opt) if callable(scheduler) and not hasattr(scheduler, "step") else scheduler

    if isinstance(train_data, DataLoader):
        loader = train_data
    else:
        loader = make_loader(train_data, batch_size, shuffle=True, seed=seed,
                             distributed=distributed)

    history = History()
    start_epoch = 0
    torch.manual_seed(seed)  # dropout/noise draws; a resumed run restores the saved state
    ckpt_path = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    settings = _resume_settings(model, opt, sched, seed=seed, batch_size=batch_size,
                                max_steps_per_epoch=max_steps_per_epoch,
                                loader_given=isinstance(train_data, DataLoader))
    state = None
    if ckpt_path is not None and resume:
        try:
            state = load_checkpoint(ckpt_path, settings=settings, version=_FORMAT,
                                    on_mismatch="refuse", fresh_hint="resume=False")
        except SettingsMismatch as err:
            raise ValueError(f"{err} (fit: a changed optimizer, learning rate, seed or model "
                             "cannot resume)") from None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history = History(state["history"])
        start_epoch = state["epoch"] + 1

    net: nn.Module = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(model)

    for epoch in range(start_epoch, epochs):
        model.train()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        elif loader.generator is not None and not isinstance(train_data, DataLoader):
            loader.generator.manual_seed(seed + epoch)
        sums: dict[str, float] = {}
        steps = 0
        bar = progress_bar(loader, enabled=progress and is_main_process() if progress is not None
                           else None, desc=f"{desc} {epoch + 1}/{epochs}")
        for batch in bar:
            loss, metrics = step_fn(net, batch)
            if regularizer is not None:
                reg = regularizer(model)
                loss = loss + reg
                metrics["reg"] = float(reg.detach())
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch}, step {steps}; lower the "
                    "learning rate or check the inputs for NaNs")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                metrics["grad_norm"] = float(
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
            if after_backward is not None:
                after_backward(model, metrics)
            opt.step()
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            steps += 1
            if hasattr(bar, "set_postfix") and steps % 10 == 0:
                bar.set_postfix(loss=f"{metrics.get('loss', float(loss.detach())):.4f}")
            if max_steps_per_epoch is not None and steps >= max_steps_per_epoch:
                break
        if sched is not None:
            sched.step()
        row = {k: v / max(steps, 1) for k, v in sums.items()}
        row["epoch"] = epoch
        if on_epoch_end is not None:
            model.eval()
            with torch.no_grad():
                row.update(on_epoch_end(epoch, model) or {})
        history.rows.append(row)
        if ckpt_path is not None and is_main_process():
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": torch.get_rng_state(),
                "history": history.rows,
                "epoch": epoch,
            }, settings=settings, version=_FORMAT)
    model.eval()
    return history


def train_eval(
    model: nn.Module,
    train_data: Dataset,
    test_data: Dataset,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool | None = None,
    desc: str = "train",
    checkpoint_dir: str | Path | None = None,
    regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
    scheduler: Any = None,
) -> dict[str, float]:
    """Train a classifier with :func:`fit` (Adam) and return its size and test accuracy.

    Returns ``{"params", "acc", "train_loss"}``. With ``checkpoint_dir`` the run resumes from
    that folder's checkpoint (settings are checked, see :func:`fit`).
    """
    from reprlab.eval import accuracy
    from reprlab.nets import count_params

    torch.manual_seed(seed)
    hist = fit(model, train_data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
               progress=progress, desc=desc, regularizer=regularizer, scheduler=scheduler,
               checkpoint_dir=checkpoint_dir, resume=checkpoint_dir is not None)
    return {"params": count_params(model), "acc": accuracy(model, test_data),
            "train_loss": hist.last().get("loss", float("nan"))}


def cosine_schedule(epochs: int) -> Callable[[torch.optim.Optimizer], Any]:
    """A scheduler factory for :func:`fit`: cosine decay of the lr over ``epochs`` epochs."""
    check_positive("epochs", epochs, integer=True)
    return lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
