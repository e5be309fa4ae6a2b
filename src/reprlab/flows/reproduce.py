"""``reprlab reproduce flows``: RG-Flow's claims (arXiv:2010.00029) on MNIST.

Per seed an RG-Flow (Laplace prior) and a parameter-matched zuko Real NVP are trained with
the official recipe on the same images; the claims are then measured on held-out digits:
bits/dim against Real NVP, receptive-field growth per level, inpainting quality against the
mean-image fill and Real NVP, scale disentanglement (latents mixed level by level against a
random partition of the same size) and the cost of local inpainting per step as the image
grows (a timing of both inpainting paths on the same flow). Quick: 16x16 (28 padded to 32,
average-pooled), a small RG-Flow; full: 32x32 and the paper's model, checkpointed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.data import ImageDataset, load_dataset
from reprlab.flows import analysis as A
from reprlab.flows import functional as RF
from reprlab.flows.baseline import count_parameters, zuko_realnvp_matching
from reprlab.flows.inpainting import inpaint, scaling_benchmark
from reprlab.flows.modules import RGFlow
from reprlab.registry import register_method
from reprlab.report import MethodReport

__all__ = ["FlowsConfig", "TINY", "QUICK", "FULL", "CLAIMS", "run"]


@dataclass(frozen=True)
class FlowsConfig:
    """Everything a run of :func:`run` needs (see ``TINY`` / ``QUICK`` / ``FULL``)."""

    n_seeds: int = 3
    dataset: str = "mnist"
    image_size: int = 16
    kernel_size: int = 4
    n_layers: tuple[int, ...] = (2, 2, 2)
    hidden: int = 64
    n_resblocks: int = 1
    n_mlp: int = 1
    baseline_transforms: int = 4
    n_train: int | None = 2000
    n_test: int | None = 500
    epochs: int = 4
    steps_per_epoch: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-2
    clip_grad: float = 1.0
    grad_checkpoint: bool = False
    n_rf: int = 6
    n_inpaint: int = 32
    inpaint_steps: int = 100
    n_mix: int = 32
    bench_sizes: tuple[int, ...] = (16, 32, 64, 128)
    bench_hidden: int = 512
    bench_batch: int = 4
    bench_steps: int = 3


QUICK = FlowsConfig()
TINY = FlowsConfig(dataset="digits", image_size=8, n_layers=(1, 1), hidden=8, n_train=96,
                   n_test=32, epochs=1, batch_size=32, baseline_transforms=2, n_rf=2, n_inpaint=4,
                   inpaint_steps=3, n_mix=4, bench_sizes=(8, 16, 32), bench_hidden=16,
                   bench_batch=1, bench_steps=2)
FULL = FlowsConfig(
    image_size=32, n_layers=(8, 6, 4, 2), hidden=512, n_resblocks=4, n_mlp=2, n_train=None,
    n_test=2000, epochs=93800, steps_per_epoch=5, n_rf=16, n_inpaint=100, inpaint_steps=500,
    n_mix=64, grad_checkpoint=True, bench_steps=10)
"""The paper's model and budget (~500 epochs of 60k images at batch 64), checkpointed every
5 steps (an "epoch" of the loop): one CPU step of this 90M-parameter model takes minutes."""

BPD = ClaimSpec(
    name="test bpd comparable to a Real NVP of similar size",
    paper_value="comparable to Real NVP at similar size (CelebA/CIFAR; no MNIST figure)",
    paper_dataset="CelebA 32x32 / CIFAR-10",
    dataset="MNIST test",
    criteria=(Criterion("ratio", "RG-Flow / Real NVP test bits/dim", reproduced=1.05,
                        partial=1.15, higher_is_better=False),),
    baseline="zuko.flows.RealNVP (fully connected couplings), width matched to the RG-Flow's "
             "parameter count, same preprocessing, data, optimiser (AdamW lr 1e-3, wd 5e-2, "
             "clip 1) and budget",
    min_seeds=3)
RF_GROWTH = ClaimSpec(
    name="receptive fields grow about 2x per level",
    paper_value="RF size grows with level like a CNN's (2x per level)",
    paper_dataset="CelebA 32x32",
    dataset="MNIST, autograd Jacobian of random latents per level",
    criteria=(Criterion("growth_min", "geometric-mean growth of the effective RF width",
                        reproduced=1.5, partial=1.2),
              Criterion("growth_max", "geometric-mean growth of the effective RF width",
                        reproduced=2.7, partial=3.5, higher_is_better=False)),
    control="a flow at its identity initialisation has 1-pixel effective fields (growth 1)",
    min_seeds=3)
LOCAL = ClaimSpec(
    name="inpainting costs O(log L) per step (local), against O(L^2) for the whole flow",
    paper_value="O(log L) per step for a fixed hole vs O(L^2) for earlier flows",
    paper_dataset="theory + CelebA",
    dataset="a fixed 4x4 hole at the centre of L x L images, L = 32 → 128",
    criteria=(Criterion("local_growth", "local step time at L = 128 / at L = 32",
                        reproduced=3.0, partial=6.0, higher_is_better=False),
              Criterion("whole_growth", "whole-flow step time at L = 128 / at L = 32 "
                        "(control: the timing resolves L² work)", reproduced=4.0)),
    baseline="inpaint(local=False): the whole flow forward and backward every step (same "
             "flow, same objective and Adam steps)",
    control="the whole-flow path's growth (16x in work from L = 32 to 128)")
QUALITY = ClaimSpec(
    name="inpainting beats the mean-image fill and matches Real NVP",
    paper_value="plausible inpainting (qualitative)",
    paper_dataset="CelebA",
    dataset="MNIST test digits, centre L/4 x L/4 hole",
    criteria=(Criterion("vs_mean", "1 − MSE(RG-Flow) / MSE(mean-image fill)",
                        reproduced=0.1, partial=0.0, null=0.0),
              Criterion("vs_realnvp", "1 − MSE(RG-Flow) / MSE(Real NVP)",
                        reproduced=-0.05, partial=-0.15)),
    baseline="the per-pixel mean training image in the hole; the Real NVP above inpainted "
             "the same way (whole flow, same steps and learning rate)",
    control="the mean-image fill (no model)",
    min_seeds=3)
DISENTANGLE = ClaimSpec(
    name="latents disentangle scales: each scale of a level-mix follows its source",
    paper_value="mixing latents by level keeps A's coarse and B's fine features (figures)",
    paper_dataset="CelebA",
    dataset="pairs of MNIST test digits",
    criteria=(Criterion("score", "scale-following score of level mixes (0.5 = none)",
                        reproduced=0.75, partial=0.6),
              Criterion("effect", "level-mix score − random-partition score",
                        reproduced=0.1, partial=0.0, null=0.0)),
    baseline="—",
    control="latents mixed by a random partition with as many latents from A as the level "
            "mix (same flow, same pairs)",
    min_seeds=3)
CLAIMS = (BPD, RF_GROWTH, LOCAL, QUALITY, DISENTANGLE)


def _data(cfg: FlowsConfig, split: str, n: int | None, seed: int) -> ImageDataset:
    return A.pad_and_resize(load_dataset(cfg.dataset, split).subset(n, seed=seed),
                            cfg.image_size)


def _rg(cfg: FlowsConfig) -> RGFlow:
    return RGFlow(cfg.image_size, 1, kernel_size=cfg.kernel_size, n_layers=cfg.n_layers,
                  hidden=cfg.hidden, n_resblocks=cfg.n_resblocks, n_mlp=cfg.n_mlp,
                  prior="laplace", grad_checkpoint=cfg.grad_checkpoint)


def _hole(size: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    h = max(1, size // 4)
    c = size // 2 - h // 2
    mask[c:c + h, c:c + h] = True
    return mask


def _one_seed(cfg: FlowsConfig, seed: int, ctx) -> dict:
    """Train both flows on one seed's data and measure everything judged per seed."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    train = _data(cfg, "train", cfg.n_train, seed)
    test = _data(cfg, "test", cfg.n_test, seed + 1000).images
    models: dict[str, torch.nn.Module] = {}
    out: dict = {"curves": {}}
    for tag in ("rg", "nvp"):
        torch.manual_seed(seed)
        model = _rg(cfg) if tag == "rg" else zuko_realnvp_matching(
            (1, cfg.image_size, cfg.image_size), count_parameters(models["rg"]),
            transforms=cfg.baseline_transforms)
        ckpt = None if ctx.quick else ctx.store.subfolder(f"{tag}-seed{seed}")
        hist = A.train_flow(model, train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                            lr=cfg.lr, weight_decay=cfg.weight_decay, clip_grad=cfg.clip_grad,
                            max_steps_per_epoch=cfg.steps_per_epoch, checkpoint_dir=ckpt,
                            resume=ckpt is not None, seed=seed, progress=ctx.progress,
                            desc=f"flows {tag} seed {seed}")
        models[tag] = model.eval()
        out["curves"][tag] = list(hist["bpd"])
        out[f"bpd_{tag}"] = A.evaluate_bpd(model, test, seed=seed)
        out[f"params_{tag}"] = count_parameters(model)
        lap(f"train+bpd {tag}")
    rg = models["rg"]
    # receptive fields per level (effective width: |J| >= 1% of its max)
    with torch.no_grad():
        z_ref = rg.encode(test[:1])[0]
    eff, sup = [], []
    for h in range(rg.n_levels):
        field, _ = A.receptive_fields(rg, z_ref, h, n=cfg.n_rf, seed=seed)
        s_, e_ = A.receptive_field_sizes(field)
        eff.append(float(e_.mean()))
        sup.append(float(s_.mean()))
    lap("receptive fields")
    growth = [b / a for a, b in zip(eff[:-1], eff[1:], strict=True)]
    out["rf_effective"], out["rf_support"] = eff, sup
    out["rf_growth"] = math.exp(sum(map(math.log, growth)) / len(growth))
    # inpainting quality
    mask = _hole(cfg.image_size)
    imgs = test[:cfg.n_inpaint]
    mse = {}
    for tag, local in (("rg", True), ("nvp", False)):
        filled, change = inpaint(models[tag], imgs, mask, steps=cfg.inpaint_steps,
                                 local=local)
        mse[tag] = float(((filled - imgs)[:, :, mask] ** 2).mean())
        if tag == "rg":
            touched = RF.touched_latents(rg.layout, cfg.image_size, mask)
            outside = change[0][~touched]
            out["moved_outside_touched"] = float(outside.max()) if outside.numel() else 0.0
            out["example"] = filled[:6].clone()
    mean_img = train.images.mean(0, keepdim=True)
    mse["mean"] = float(((mean_img.expand_as(imgs) - imgs)[:, :, mask] ** 2).mean())
    out["mse"] = mse
    lap("inpainting")
    # scale disentanglement: level mixes vs random partitions of the same size
    n = cfg.n_mix
    pa, pb = test[n:2 * n], test[2 * n:3 * n]
    g = torch.Generator().manual_seed(seed)
    lv, rnd = [], []
    for cut in range(1, rg.n_levels):
        high = rg.levels >= cut
        lv.append(A.scale_following(rg, pa, pb, high, cut))
        perm = torch.randperm(high.numel(), generator=g)[:int(high.sum())]
        rmask = torch.zeros(high.numel(), dtype=torch.bool)
        rmask[perm] = True
        rnd.append(A.scale_following(rg, pa, pb, rmask.view_as(high), cut))
    out["mix_level"], out["mix_random"] = lv, rnd
    out["mix_example"] = [A.mix_scales(rg, pa[:6], pb[:6], cut) for cut in
                          range(1, rg.n_levels)] + [pa[:6], pb[:6]]
    out["state"] = {k: v.detach().clone() for k, v in rg.state_dict().items()}
    lap("mixing")
    out["seconds"] = seconds
    return out


