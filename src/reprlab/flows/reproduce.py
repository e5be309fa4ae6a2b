"""``reprlab reproduce flows``: RG-Flow's claims on MNIST and Fashion-MNIST.

Quick run: images zero-padded to 32 then average-pooled to 16x16 (3 RG levels), 10 epochs
on 4,000 training images, a small RG-Flow (2 coupling layers per level, width 64). Full run:
32x32 padded images, the paper's RG-Flow (8, 6, 4, 2 layers, width 512, 4 residual blocks),
full Fashion-MNIST and the 5k MNIST train set, checkpointed in ``ctx.work_dir`` and resumed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reprlab.data import ImageDataset, load_dataset
from reprlab.flows import analysis as A
from reprlab.flows import functional as RF
from reprlab.flows.baseline import count_parameters, zuko_realnvp_matching
from reprlab.flows.modules import RGFlow
from reprlab.registry import register_method
from reprlab.report import Claim, MethodReport

__all__ = ["FlowsConfig", "QUICK_CONFIG", "FULL_CONFIG", "reproduce", "run"]

CLAIMS = (
    "bpd comparable to a Real NVP baseline of similar size (MNIST, Fashion-MNIST)",
    "Laplace prior gives sparser latents than Gaussian",
    "receptive fields grow about 2x per level",
    "inpainting touches O(log L) latents; inpainting MSE",
    "cross-scale mixing: coarse content follows the high-level latents",
)


@dataclass(frozen=True)
class FlowsConfig:
    """Everything a run of :func:`run` needs (see ``QUICK_CONFIG`` / ``FULL_CONFIG``)."""

    image_size: int = 16
    kernel_size: int = 4
    n_layers: tuple[int, ...] = (2, 2, 2)
    hidden: int = 64
    n_resblocks: int = 1
    n_mlp: int = 1
    baseline_transforms: int = 4
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    n_train: int | None = 4000
    n_test: int | None = 1000
    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-2
    clip_grad: float = 1.0
    n_rf: int = 6
    n_inpaint: int = 16
    inpaint_steps: int = 150
    n_mix: int = 6
    grad_checkpoint: bool = False
    touched_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    extra: dict = field(default_factory=dict)


QUICK_CONFIG = FlowsConfig()
FULL_CONFIG = FlowsConfig(
    image_size=32, n_layers=(8, 6, 4, 2), hidden=512, n_resblocks=4, n_mlp=2,
    n_train=None, n_test=None, epochs=93800, steps_per_epoch=5, n_rf=16, n_inpaint=100,
    inpaint_steps=500, n_mix=8, grad_checkpoint=True)
"""The paper's model and budget (~500 epochs of 60k images at batch 64), checkpointed every
5 steps (an "epoch" of the loop): one CPU step of this 90M-parameter model takes minutes."""


def _data(name: str, split: str, n: int | None, cfg: FlowsConfig, seed: int) -> ImageDataset:
    ds = load_dataset(name, split)
    ds = ds.subset(n, seed=seed)
    return A.pad_and_resize(ds, cfg.image_size)


def _rg(cfg: FlowsConfig, prior: str) -> RGFlow:
    return RGFlow(cfg.image_size, 1, kernel_size=cfg.kernel_size, n_layers=cfg.n_layers,
                  hidden=cfg.hidden, n_resblocks=cfg.n_resblocks, n_mlp=cfg.n_mlp, prior=prior,
                  grad_checkpoint=cfg.grad_checkpoint)


def _train(model, data, cfg: FlowsConfig, ctx, tag: str) -> tuple[list[float], float]:
    ckpt = None if ctx.quick else ctx.work_dir / tag
    start = time.perf_counter()
    hist = A.train_flow(model, data, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                        weight_decay=cfg.weight_decay, clip_grad=cfg.clip_grad,
                        max_steps_per_epoch=cfg.steps_per_epoch, checkpoint_dir=ckpt,
                        resume=not ctx.quick, seed=ctx.seed, progress=ctx.progress, desc=tag)
    seconds = time.perf_counter() - start
    n_seen = min(len(data), (cfg.steps_per_epoch or 10**9) * cfg.batch_size) * len(hist)
    return hist["bpd"], n_seen / max(seconds, 1e-9)


def _imshow_grid(rows: list[torch.Tensor], titles: list[str] | None = None,
                 scale: float = 1.1):
    """One row of images per tensor in ``rows`` (each (n, 1, H, W) in [0, 1])."""
    from reprlab.report.plots import plt

    ncol = max(r.shape[0] for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(ncol * scale, len(rows) * scale),
                             squeeze=False)
    for r, imgs in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.axis("off")
            if c < imgs.shape[0]:
                ax.imshow(imgs[c, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        if titles is not None and r < len(titles):
            axes[r, 0].set_title(titles[r], fontsize=7, loc="left")
    return fig


def run(ctx, config: FlowsConfig) -> MethodReport:
    """All claims for ``config``; ``ctx`` is a :class:`reprlab.reproduce.ReproduceContext`."""
    from reprlab.report.plots import plt

    cfg = config
    torch.manual_seed(ctx.seed)
    report = MethodReport("flows", config={**dataclasses.asdict(cfg),
                                           "data": "28x28 padded to 32"
                                           + ("" if cfg.image_size == 32
                                              else f", avg-pooled to {cfg.image_size}")})
    bpd_rows, curves, models = [], {}, {}
    for name in cfg.datasets:
        train = _data(name, "train", cfg.n_train, cfg, ctx.seed)
        test = _data(name, "test", cfg.n_test, cfg, ctx.seed + 1)
        priors = ("laplace", "gaussian") if name == cfg.datasets[0] else ("laplace",)
        for prior in priors:
            torch.manual_seed(ctx.seed)
            rg = _rg(cfg, prior)
            curve, ips = _train(rg, train, cfg, ctx, f"rg_{prior}_{name}")
            curves[f"RG-Flow ({prior}) {name}"] = curve
            models[(name, prior)] = rg
            bpd_rows.append({"dataset": name, "model": f"RG-Flow ({prior})",
                             "params": count_parameters(rg),
                             "test_bpd": A.evaluate_bpd(rg, test.images, seed=ctx.seed),
                             "train_images_per_s": ips})
        torch.manual_seed(ctx.seed)
        base = zuko_realnvp_matching((1, cfg.image_size, cfg.image_size),
                                     count_parameters(models[(name, "laplace")]),
                                     transforms=cfg.baseline_transforms)
        curve, ips = _train(base, train, cfg, ctx, f"zuko_realnvp_{name}")
        curves[f"zuko RealNVP {name}"] = curve
        models[(name, "zuko")] = base
        bpd_rows.append({"dataset": name, "model": f"zuko RealNVP (hidden {base.hidden})",
                         "params": count_parameters(base),
                         "test_bpd": A.evaluate_bpd(base, test.images, seed=ctx.seed),
                         "train_images_per_s": ips})
        models[(name, "test")] = test
    report.tables["bpd"] = bpd_rows

    fig, ax = plt.subplots(figsize=(5, 3))
    for label, c in curves.items():
        ax.plot(range(1, len(c) + 1), c, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("train bpd")
    ax.legend(fontsize=6)
    report.add_figure("Training curves", fig, "Mean train bits/dim per epoch, same budget.")

    # --- claim 1: bpd vs baseline
    for name in cfg.datasets:
        rg = next(r for r in bpd_rows if r["dataset"] == name and r["model"].endswith("(laplace)"))
        zb = next(r for r in bpd_rows if r["dataset"] == name and r["model"].startswith("zuko"))
        ratio = rg["test_bpd"] / zb["test_bpd"]
        verdict = ("reproduced" if ratio <= 1.05 else "partial" if ratio <= 1.15
                   else "not reproduced")
        report.claims.append(Claim(
            name=f"test bpd vs Real NVP baseline ({name})",
            paper_value="comparable to Real NVP at similar size (CelebA/CIFAR, no MNIST figure)",
            paper_dataset="CelebA 32x32 / CIFAR-10",
            measured_value={"rg_flow": round(rg["test_bpd"], 4),
                            "zuko_realnvp": round(zb["test_bpd"], 4),
                            "params": [rg["params"], zb["params"]]},
            measured_dataset=f"{name} test ({cfg.n_test or 'all'}), {cfg.image_size}x"
                             f"{cfg.image_size}",
            verdict=verdict,
            note=f"ratio RG/baseline {ratio:.3f}; reproduced if <= 1.05, partial <= 1.15. "
                 f"Both trained {cfg.epochs} epochs x {cfg.n_train or 'all'} images, AdamW "
                 f"lr {cfg.lr}, batch {cfg.batch_size}; baseline is zuko.flows.RealNVP "
                 f"({cfg.baseline_transforms} couplings) with width matched to the parameter "
                 "count." + (" Quick run: far from convergence." if ctx.quick else "")))

    # --- claim 2: sparsity
    d0 = cfg.datasets[0]
    test0 = models[(d0, "test")].images
    sp = {p: A.latent_sparsity(models[(d0, p)], test0, seed=ctx.seed)
          for p in ("laplace", "gaussian")}
    wins = (sp["laplace"]["hoyer"] > sp["gaussian"]["hoyer"],
            sp["laplace"]["kurtosis"] > sp["gaussian"]["kurtosis"])
    report.claims.append(Claim(
        name="Laplace prior gives sparser latents than Gaussian",
        paper_value="sparser latents, more disentangled (qualitative)",
        paper_dataset="CelebA / MSDS",
        measured_value={p: {k: round(v, 4) for k, v in s.items() if k != "std_by_level"}
                        for p, s in sp.items()},
        measured_dataset=f"{d0} test latents",
        verdict="reproduced" if all(wins) else "partial" if any(wins) else "not reproduced",
        note="Hoyer sparsity per image (i.i.d. Gaussian ~0.20, Laplace ~0.29) and pooled excess "
             "kurtosis (0 vs 3) of all latents scaled by their pooled std; two RG-Flows "
             "identical but for the prior, same budget."))
    import numpy as np

    fig, ax = plt.subplots(figsize=(4.5, 3))
    for p in ("laplace", "gaussian"):
        y, _ = RF.logit_preprocess(test0[:200], generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            z = models[(d0, p)](y)[0].flatten()
        ax.hist(np.clip(z.numpy(), -5, 5), bins=120, density=True, histtype="step", label=p,
                log=True)
    ax.set_xlabel("latent value")
    ax.legend()
    report.add_figure("Latent histograms by prior", fig,
                      f"All latents of 200 {d0} test images (log density).")

    # --- claim 3: receptive fields per level
    rg0 = models[(d0, "laplace")]
    with torch.no_grad():
        z_ref = rg0.encode(test0[:1])[0]
    rf_rows, rf_imgs, titles = [], [], []
    for h in range(rg0.n_levels):
        rf, pos = A.receptive_fields(rg0, z_ref, h, n=cfg.n_rf, seed=ctx.seed)
        sup, eff = A.receptive_field_sizes(rf)
        layout_sup = torch.stack([
            RF.structural_receptive_field(rg0.layout, rg0.image_size,
                                          _onehot(rg0.image_size, i, j)).sum()
            for _, i, j in pos]).float().sqrt()
        rf_rows.append({"level": h, "support_width": float(sup.mean()),
                        "effective_width": float(eff.mean()),
                        "structural_width": float(layout_sup.mean())})
        for k in range(min(4, rf.shape[0])):
            rf_imgs.append(rf[k] / rf[k].max())
            titles.append(f"level {h}")
    report.tables["receptive_fields"] = rf_rows
    eff = [r["effective_width"] for r in rf_rows]
    sup = [r["support_width"] for r in rf_rows]
    ratios_eff = [b / a for a, b in zip(eff[:-1], eff[1:], strict=True)]
    ratios_sup = [b / a for a, b in zip(sup[:-1], sup[1:], strict=True)]
    g_eff = math.exp(sum(map(math.log, ratios_eff)) / len(ratios_eff))
    verdict = ("reproduced" if 1.5 <= g_eff <= 2.7 else "partial" if g_eff > 1.2
               else "not reproduced")
    report.claims.append(Claim(
        name="receptive fields grow about 2x per level",
        paper_value="RF size grows with level like a CNN's (~2x per level by construction)",
        paper_dataset="CelebA 32x32",
        measured_value={"effective_width_by_level": [round(v, 2) for v in eff],
                        "support_width_by_level": [round(v, 2) for v in sup],
                        "mean_growth_effective": round(g_eff, 3),
                        "growth_support": [round(v, 3) for v in ratios_sup]},
        measured_dataset=f"{d0}, {cfg.n_rf} latents per level, autograd Jacobian",
        verdict=verdict,
        note="width = sqrt(area); support = pixels with |dx/dz| > 1e-6 max (set by the block "
             "layout), effective = pixels with |dx/dz| >= 1% of its max (learned); verdict on "
             "the geometric-mean growth of the effective width, reproduced if in [1.5, 2.7]. "
             "A flow initialised at the identity starts with 1-pixel fields, so the effective "
             "width needs training to grow. Periodic boundaries cap the support at the image; "
             f"{cfg.image_size}x{cfg.image_size} images have {rg0.n_levels} levels."))
    rf_stack = torch.stack(rf_imgs).unsqueeze(1)
    per = rf_stack.shape[0] // rg0.n_levels
    fig = _imshow_grid(list(rf_stack.split(per)), titles=titles[::per])
    report.add_figure("Receptive fields per level", fig,
                      "|d image / d latent| for random latents of each level (rows), trained "
                      f"RG-Flow (Laplace) on {d0}; each normalised to its max.")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(range(rg0.n_levels), eff, marker="o", label="effective (>=1% of max)")
    ax.plot(range(rg0.n_levels), sup, marker="s", label="support")
    ax.plot(range(rg0.n_levels), [eff[0] * 2 ** h for h in range(rg0.n_levels)], "k--",
            label="2x per level")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("level")
    ax.set_ylabel("RF width (px)")
    ax.legend(fontsize=7)
    report.add_figure("Receptive field width per level", fig, "Mean RF width per level.")

    # --- claim 4: inpainting + touched latents
    rows = A.touched_latent_counts(list(cfg.touched_sizes), kernel_size=cfg.kernel_size,
                                   hole=cfg.kernel_size, seed=ctx.seed)
    a, b, r2 = A.log_fit(rows)
    report.tables["touched_latents"] = rows
    L = cfg.image_size
    hole = L // 4
    mask = torch.zeros(L, L, dtype=torch.bool)
    mask[L // 2 - hole // 2:L // 2 + hole // 2, L // 2 - hole // 2:L // 2 + hole // 2] = True
    touched = RF.touched_latents(rg0.layout, L, mask)
    imgs = test0[:cfg.n_inpaint]
    mse, outs, moved_outside = {}, {}, 0.0
    for key, label in ((("laplace"), "rg_flow"), ("zuko", "zuko_realnvp")):
        out, change = A.inpaint(models[(d0, key)], imgs, mask, steps=cfg.inpaint_steps)
        outs[label] = out
        mse[label] = float(((out - imgs)[:, :, mask] ** 2).mean())
        if label == "rg_flow":
            moved_outside = float(change[0][~touched].max()) if (~touched).any() else 0.0
            moved_inside = float(change[0][touched].max())
    fill = imgs[:, :, ~mask].mean()
    mse["mean_fill"] = float(((fill - imgs[:, :, mask]) ** 2).mean())
    ok_count = r2 > 0.97 and rows[-1]["touched"] / rows[-1]["total"] < 0.05
    ok_mse = mse["rg_flow"] < mse["mean_fill"] and mse["rg_flow"] <= 1.1 * mse["zuko_realnvp"]
    report.claims.append(Claim(
        name="inpainting touches O(log L) latents",
        paper_value="O(log L) latents (vs O(L^2) for earlier flows)",
        paper_dataset="theory + CelebA",
        measured_value={"touched_by_L": {r["size"]: round(r["touched"], 1) for r in rows},
                        "fit_touched=a+b*log2L": [round(a, 1), round(b, 1), round(r2, 4)],
                        f"touched_at_{L}px": int(touched.sum()), "all_latents": L * L,
                        "max_change_untouched_latents": moved_outside,
                        "max_change_touched_latents": moved_inside},
        measured_dataset=f"{cfg.kernel_size}x{cfg.kernel_size} hole, K={cfg.kernel_size}, "
                         "16 random placements per L",
        verdict="reproduced" if ok_count else "partial",
        note="Structural count (any block on a path from the hole marks all its positions), "
             "checked on the trained model: latents outside the set do not move during "
             "inpainting. The per-level count saturates (~150-180), so the total grows linearly "
             "in log2 L; the fully connected zuko Real NVP touches all L^2."))
    report.claims.append(Claim(
        name="inpainting MSE on masked test digits",
        paper_value="plausible inpainting (qualitative)",
        paper_dataset="CelebA",
        measured_value={k: round(v, 5) for k, v in mse.items()},
        measured_dataset=f"{cfg.n_inpaint} {d0} test images, centre {hole}x{hole} hole",
        verdict="reproduced" if ok_mse else "partial" if mse["rg_flow"] < mse["mean_fill"]
        else "not reproduced",
        note=f"{cfg.inpaint_steps} Adam steps (lr 0.05) on the missing pixels' logits, "
             "maximising log p(image), known pixels fixed; MSE on missing pixels in [0, 1]. "
             "reproduced if RG-Flow beats a mean fill and is within 10% of the baseline flow."))
    n_show = min(6, imgs.shape[0])
    holed = imgs[:n_show].clone()
    holed[:, :, mask] = 0.5
    tmap = touched.float()[None, None]
    fig = _imshow_grid([imgs[:n_show], holed, outs["rg_flow"][:n_show],
                        outs["zuko_realnvp"][:n_show], tmap],
                       titles=["truth", "masked", "RG-Flow", "zuko RealNVP",
                               f"touched latents {int(touched.sum())}/{L * L}"])
    report.add_figure("Inpainting", fig, "Rows: truth, masked, RG-Flow, zuko Real NVP; last: "
                      "latent positions whose receptive field meets the hole.")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([r["size"] for r in rows], [r["touched"] for r in rows], marker="o",
            label="RG-Flow touched")
    ax.plot([r["size"] for r in rows], [r["total"] for r in rows], "k--", label="all (L^2)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("image side L")
    ax.legend(fontsize=7)
    report.add_figure("Touched latents vs image size", fig,
                      f"Latents whose receptive field meets a {cfg.kernel_size}x"
                      f"{cfg.kernel_size} hole.")

    # --- claim 5: cross-scale mixing
    n = cfg.n_mix
    coarse, fine = test0[:n], test0[n:2 * n]
    rows_img, follow = [coarse, fine], {}
    for cut in range(1, rg0.n_levels):
        mix = A.mix_scales(rg0, coarse, fine, cut)
        rows_img.append(mix)
        f = 2 ** cut
        lo = [F.avg_pool2d(t, f) for t in (mix, coarse, fine)]
        closer = ((lo[0] - lo[1]).pow(2).flatten(1).mean(1)
                  < (lo[0] - lo[2]).pow(2).flatten(1).mean(1)).float().mean()
        follow[f"cutoff_{cut}"] = float(closer)
    fig = _imshow_grid(rows_img, titles=["A (high levels)", "B (low levels)"]
                       + [f"mix: levels >= {c} from A, < {c} from B"
                          for c in range(1, rg0.n_levels)])
    report.add_figure("Cross-scale mixing", fig,
                      "Latents of levels >= cutoff from A, below from B, decoded.")
    frac = min(follow.values())
    report.claims.append(Claim(
        name="cross-scale mixing: coarse content follows the high-level latents",
        paper_value="mixing in the scaling direction keeps A's coarse and B's fine features",
        paper_dataset="CelebA",
        measured_value=follow,
        measured_dataset=f"{n} pairs of {d0} test images",
        verdict="reproduced" if frac >= 0.8 else "partial" if frac >= 0.5 else "not reproduced",
        note="fraction of mixes whose 2^cutoff-average-pooled image is closer to A's than to "
             "B's; reproduced if >= 0.8 for every cutoff."))
    samples = rg0.sample(16, temperature=0.7, generator=torch.Generator().manual_seed(0))
    report.add_figure("Samples", _imshow_grid(list(samples.detach().split(8))),
                      f"RG-Flow (Laplace) samples at temperature 0.7, {d0}.")
    return report


def _onehot(size: int, i: int, j: int) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[i, j] = True
    return m


@register_method("flows", summary="RG-Flow: hierarchical local normalizing flow, sparse prior",
                 paper="arXiv:2010.00029", claims=CLAIMS)
def reproduce(ctx, config: FlowsConfig | None = None) -> MethodReport:
    """Reproduce RG-Flow's claims (quick: 16x16, a few epochs; full: 32x32, paper model)."""
    return run(ctx, config or (QUICK_CONFIG if ctx.quick else FULL_CONFIG))
