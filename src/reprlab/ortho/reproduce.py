"""``reprlab reproduce ortho``: OCNN against the plain net and the kernel-orthogonality
baseline on a Fashion-MNIST subset with a small ResNet — accuracy, conv spectrum, filter
redundancy and PGD robustness (the CIFAR-100/ImageNet claims are "not run": the data is not
reachable offline).

OCNN and the kernel-orthogonality baseline are each run at their best λ from a sweep on a
validation split held out of the training images (one seed), then over ``n_seeds`` seeds;
both use the official layer set (``layers="official"``) and the official loss scale.
Every run is cached in ``ctx.store`` under its settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from reprlab.checkpoint import settings_hash
from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.data import ImageDataset, load_fashion_mnist
from reprlab.eval import accuracy, robust_accuracy
from reprlab.nets import resnet
from reprlab.ortho.modules import (
    OrthogonalRegularizer,
    layer_spectra,
    model_redundancy,
    regularized_layers,
)
from reprlab.registry import register_method
from reprlab.report import MethodReport
from reprlab.train import cosine_schedule, train_eval

__all__ = ["OrthoConfig", "TINY", "QUICK", "FULL", "CLAIMS", "run"]


@dataclass(frozen=True)
class OrthoConfig:
    """Experiment size, the λ grid of the validation sweep, and the PGD attack."""

    n_train: int | None = 2500
    n_val: int = 1000
    n_test: int | None = 2000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    widths: tuple[int, ...] = (8, 16, 32)
    blocks: tuple[int, ...] = (1, 1, 1)
    stem_stride: int = 2
    lambdas: tuple[float, ...] = (0.001, 0.01, 0.1, 0.5)
    pgd_eps: tuple[float, ...] = (0.02, 0.05)
    pgd_steps: int = 10
    n_attack: int = 300
    n_seeds: int = 3
    checkpoint_epochs: bool = False


TINY = OrthoConfig(n_train=300, n_val=200, n_test=300, epochs=1, batch_size=100, widths=(4, 8),
                   blocks=(1, 1), lambdas=(0.01, 0.1), pgd_eps=(0.05,), pgd_steps=2,
                   n_attack=100)
QUICK = OrthoConfig()
FULL = OrthoConfig(n_train=50000, n_val=10000, n_test=None, epochs=15, widths=(16, 32, 64),
                   blocks=(2, 2, 2), stem_stride=1, lambdas=(0.001, 0.01, 0.05, 0.1, 0.5),
                   n_attack=2000, checkpoint_epochs=True)

_DATASET = "Fashion-MNIST subset, small ResNet (see docs/ortho.md)"
_BEST = ("OCNN and the kernel-orthogonality baseline each at their best λ on a validation "
         "split (sweep, one seed), official layer set and loss scale")

CIFAR = ClaimSpec(name="up to +3% top-1 on CIFAR-100 (ResNet18) with OCNN", paper_value=0.03,
                  paper_dataset="CIFAR-100", dataset="—",
                  not_run="CIFAR-100 is not reachable offline")
IMAGENET = ClaimSpec(name="up to +1% top-1 on ImageNet with OCNN", paper_value=0.01,
                     paper_dataset="ImageNet", dataset="—",
                     not_run="ImageNet is not reachable offline")
ACC_PLAIN = ClaimSpec(
    name="OCNN improves accuracy over the plain net",
    paper_value="> plain", paper_dataset="CIFAR-100, ImageNet", dataset=_DATASET,
    criteria=(Criterion("gain", "OCNN − plain test accuracy", unit="points", reproduced=0.3,
                        partial=-0.5, null=0.0),),
    baseline="the plain net (same ResNet, optimiser, lr, epochs, data and seed)",
    control="—", min_seeds=3)
ACC_KERNEL = ClaimSpec(
    name="OCNN is more accurate than kernel orthogonality",
    paper_value="OCNN > kernel orthogonality", paper_dataset="CIFAR-100 (Table 2)",
    dataset=_DATASET,
    criteria=(Criterion("gain", "OCNN − kernel-orthogonality test accuracy", unit="points",
                        reproduced=0.3, partial=-0.5, null=0.0),),
    baseline="kernel orthogonality ‖K̃K̃ᵀ − I‖ on the same layers; " + _BEST,
    control="—", min_seeds=3)
SPECTRUM_PLAIN = ClaimSpec(
    name="flatter (more uniform) conv spectrum than plain training",
    paper_value="OCNN spectrum near-uniform", paper_dataset="ImageNet ResNet34 (Fig. 1b)",
    dataset=_DATASET,
    criteria=(Criterion("ratio", "spread (std/mean) of the exact singular values, OCNN / "
                        "plain, mean over the conv-loss layers", reproduced=0.8, partial=1.0,
                        higher_is_better=False, null=1.0),),
    baseline="the plain net", control="—", min_seeds=3)
SPECTRUM_KERNEL = ClaimSpec(
    name="flatter conv spectrum than kernel orthogonality",
    paper_value="OCNN < kernel orthogonality", paper_dataset="ImageNet ResNet34 (Fig. 1b)",
    dataset=_DATASET,
    criteria=(Criterion("ratio", "spectrum spread, OCNN / kernel orthogonality",
                        reproduced=0.9, partial=1.0, higher_is_better=False, null=1.0),),
    baseline=_BEST, control="—", min_seeds=3)
REDUNDANCY = ClaimSpec(
    name="lower filter redundancy than kernel orthogonality",
    paper_value="OCNN < kernel orthogonality < plain", paper_dataset="ImageNet (Fig. 1a, c)",
    dataset=_DATASET,
    criteria=(Criterion("diff", "OCNN − kernel orthogonality, mean |cosine| between the "
                        "filters of the conv-loss layers", reproduced=0.0,
                        higher_is_better=False, null=0.0),),
    baseline=_BEST, control="the plain net's redundancy (in the note)", min_seeds=3)
ROBUST = ClaimSpec(
    name="more robust to adversarial attacks",
    paper_value="OCNN > plain under attack", paper_dataset="CIFAR-10/100", dataset=_DATASET,
    criteria=(Criterion("gain", "OCNN − plain PGD accuracy (L∞, mean over ε)",
                        unit="points", reproduced=1.0, partial=0.0, null=0.0),),
    baseline="the plain net, attacked the same way (no adversarial training)",
    control="—", min_seeds=3)
CLAIMS = (CIFAR, IMAGENET, ACC_PLAIN, ACC_KERNEL, SPECTRUM_PLAIN, SPECTRUM_KERNEL, REDUNDANCY,
          ROBUST)


def _splits(cfg: OrthoConfig, seed: int) -> tuple[ImageDataset, ImageDataset, ImageDataset]:
    full = load_fashion_mnist("train")
    n = None if cfg.n_train is None else cfg.n_train + cfg.n_val
    pool = full.subset(n, seed=seed, balanced=True)
    perm = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:cfg.n_val], perm[cfg.n_val:]
    train = ImageDataset(pool.images[train_idx], pool.labels[train_idx], pool.name)
    val = ImageDataset(pool.images[val_idx], pool.labels[val_idx], pool.name)
    test = load_fashion_mnist("test").subset(cfg.n_test, seed=seed + 1, balanced=True)
    return train, val, test


def _to(data: ImageDataset, ctx: Any) -> ImageDataset:
    if ctx.device.type == "cpu" and ctx.dtype == torch.float32:
        return data
    return ImageDataset(data.images.to(ctx.device, ctx.dtype), data.labels.to(ctx.device),
                        data.name)


def _diagnose(model: nn.Module, test: ImageDataset, cfg: OrthoConfig,
              attack: bool) -> dict[str, Any]:
    """Spectrum spread and redundancy over the conv-loss layers, orthogonality losses and
    (when asked) PGD accuracy."""
    conv_layers = {n for n, _, k in regularized_layers(model) if k == "conv"}
    spectra = layer_spectra(model, test.images.shape[-2:], select=lambda n, m: n in conv_layers)
    redund = model_redundancy(model, select=lambda n, m: n in conv_layers)
    out: dict[str, Any] = {
        "spread": float(np.mean([s["spread"] for s in spectra.values()])),
        "redundancy": float(np.mean(list(redund.values()))),
        "spectra": {k: v["singular_values"].float().cpu() for k, v in spectra.items()},
    }
    with torch.no_grad():
        for kind in ("conv", "kernel"):
            out[f"orth_loss_{kind}"] = float(OrthogonalRegularizer(model, 1.0, kind=kind)())
    if attack:
        x, y = test.images[:cfg.n_attack], test.labels[:cfg.n_attack]
        out["robust_acc"] = {f"{eps:g}": robust_accuracy(model, (x, y), attack="pgd", eps=eps,
                                                         steps=cfg.pgd_steps)
                             for eps in cfg.pgd_eps}
    return out


def _fit_args(cfg: Any) -> dict[str, Any]:
    """Adam with a per-epoch cosine decay of the lr (the official scripts decay theirs: a
    constant lr makes the last epoch's accuracy noisy)."""
    return {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "scheduler": cosine_schedule(cfg.epochs)}


class _Runner:
    def __init__(self, ctx: Any, cfg: OrthoConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        train, val, test = _splits(cfg, ctx.seed)
        self.train, self.val, self.test = _to(train, ctx), _to(val, ctx), _to(test, ctx)
        self.bar = ctx.bar(total=None, desc="ortho runs", unit="run")

    def make(self, seed: int) -> nn.Module:
        cfg = self.cfg
        torch.manual_seed(seed)
        model = resnet(cfg.widths, cfg.blocks, stem_stride=cfg.stem_stride)
        return model.to(self.ctx.device, self.ctx.dtype)

    def fit(self, kind: str, lam: float, seed: int) -> dict[str, Any]:
        """Train one net (kind "plain", "conv" (OCNN) or "kernel") and diagnose it."""
        ctx, cfg = self.ctx, self.cfg
        name = f"{kind}-lam{lam:g}-s{seed}"

        def compute() -> dict[str, Any]:
            model = self.make(seed)
            reg = None if kind == "plain" else OrthogonalRegularizer(model, lam, kind=kind)
            ckpt = None
            if cfg.checkpoint_epochs:
                ckpt = ctx.store.subfolder(f"{name}-{settings_hash(ctx.settings())[:10]}")
            res = train_eval(model, self.train, self.test, **_fit_args(cfg), seed=seed,
                             progress=ctx.progress, desc=name, checkpoint_dir=ckpt,
                             regularizer=reg)
            out = {"acc": float(res["acc"]), "val_acc": accuracy(model, self.val)}
            out.update(_diagnose(model, self.test, cfg, attack=kind != "kernel"))
            return out

        result = ctx.store.cached(name, compute)
        if hasattr(self.bar, "update"):
            self.bar.update(1)
        return result

    def init(self) -> dict[str, Any]:
        return self.ctx.store.cached(
            "init", lambda: _diagnose(self.make(self.ctx.seed), self.test, self.cfg,
                                      attack=False))


def _figure(runs: dict[str, dict[str, Any]]) -> Any:
    from reprlab.report.plots import plt

    layers = list(runs["plain"]["spectra"])
    layer = next((k for k in layers if "layer2" in k), layers[0])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    for name, style in (("init", ":"), ("plain", "-"), ("kernel orth.", "--"), ("OCNN", "-")):
        sv = runs[name]["spectra"][layer].numpy()
        axes[0].plot(np.arange(len(sv)) / len(sv), sv, style, label=name)
        axes[1].hist(sv, bins=40, alpha=0.5, label=name, density=True)
    axes[0].set_xlabel("rank (fraction)")
    axes[0].set_ylabel("singular value")
    axes[0].set_title(f"spectrum of {layer}")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("singular value")
    axes[1].set_title("histogram")
    axes[1].legend(fontsize=8)
    return fig


def _pts(x: float) -> float:
    return round(100 * x, 2)


@register_method(
    "ortho", summary="Orthogonal convolutions (OCNN) as a regulariser for any conv net",
    paper="arXiv:1911.12207", claims=CLAIMS,
    configs={"tiny": TINY, "quick": QUICK, "full": FULL},
    seconds={"tiny": 10, "quick": 65, "full": 4000})
def run(ctx: Any, cfg: OrthoConfig) -> MethodReport:
    """Reproduce the OCNN claims on Fashion-MNIST (see the module docstring)."""
    report = ctx.new_report()
    runner = _Runner(ctx, cfg)
    seeds = ctx.seeds(cfg.n_seeds)
    s0 = seeds[0]
    dataset = (f"Fashion-MNIST ({len(runner.train)} train / {len(runner.val)} validation / "
               f"{len(runner.test)} test, {cfg.epochs} epochs; ResNet widths {cfg.widths}, "
               f"blocks {cfg.blocks})")

    # λ sweep on the validation split, seed s0, for OCNN and the kernel baseline
    sweep = {kind: {lam: runner.fit(kind, lam, s0)["val_acc"] for lam in cfg.lambdas}
             for kind in ("conv", "kernel")}
    best = {kind: max(cfg.lambdas, key=lambda lam, k=kind: (sweep[k][lam], -lam))
            for kind in sweep}

    per: dict[str, list[dict[str, Any]]] = {"plain": [], "conv": [], "kernel": []}
    for s in seeds:
        per["plain"].append(runner.fit("plain", 0.0, s))
        per["conv"].append(runner.fit("conv", best["conv"], s))
        per["kernel"].append(runner.fit("kernel", best["kernel"], s))
    if hasattr(runner.bar, "close"):
        runner.bar.close()

    def paired(key: str, a: str, b: str, fn: Any) -> tuple[list[float], dict[str, Any]]:
        vals = [fn(x[key], y[key]) for x, y in zip(per[a], per[b], strict=True)]
        return vals, {f"seed {s}": round(v, 4) for s, v in zip(seeds, vals, strict=True)}

    def mean(kind: str, key: str) -> float:
        return float(np.mean([r[key] for r in per[kind]]))

    lam_note = (f"best λ on validation: OCNN {best['conv']:g}, kernel orthogonality "
                f"{best['kernel']:g} (grid {list(cfg.lambdas)})")
    report.add(CIFAR.skip())
    report.add(IMAGENET.skip())

    gain, det = paired("acc", "conv", "plain", lambda a, b: _pts(a - b))
    report.add(ACC_PLAIN.judge(Measured.from_seeds(gain, detail=det), dataset=dataset,
                               note=f"OCNN {100 * mean('conv', 'acc'):.2f}% vs plain "
                                    f"{100 * mean('plain', 'acc'):.2f}%; {lam_note}"))
    gain_k, det = paired("acc", "conv", "kernel", lambda a, b: _pts(a - b))
    report.add(ACC_KERNEL.judge(Measured.from_seeds(gain_k, detail=det), dataset=dataset,
                                note=f"OCNN {100 * mean('conv', 'acc'):.2f}% vs kernel "
                                     f"orthogonality {100 * mean('kernel', 'acc'):.2f}%"))
    ratio, det = paired("spread", "conv", "plain", lambda a, b: a / b)
    report.add(SPECTRUM_PLAIN.judge(
        Measured.from_seeds(ratio, detail=det), dataset=dataset,
        note=f"spread OCNN {mean('conv', 'spread'):.3f}, plain {mean('plain', 'spread'):.3f}, "
             f"kernel orthogonality {mean('kernel', 'spread'):.3f} (exact circular-padding "
             "singular values, Sedghi et al. 2019)"))
    ratio_k, det = paired("spread", "conv", "kernel", lambda a, b: a / b)
    report.add(SPECTRUM_KERNEL.judge(Measured.from_seeds(ratio_k, detail=det), dataset=dataset,
                                     note=f"spread OCNN {mean('conv', 'spread'):.3f} vs kernel "
                                          f"orthogonality {mean('kernel', 'spread'):.3f}"))
    diff, det = paired("redundancy", "conv", "kernel", lambda a, b: a - b)
    r_conv, r_kern, r_plain = (mean(k, "redundancy") for k in ("conv", "kernel", "plain"))
    lowest = min((r_conv, "OCNN"), (r_kern, "kernel orthogonality"), (r_plain, "plain"))[1]
    report.add(REDUNDANCY.judge(
        Measured.from_seeds(diff, detail=det), dataset=dataset,
        note=f"mean |cos|: OCNN {r_conv:.4f}, kernel orthogonality {r_kern:.4f}, plain "
             f"{r_plain:.4f}; lowest: {lowest}"))
    rob = [_pts(float(np.mean([c["robust_acc"][e] - p["robust_acc"][e]
                               for e in c["robust_acc"]])))
           for c, p in zip(per["conv"], per["plain"], strict=True)]
    table = {f"ε={e}": {"OCNN": _pts(float(np.mean([r["robust_acc"][e] for r in per["conv"]]))),
                        "plain": _pts(float(np.mean([r["robust_acc"][e]
                                                     for r in per["plain"]])))}
             for e in per["conv"][0]["robust_acc"]}
    report.add(ROBUST.judge(Measured.from_seeds(rob, detail=table), dataset=dataset,
                            note=f"PGD L∞, {cfg.pgd_steps} steps, random start, on "
                                 f"{cfg.n_attack} test images; mean over seeds in the table"))

    def row(name: str, rs: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ("acc", "val_acc", "spread", "redundancy", "orth_loss_conv", "orth_loss_kernel")
        return {"run": name, **{k: round(float(np.mean([r[k] for r in rs])), 4) for k in keys}}

    init = runner.init()
    report.tables["runs (mean over seeds)"] = [
        {"run": "init", **{k: round(init[k], 4) for k in ("spread", "redundancy",
                                                          "orth_loss_conv",
                                                          "orth_loss_kernel")}},
        row("plain", per["plain"]), row(f"OCNN λ={best['conv']:g}", per["conv"]),
        row(f"kernel orth. λ={best['kernel']:g}", per["kernel"])]
    report.tables["λ sweep (validation accuracy, one seed)"] = [
        {"λ": lam, "OCNN": round(sweep["conv"][lam], 4),
         "kernel orth.": round(sweep["kernel"][lam], 4)} for lam in cfg.lambdas]
    report.results = {"best_lambda": best, "sweep_val_acc": {k: {f"{lam:g}": v for lam, v in
                                                                 d.items()}
                                                             for k, d in sweep.items()}}
    report.add_figure("conv spectrum at init, plain, kernel orthogonality and OCNN",
                      _figure({"init": init, "plain": per["plain"][0],
                               "kernel orth.": per["kernel"][0], "OCNN": per["conv"][0]}),
                      "Exact singular values of one conv-loss layer (seed 0).")
    v = {c.name: c.verdict for c in report.claims}
    report.summary = (f"OCNN − plain {np.mean(gain):+.1f} points ({v[ACC_PLAIN.name]}), "
                      f"− kernel orth. {np.mean(gain_k):+.1f} ({v[ACC_KERNEL.name]}); spectrum "
                      f"spread ×{np.mean(ratio):.2f} vs plain; lowest redundancy: {lowest}")
    return report