def _imshow_grid(rows: list[torch.Tensor], titles: list[str] | None = None,
                 scale: float = 1.1):
    """One image per row: the tensors of ``rows`` (each (n, 1, H, W) in [0, 1]) side by side
    (one matplotlib axis per row keeps figures cheap)."""
    from reprlab.report.plots import plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(max(r.shape[0] for r in rows) * scale,
                                                    len(rows) * scale), squeeze=False)
    for r, imgs in enumerate(rows):
        x = F.pad(imgs.detach().cpu().float(), (1, 1, 1, 1), value=1.0)
        strip = torch.cat(list(x[:, 0]), dim=1)
        ax = axes[r, 0]
        ax.imshow(strip.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
        if titles is not None and r < len(titles):
            ax.set_title(titles[r], fontsize=7, loc="left")
    return fig


@register_method("flows", summary="RG-Flow: hierarchical local normalizing flow, sparse prior",
                 paper="arXiv:2010.00029", claims=CLAIMS,
                 configs={"tiny": TINY, "quick": QUICK, "full": FULL},
                 seconds={"tiny": 16, "quick": 90, "full": 36000})
def run(ctx, cfg: FlowsConfig) -> MethodReport:
    """All claims for ``cfg`` over ``cfg.n_seeds`` seeds."""
    from reprlab.report.plots import plt

    report = ctx.new_report()
    seeds = ctx.seeds(cfg.n_seeds)
    per = [ctx.store.cached(f"seed{s}", lambda s=s: _one_seed(cfg, s, ctx)) for s in seeds]

    def m(fn) -> Measured:
        return Measured.from_seeds([fn(r) for r in per])

    def by_seed(fn) -> dict:
        return {f"seed {s}": fn(r) for s, r in zip(seeds, per, strict=True)}

    size = f"{cfg.image_size}x{cfg.image_size}"
    ratio = m(lambda r: r["bpd_rg"] / r["bpd_nvp"])
    report.add(BPD.judge(
        ratio, dataset=f"{cfg.dataset} test ({cfg.n_test or 'all'} images), {size}",
        note=f"RG-Flow {per[0]['params_rg']:,} params vs Real NVP {per[0]['params_nvp']:,}; "
             f"{cfg.epochs} epochs x {cfg.n_train or 'all'} images each"
             + (" (quick: far from convergence)" if ctx.quick else ""),
        detail=by_seed(lambda r: {"RG-Flow": round(r["bpd_rg"], 3),
                                  "Real NVP": round(r["bpd_nvp"], 3)})))
    growth = m(lambda r: r["rf_growth"])
    report.add(RF_GROWTH.judge(
        {"growth_min": growth, "growth_max": growth},
        dataset=f"{cfg.dataset}, {cfg.n_rf} latents per level, {size}",
        note="width = sqrt(area) of pixels with |dx/dz| >= 1% of its max (learned); the "
             "support (|dx/dz| > 1e-6 max, set by the block layout) is in the results.",
        detail=by_seed(lambda r: {f"level {h}": round(w, 2)
                                  for h, w in enumerate(r["rf_effective"])})))
    rows = scaling_benchmark(cfg.bench_sizes, hole=cfg.kernel_size,
                             kernel_size=cfg.kernel_size, hidden=cfg.bench_hidden,
                             batch=cfg.bench_batch, steps=cfg.bench_steps, seed=ctx.seed)
    t = {r["size"]: r for r in rows}
    lo, hi = (32, 128) if {32, 128} <= set(t) else (cfg.bench_sizes[1], cfg.bench_sizes[-1])
    lg = t[hi]["local_step"] / t[lo]["local_step"]
    wg = t[hi]["whole_step"] / t[lo]["whole_step"]
    report.add(LOCAL.judge(
        {"local_growth": Measured(lg), "whole_growth": Measured(wg)},
        dataset=f"fixed {cfg.kernel_size}x{cfg.kernel_size} hole, L = {lo} → {hi}, "
                f"RG-Flow width {cfg.bench_hidden}, batch {cfg.bench_batch}",
        note=f"median wall seconds per step over {cfg.bench_steps} steps (shared CPU: noisy). "
             f"The local path evaluates {int(t[hi]['local_blocks'])} blocks per step at L = "
             f"{hi} against {int(t[hi]['whole_blocks'])}; it needs one full forward pass "
             f"first ({t[hi]['local_setup']:.2f} s at L = {hi}). On the trained flows, latents "
             "outside the touched set moved by at most "
             f"{max(r['moved_outside_touched'] for r in per):.1e}.",
        detail={f"L = {r['size']}": {"local ms": round(1e3 * r["local_step"], 1),
                                     "whole ms": round(1e3 * r["whole_step"], 1),
                                     "local blocks": int(r["local_blocks"]),
                                     "whole blocks": int(r["whole_blocks"])}
                for r in rows}))
    vs_mean = m(lambda r: 1 - r["mse"]["rg"] / r["mse"]["mean"])
    vs_nvp = m(lambda r: 1 - r["mse"]["rg"] / r["mse"]["nvp"])
    report.add(QUALITY.judge(
        {"vs_mean": vs_mean, "vs_realnvp": vs_nvp},
        dataset=f"{cfg.n_inpaint} {cfg.dataset} test digits per seed, {size}, centre "
                f"{_hole(cfg.image_size).sum().item()}-pixel hole",
        note=f"{cfg.inpaint_steps} Adam steps (lr 0.05) on the missing pixels' logits "
             "maximising log p(image), known pixels fixed; MSE on the missing pixels in "
             "[0, 1].",
        detail=by_seed(lambda r: {k: round(v, 4) for k, v in
                                  (("RG-Flow", r["mse"]["rg"]), ("Real NVP", r["mse"]["nvp"]),
                                   ("mean image", r["mse"]["mean"]))})))
    score = m(lambda r: sum(r["mix_level"]) / len(r["mix_level"]))
    effect = m(lambda r: (sum(r["mix_level"]) - sum(r["mix_random"])) / len(r["mix_level"]))
    report.add(DISENTANGLE.judge(
        {"score": score, "effect": effect},
        dataset=f"{cfg.n_mix} pairs of {cfg.dataset} test digits per seed, cutoffs 1.."
                f"{len(per[0]['mix_level'])}",
        note="score: ½ (share of the coarse (2^cutoff-pooled) distance that puts the mix "
             "nearer A + share of the fine (residual) distance nearer B), averaged over "
             "pairs and cutoffs.",
        detail=by_seed(lambda r: {"level mix": round(sum(r["mix_level"])
                                                     / len(r["mix_level"]), 3),
                                  "random partition": round(sum(r["mix_random"])
                                                            / len(r["mix_random"]), 3)})))

    # figures (first seed)
    r0 = per[0]
    fig, ax = plt.subplots(figsize=(5, 3))
    for tag, label in (("rg", "RG-Flow (Laplace)"), ("nvp", "zuko Real NVP")):
        c = r0["curves"][tag]
        ax.plot(range(1, len(c) + 1), c, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("train bpd")
    ax.legend(fontsize=7)
    report.add_figure("Training curves", fig, "Mean train bits/dim per epoch, first seed.")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([r["size"] for r in rows], [1e3 * r["local_step"] for r in rows], marker="o",
            label="local (inpaint default)")
    ax.plot([r["size"] for r in rows], [1e3 * r["whole_step"] for r in rows], marker="s",
            label="whole flow")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("image side L")
    ax.set_ylabel("ms per step")
    ax.legend(fontsize=7)
    report.add_figure("Inpainting step time vs image size", fig,
                      f"Fixed {cfg.kernel_size}x{cfg.kernel_size} hole; same flow, same "
                      "steps.")
    mix = r0["mix_example"]
    report.add_figure("Cross-scale mixing", _imshow_grid(
        [mix[-2], mix[-1], *mix[:-2]],
        titles=["A", "B"] + [f"levels >= {c} from A, < {c} from B"
                             for c in range(1, len(mix) - 1)]),
        "Latents of levels >= cutoff from A, the rest from B, decoded (first seed).")
    report.add_figure("Inpainting", _imshow_grid([r0["example"]], titles=["RG-Flow (local)"]),
                      "Inpainted test digits, first seed.")
    report.results["per_seed"] = [{k: v for k, v in r.items()
                                   if k not in ("state", "example", "mix_example")}
                                  for r in per]
    report.results["step_times"] = rows
    report.summary = (f"bpd ratio RG/RealNVP {ratio.value:.3f}; RF growth "
                      f"{growth.value:.2f}x/level; local inpainting step {lg:.1f}x from L = "
                      f"{lo} to {hi} (whole flow {wg:.1f}x); inpainting vs mean fill "
                      f"{vs_mean.value:+.2f}; scale-mix score {score.value:.2f} vs random "
                      f"{score.value - effect.value:.2f}")
    return report
