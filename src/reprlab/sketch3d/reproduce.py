"""``reprlab reproduce sketch3d``: free-hand sketch -> 3D, with and without standardization.

Claims checked (arXiv:2006.09694, on procedural shapes since ShapeNet is not offline):

1. Reconstruction from simulated free-hand sketches is worse than from the synthetic
   (standard) sketches the network was trained on, and the standardization module (applied
   to training and test sketches, as the paper) closes much of that gap -- Chamfer distance
   per category.
2. The same in voxel IoU.
3. The paper's ShapeNet per-category figures: not runnable offline.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from reprlab.registry import register_method
from reprlab.report import Claim, MethodReport
from reprlab.sketch3d.modules import PatchDiscriminator, PointCloudNet, UNetGenerator
from reprlab.sketch3d.pipeline import (
    MODEL_FILE,
    Sketch3DConfig,
    Sketch3DModel,
    build_dataset,
    evaluate,
    save_model,
    train_reconstructor,
    train_standardizer,
)

__all__ = ["QUICK_CONFIG", "FULL_CONFIG", "reproduce", "run"]

QUICK_CONFIG = Sketch3DConfig(n_per_category=100, image_size=64, n_points=1024,
                              freehand_variants=1, std_epochs=10, rec_epochs=15)
"""CPU minutes: 500 shapes (5 categories x 100; 400 train / 50 val / 50 test), 64x64
sketches, 1024-point clouds, ~200-250 optimisation steps per network."""

FULL_CONFIG = Sketch3DConfig(n_per_category=1000, image_size=128, ngf=32, ndf=32, width=32,
                             std_epochs=20, rec_epochs=60, freehand_variants=2)
"""The non-quick run: 5,000 shapes at 128x128 (hours on CPU; checkpointed and resumable)."""

CONDITIONS = ("synthetic", "free-hand", "free-hand + standardization",
              "synthetic + standardization")


def _run_key(config: Sketch3DConfig) -> str:
    blob = json.dumps(asdict(config), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _gap_closed(clean: float, free: float, std: float, *, higher_is_better: bool) -> float:
    if higher_is_better:
        clean, free, std = -clean, -free, -std
    gap = free - clean
    return float("nan") if gap <= 0 else (free - std) / gap


def _verdict(closed: float) -> str:
    if closed != closed:  # no gap to close
        return "not reproduced"
    if closed >= 0.5:
        return "reproduced"
    return "partial" if closed > 0.1 else "not reproduced"


def _figures(report: MethodReport, model: Sketch3DModel, data: Any, test: np.ndarray,
             results: dict[str, dict[str, dict[str, float]]]) -> None:
    from reprlab.report.plots import plt

    # one test example per category: sketch -> standardized -> predicted cloud vs ground truth
    picks = []
    for c in range(len(data.categories)):
        idx = test[data.labels[test] == c]
        if len(idx):
            picks.append(int(idx[0]))
    free = torch.from_numpy(data.freehand[picks].astype(np.float32)).unsqueeze(1)
    std = model.standardize(free)
    pred = model.reconstruct(free).numpy()
    fig = plt.figure(figsize=(12.5, 2.6 * len(picks)))
    cols = ["standard sketch", "free-hand sketch", "standardized", "predicted (1024 pts)",
            "ground truth"]
    for r, i in enumerate(picks):
        imgs = [data.clean[i], data.freehand[i], std[r, 0].numpy()]
        for c in range(5):
            if c < 3:
                ax = fig.add_subplot(len(picks), 5, r * 5 + c + 1)
                ax.imshow(1 - imgs[c], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax = fig.add_subplot(len(picks), 5, r * 5 + c + 1, projection="3d")
                pts = pred[r] if c == 3 else data.points[i]
                ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=1, c=pts[:, 2], cmap="viridis")
                ax.set_xlim(-0.45, 0.45)
                ax.set_ylim(-0.45, 0.45)
                ax.set_zlim(-0.45, 0.45)
                ax.view_init(elev=float(data.views[i, 1]), azim=float(data.views[i, 0]))
                ax.set_axis_off()
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(data.categories[data.labels[i]])
    report.add_figure("Sketch, standardized sketch, predicted cloud, ground truth", fig,
                      "Test shapes (one per category): the simulated free-hand sketch is "
                      "standardized by the pix2pix module (grey = low confidence), then "
                      "reconstructed by the net trained on standardized synthetic sketches.")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    cats = [c for c in data.categories if c in results[CONDITIONS[0]]["chamfer"]]
    xs = np.arange(len(cats))
    w = 0.2
    for k, cond in enumerate(CONDITIONS):
        off = (k - (len(CONDITIONS) - 1) / 2) * w
        axes[0].bar(xs + off, [results[cond]["chamfer"][c] for c in cats], w, label=cond)
        axes[1].bar(xs + off, [results[cond]["iou"][c] for c in cats], w, label=cond)
    for ax, t in zip(axes, ("Chamfer distance x1000 (lower is better)",
                            "voxel IoU 32^3 (higher is better)"), strict=True):
        ax.set_xticks(xs, cats)
        ax.set_title(t, fontsize=10)
    axes[0].legend(fontsize=8)
    report.add_figure("Per-category reconstruction quality", fig,
                      "Test split. Without the module the 2D->3D net is trained on raw "
                      "synthetic sketches; with it, on standardized synthetic sketches.")


def run(ctx: Any, config: Sketch3DConfig | None = None) -> MethodReport:
    """Run the sketch3d reproduction with ``config`` (default: quick or full by ``ctx``)."""
    cfg = config if config is not None else (QUICK_CONFIG if ctx.quick else FULL_CONFIG)
    if cfg.seed != ctx.seed:
        cfg = replace(cfg, seed=ctx.seed)
    torch.manual_seed(cfg.seed)
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    data = build_dataset(cfg, cache_dir=ctx.work_dir, progress=ctx.progress)
    timings["data_s"] = time.perf_counter() - clock
    ckpt = ctx.work_dir / f"run_{_run_key(cfg)}"
    tr, te = data.split["train"], data.split["test"]

    def imgs(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32)).unsqueeze(1)

    points_tr = torch.from_numpy(data.points[tr])
    gen = UNetGenerator(cfg.image_size, cfg.ngf)
    disc = PatchDiscriminator(cfg.ndf)
    v = cfg.freehand_variants
    # uint8 pairs, converted per batch (the full run holds 8,000 pairs at 128x128)
    std_in = torch.from_numpy(
        data.freehand_train[tr].reshape(-1, cfg.image_size, cfg.image_size)).unsqueeze(1)
    std_out = torch.from_numpy(np.repeat(data.clean[tr], v, axis=0)).unsqueeze(1)
    std_hist = train_standardizer(gen, disc, std_in, std_out, epochs=cfg.std_epochs,
                                  batch_size=cfg.std_batch, lr=cfg.std_lr,
                                  lambda_l1=cfg.lambda_l1, seed=cfg.seed, checkpoint_dir=ckpt,
                                  resume=True, progress=ctx.progress)
    timings["standardizer_s"] = time.perf_counter() - clock - sum(timings.values())
    model = Sketch3DModel(standardizer=gen, reconstructor=PointCloudNet(
        cfg.image_size, cfg.n_points, cfg.width, cfg.hidden), config=cfg,
        baseline=PointCloudNet(cfg.image_size, cfg.n_points, cfg.width, cfg.hidden))
    # the paper's pipeline: the 2D->3D net learns from standardized synthetic sketches
    rec_hist = train_reconstructor(model.reconstructor, model.standardize(imgs(data.clean[tr])),
                                   points_tr, epochs=cfg.rec_epochs, batch_size=cfg.rec_batch,
                                   lr=cfg.rec_lr, seed=cfg.seed, checkpoint_dir=ckpt / "std",
                                   resume=True, progress=ctx.progress)
    # the baseline: the same net trained on the raw synthetic sketches
    base_hist = train_reconstructor(model.baseline, imgs(data.clean[tr]), points_tr,
                                    epochs=cfg.rec_epochs, batch_size=cfg.rec_batch,
                                    lr=cfg.rec_lr, seed=cfg.seed, checkpoint_dir=ckpt / "raw",
                                    resume=True, progress=ctx.progress)
    timings["reconstructors_s"] = time.perf_counter() - clock - sum(timings.values())
    save_model(model, ctx.work_dir / MODEL_FILE)

    pts, labels = torch.from_numpy(data.points[te]), data.labels[te]
    clean, free = imgs(data.clean[te]), imgs(data.freehand[te])
    runs = {CONDITIONS[0]: (model.baseline, clean),
            CONDITIONS[1]: (model.baseline, free),
            CONDITIONS[2]: (model.reconstructor, model.standardize(free)),
            CONDITIONS[3]: (model.reconstructor, model.standardize(clean))}
    results = {k: evaluate(net, x, pts, labels, data.categories)
               for k, (net, x) in runs.items()}
    # how close the standardized free-hand sketch gets to the standard one (pixel L1)
    l1_std = float((model.standardize(free) - clean).abs().mean())
    l1_free = float((free - clean).abs().mean())

    report = MethodReport(method="sketch3d", config={
        **{k: (list(val) if isinstance(val, tuple) else val)
           for k, val in asdict(cfg).items() if k != "freehand"},
        "freehand": asdict(cfg.freehand), "n_train": len(tr), "n_test": len(te),
        "timings": {k: round(val, 1) for k, val in timings.items()},
        "data": "procedural shapes (trimesh primitives), contour-rendered sketches",
    })
    dataset = (f"procedural {len(data.categories)}-category shapes, {len(te)} test sketches "
               f"{cfg.image_size}x{cfg.image_size}, {cfg.n_points} points")
    note_scale = ("ShapeNet is not available offline; shapes are procedural (chair, table, "
                  "lamp, mug, airplane) and free-hand sketches are simulated (MLS warp, "
                  "affine wobble, smooth jitter, stroke breaks, thickness), not human-drawn.")
    for metric, hib, unit in (("chamfer", False, "Chamfer distance x1000"),
                              ("iou", True, "voxel IoU (32^3)")):
        vals = {k: round(results[k][metric]["mean"], 4) for k in CONDITIONS}
        closed = _gap_closed(vals[CONDITIONS[0]], vals[CONDITIONS[1]], vals[CONDITIONS[2]],
                             higher_is_better=hib)
        report.claims.append(Claim(
            name=f"Standardization closes the free-hand gap ({unit})",
            paper_value="free-hand sketches reconstruct worse than synthetic ones; the "
                        "standardization module recovers much of the loss (ShapeNet tables)",
            paper_dataset="ShapeNet (13 categories), synthetic + real free-hand sketches",
            measured_value={**vals, "gap closed": round(closed, 3) if closed == closed
                            else None},
            measured_dataset=dataset,
            verdict=_verdict(closed),
            note=(f"Mean over categories of the per-category test means. 'synthetic' and "
                  f"'free-hand': 2D->3D net trained on raw synthetic sketches (no module); "
                  f"'+ standardization': the paper's pipeline, the same net trained on "
                  f"standardized synthetic sketches, every input standardized. 'gap closed' = "
                  f"(free-hand - free-hand + standardization) / (free-hand - synthetic); "
                  f"reproduced when >= 0.5, partial when > 0.1. Pixel L1 to the standard "
                  f"sketch: free-hand {l1_free:.4f}, standardized {l1_std:.4f}. "
                  f"{note_scale}"),
        ))
    report.claims.append(Claim(
        name="ShapeNet per-category reconstruction figures",
        paper_value="per-category Chamfer / IoU tables of the paper",
        paper_dataset="ShapeNet + human free-hand sketches",
        measured_value="not runnable offline", measured_dataset="-",
        verdict="not reproduced",
        note="ShapeNet and the paper's free-hand sketch sets cannot be downloaded here; "
             "load_mesh_folder() reads a local ShapeNet-style copy for users who have one.",
    ))
    report.tables["per_category"] = [
        {"condition": cond, "metric": metric, **{k: round(val, 4) for k, val in
                                                 results[cond][metric].items()}}
        for cond in CONDITIONS for metric in ("chamfer", "iou")]
    report.tables["training"] = [
        {"stage": "reconstructor (standardized input)", "epochs": len(rec_hist),
         "final_chamfer_x1000": round(1000 * rec_hist[-1]["loss"], 4) if rec_hist else None},
        {"stage": "reconstructor (raw input, baseline)", "epochs": len(base_hist),
         "final_chamfer_x1000": round(1000 * base_hist[-1]["loss"], 4) if base_hist else None},
        {"stage": "standardizer", "epochs": len(std_hist),
         "final_l1": round(std_hist[-1]["g_l1"], 4) if std_hist else None,
         "final_d_loss": round(std_hist[-1]["d_loss"], 4) if std_hist else None},
    ]
    _figures(report, model, data, te, results)
    return report


@register_method(
    "sketch3d",
    summary="3D point clouds from free-hand sketches with a pix2pix sketch standardizer",
    paper="arXiv:2006.09694",
    claims=("standardization closes the free-hand gap (Chamfer distance)",
            "standardization closes the free-hand gap (voxel IoU)",
            "ShapeNet figures (not runnable offline)"),
)
def reproduce(ctx: Any) -> MethodReport:
    """Registered entry point: the quick or full configuration by ``ctx.quick``."""
    return run(ctx)
