"""``reprlab reproduce sketch3d``: the paper's two questions, on procedural shapes.

1. Does a 2D->3D net trained on *synthesized sketches* reconstruct free-hand sketches better
   than the same net trained on *edge maps* (same shapes, views, steps)?
2. Does the sketch standardization module (pix2pix, trained to undo the official
   ``transform_im`` deformations) improve free-hand reconstruction?

Both are measured on a free-hand test style neither network saw (other MLS parameters, more
handles, overdrawn strokes, higher-frequency wobble), over ``n_seeds`` seeds, and judged by
pre-registered :class:`~reprlab.claims.ClaimSpec` s whose effects must exceed their seed
spread. The paper's ShapeNet / human-sketch figures are "not run" (not reachable offline).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import torch

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.registry import register_method
from reprlab.report import MethodReport
from reprlab.sketch3d.modules import PatchDiscriminator, UNetGenerator
from reprlab.sketch3d.pipeline import (
    MODEL_FILE,
    ShapeData,
    Sketch3DConfig,
    Sketch3DModel,
    build_shapes,
    draw_sketches,
    evaluate,
    make_reconstructor,
    save_model,
    train_reconstructor,
    train_standardizer,
)

__all__ = ["CLAIMS", "TINY", "QUICK", "FULL", "run"]

_DATASET = "procedural chairs/tables/lamps/mugs/airplanes; free-hand test style unseen in training"
_NOT_OFFLINE = ("ShapeNet renders and the paper's human free-hand sketch sets cannot be "
                "downloaded here; shapes.load_mesh_folder() reads a local ShapeNet-style copy")

SYNTH_VS_EDGE = ClaimSpec(
    name="synthesized-sketch training beats edge-map training on free-hand sketches",
    paper_value="a net trained on synthesized sketches generalizes better to free-hand "
                "sketches than one trained on edge maps (Fig. 1, ablation on training data)",
    paper_dataset="ShapeNet (13 categories) renders; human free-hand sketches",
    dataset=_DATASET,
    criteria=(Criterion("cd_gain", "(CD_edge − CD_synth) / CD_edge on free-hand test sketches",
                        reproduced=0.10, partial=0.0, null=0.0),),
    baseline="the same SketchPSGN, same shapes, views, steps and optimizer, trained on the "
             "clean edge maps (the previous works' proxy for sketches)",
    control="the run-to-run spread over seeds (sketches redrawn, nets re-initialised): an "
            "effect within one sd is at most partial; in-distribution CDs are reported beside",
    min_seeds=3,
)
SYNTH_VS_EDGE_SHAPENET = ClaimSpec(
    name="synthesized vs edge-map training on ShapeNet with human free-hand sketches",
    paper_value="paper's Chamfer distances per training-data type",
    paper_dataset="ShapeNet + human free-hand sketches", dataset="—", not_run=_NOT_OFFLINE,
)
STANDARDIZATION = ClaimSpec(
    name="the standardization module improves free-hand reconstruction",
    paper_value="adding sketch standardization lowers the Chamfer distance on free-hand "
                "sketches (ablation)",
    paper_dataset="ShapeNet renders; human free-hand sketches",
    dataset=_DATASET,
    criteria=(Criterion("cd_gain", "(CD_raw − CD_standardized) / CD_raw on free-hand test "
                        "sketches", reproduced=0.05, partial=0.0, null=0.0),),
    baseline="SketchPSGN trained on raw synthesized sketches and fed the raw free-hand "
             "sketch (the best pipeline without the module, from claim 1)",
    control="the seed spread; the module on in-distribution synthesized test sketches is "
            "reported beside (it should neither help nor hurt much there)",
    min_seeds=3,
)
STANDARDIZATION_SHAPENET = ClaimSpec(
    name="ShapeNet per-category reconstruction figures",
    paper_value="per-category Chamfer distances of the paper's tables",
    paper_dataset="ShapeNet + human free-hand sketches", dataset="—", not_run=_NOT_OFFLINE,
)
CLAIMS = (SYNTH_VS_EDGE, SYNTH_VS_EDGE_SHAPENET, STANDARDIZATION, STANDARDIZATION_SHAPENET)

TINY = Sketch3DConfig(n_per_category=3, image_size=32, n_points=64, ngf=4, ndf=4,
                      std_epochs=1, std_batch=8, std_lr=1e-3, width=2, hidden=16, rec_epochs=2,
                      rec_batch=8, rec_lr=3e-3)
"""Seconds: 15 shapes (12 train / 3 test), a few steps per net; it checks the plumbing."""

QUICK = Sketch3DConfig(n_per_category=60, image_size=32, n_points=256, ngf=8, ndf=8,
                       std_epochs=10, std_batch=16, std_lr=1e-3, width=4, hidden=128,
                       rec_epochs=12, rec_batch=32, rec_lr=3e-3)
"""The --quick run: 300 shapes (240 train / 60 test), 32x32 sketches, 256 points, 3 seeds."""

FULL = Sketch3DConfig(n_per_category=400, image_size=64, n_points=1024, ngf=16, ndf=16,
                      std_epochs=15, std_variants=2, width=8, hidden=512, rec_epochs=20,
                      rec_batch=32)
"""The paper-sized run this CPU allows: 2,000 shapes at 64x64, 1,024 points, 3 seeds (hours;
every seed is stored as it finishes, so an interrupted run resumes)."""

CONDITIONS = {
    "edge-map net": "trained on edge maps, raw input",
    "synthesized net": "trained on synthesized sketches, raw input",
    "synthesized + standardization": "trained on standardized synthesized sketches, "
                                     "standardized input (the paper's pipeline)",
}


def _imgs(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).unsqueeze(1)


def _stage_sketches(cfg: Sketch3DConfig, data: ShapeData, seed: int,
                    progress: bool) -> dict[str, Any]:
    """Seed ``seed``'s sketches and standardizer, and every net's train / test inputs."""
    rng = np.random.default_rng([seed, 7])
    torch.manual_seed(seed)
    tr, te = data.split["train"], data.split["test"]
    m = cfg.margin
    clock = time.perf_counter()
    synth_tr = draw_sketches(data.clean[tr], cfg.synthesized, rng=rng, margin=m)
    synth_rep = np.repeat(synth_tr, cfg.std_variants, axis=0)
    deformed = draw_sketches(synth_rep, cfg.standardizer_train, rng=rng, margin=m)
    synth_te = draw_sketches(data.clean[te], cfg.synthesized, rng=rng, margin=m)
    free_te = draw_sketches(data.clean[te], cfg.freehand_test, rng=rng, margin=m)
    seconds = {"sketches": time.perf_counter() - clock}
    clock = time.perf_counter()
    gen, disc = UNetGenerator(cfg.image_size, cfg.ngf), PatchDiscriminator(cfg.ndf)
    std_hist = train_standardizer(gen, disc, _imgs(deformed), _imgs(synth_rep),
                                  epochs=cfg.std_epochs, batch_size=cfg.std_batch,
                                  lr=cfg.std_lr, lambda_l1=cfg.lambda_l1, seed=seed,
                                  progress=progress)
    standardize = Sketch3DModel(gen, gen, cfg).standardize  # only the standardizer is used
    std_free, std_synth = standardize(_imgs(free_te)), standardize(_imgs(synth_te))
    seconds["standardizer"] = time.perf_counter() - clock
    inputs = {  # name -> (train input, free-hand test input, own-style test input)
        "edge-map net": (_imgs(data.clean[tr]), _imgs(free_te), _imgs(data.clean[te])),
        "synthesized net": (_imgs(synth_tr), _imgs(free_te), _imgs(synth_te)),
        "synthesized + standardization": (standardize(_imgs(synth_tr)), std_free, std_synth),
    }
    return {"inputs": inputs, "seconds": seconds, "standardizer": gen.state_dict(),
            "std_l1": std_hist[-1]["g_l1"] if std_hist else float("nan"),
            "pixel_l1": {"free-hand vs synthesized": float(
                np.abs(free_te.astype(np.float32) - synth_te).mean()),
                "standardized free-hand vs synthesized": float(
                    (std_free[:, 0] - torch.from_numpy(synth_te).float()).abs().mean())},
            "examples": {"synth": synth_te, "free": free_te}}


def _stage_net(cfg: Sketch3DConfig, data: ShapeData, seed: int, k: int,
               inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               progress: bool) -> dict[str, Any]:
    """Train net ``k`` of seed ``seed`` on ``inputs[0]``; evaluate it on both test inputs."""
    clock = time.perf_counter()
    tr, te = data.split["train"], data.split["test"]
    torch.manual_seed(seed * 10 + k)
    net = make_reconstructor(cfg)
    hist = train_reconstructor(net, inputs[0], torch.from_numpy(data.points[tr]),
                               epochs=cfg.rec_epochs, batch_size=cfg.rec_batch, lr=cfg.rec_lr,
                               seed=seed, transform_weight=cfg.transform_weight,
                               progress=progress)
    pts, labels = torch.from_numpy(data.points[te]), data.labels[te]
    return {"metrics": {"free-hand": evaluate(net, inputs[1], pts, labels, data.categories),
                        "own style": evaluate(net, inputs[2], pts, labels, data.categories)},
            "final_loss": hist[-1]["loss"] * 1000 if hist else float("nan"),
            "state": net.state_dict(), "seconds": time.perf_counter() - clock}


def _job(kind: str, cfg: Sketch3DConfig, data: dict[str, Any], seed: int, k: int = 0,
         inputs: Any = None, progress: bool = False, threads: int = 0) -> dict[str, Any]:
    """One unit of work, run in this process or in a pool worker (``threads`` > 0 sets
    torch's thread count there)."""
    if threads:
        torch.set_num_threads(threads)
    shapes = ShapeData.from_dict(data)
    if kind == "sketches":
        return _stage_sketches(cfg, shapes, seed, progress)
    return _stage_net(cfg, shapes, seed, k, inputs, progress)


def _workers() -> int:
    """Worker processes for the seeds' jobs: one per usable core, at most 2 (the budget's),
    and no more than this process's torch threads (under ``reprlab reproduce --jobs N`` each
    method gets cores // N threads: its own pool must not oversubscribe the machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 2, torch.get_num_threads()))


def _pool_jobs(cfg: Sketch3DConfig, dd: dict[str, Any], todo: list[int], names: list[str],
               workers: int, sketch_res: dict[int, dict[str, Any]],
               net_res: dict[tuple[int, int], dict[str, Any]]) -> None:
    """Run the seeds' sketch/standardizer jobs, then their nets' jobs, in ``workers``
    spawned processes (one thread each), filling ``sketch_res`` and ``net_res``."""
    mp = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=mp) as pool:
        pending = {pool.submit(_job, "sketches", cfg, dd, seed, threads=1): ("s", seed, 0)
                   for seed in todo}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                kind, seed, k = pending.pop(fut)
                if kind == "s":
                    sketch_res[seed] = fut.result()
                    for j, n in enumerate(names):
                        f = pool.submit(_job, "net", cfg, dd, seed, j,
                                        sketch_res[seed]["inputs"][n], threads=1)
                        pending[f] = ("n", seed, j)
                else:
                    net_res[seed, k] = fut.result()


def _run_seeds(ctx: Any, cfg: Sketch3DConfig, data: ShapeData,
               seeds: list[int]) -> list[dict[str, Any]]:
    """Every seed's results, from ``ctx.store`` or computed (in 2 worker processes when 2
    cores are usable: the seeds' 4 trainings are independent jobs)."""
    done: dict[int, dict[str, Any]] = {}
    todo = []
    for seed in seeds:
        got = ctx.store.load(f"seed{seed}", extra={"seed": seed})
        if got is None:
            todo.append(seed)
        else:
            done[seed] = got
    names = list(CONDITIONS)
    workers = _workers() if ctx.config_name != "tiny" else 1
    dd = data.to_dict()
    sketch_res: dict[int, dict[str, Any]] = {}
    net_res: dict[tuple[int, int], dict[str, Any]] = {}
    if workers > 1 and todo:
        try:
            _pool_jobs(cfg, dd, todo, names, workers, sketch_res, net_res)
        except BrokenProcessPool:
            # e.g. a calling script without an `if __name__ == "__main__":` guard, which
            # spawned workers cannot import; in-process jobs give the same numbers
            print("reprlab sketch3d: worker processes failed to start; running the seeds in "
                  "this process instead", flush=True)
    for seed in todo:
        if seed not in sketch_res:
            sketch_res[seed] = _job("sketches", cfg, dd, seed, progress=ctx.progress)
        for k, n in enumerate(names):
            if (seed, k) not in net_res:
                net_res[seed, k] = _job("net", cfg, dd, seed, k, sketch_res[seed]["inputs"][n],
                                        progress=ctx.progress)
    for seed in todo:
        sk = sketch_res[seed]
        nets = {n: net_res[seed, k] for k, n in enumerate(names)}
        out: dict[str, Any] = {
            "metrics": {n: r["metrics"] for n, r in nets.items()},
            "seconds": {**sk["seconds"], **{n: r["seconds"] for n, r in nets.items()}},
            "final_loss": {n: r["final_loss"] for n, r in nets.items()},
            "std_l1": sk["std_l1"], "pixel_l1": sk["pixel_l1"]}
        if seed == seeds[0]:  # the first seed's nets become the saved model bundle
            out["states"] = {"standardizer": sk["standardizer"],
                             "reconstructor": nets["synthesized + standardization"]["state"],
                             "baseline": nets["synthesized net"]["state"]}
            out["examples"] = sk["examples"]
        ctx.store.save(f"seed{seed}", out, extra={"seed": seed})
        done[seed] = out
    return [done[s] for s in seeds]


def _gain(base: float, new: float) -> float:
    return (base - new) / base if base > 0 else float("nan")


def _figures(report: MethodReport, cfg: Sketch3DConfig, data: ShapeData,
             model: Sketch3DModel, examples: dict[str, np.ndarray]) -> None:
    from reprlab.report.plots import plt

    te = data.split["test"]
    picks = []
    for c in range(len(data.categories)):
        rows = np.nonzero(data.labels[te] == c)[0]
        if len(rows):
            picks.append(int(rows[0]))
    free = _imgs(examples["free"][picks])
    std = model.standardize(free)
    pred = model.reconstruct(free).numpy()
    cols = ["edge map", "synthesized sketch", "free-hand (unseen style)", "standardized",
            f"predicted ({cfg.n_points} pts)", "ground truth"]
    fig = plt.figure(figsize=(14, 2.4 * len(picks)))
    for r, j in enumerate(picks):
        i = te[j]
        imgs = [data.clean[i], examples["synth"][j], examples["free"][j], std[r, 0].numpy()]
        for c in range(6):
            if c < 4:
                ax = fig.add_subplot(len(picks), 6, r * 6 + c + 1)
                ax.imshow(1 - imgs[c], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax = fig.add_subplot(len(picks), 6, r * 6 + c + 1, projection="3d")
                p = pred[r] if c == 4 else data.points[i]
                ax.scatter(p[:, 0], p[:, 1], p[:, 2], s=1, c=p[:, 2], cmap="viridis")
                for setlim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                    setlim(-0.45, 0.45)
                ax.view_init(elev=float(data.views[i, 1]), azim=float(data.views[i, 0]))
                ax.set_axis_off()
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(data.categories[data.labels[i]])
    report.add_figure("Edge map, synthesized sketch, free-hand sketch, standardized, "
                      "prediction, ground truth", fig,
                      "One test shape per category (first seed). The free-hand style (other "
                      "MLS parameters, overdrawn strokes) was seen by no network; the "
                      "standardizer (grey = low confidence) feeds the paper's pipeline.")


def run(ctx: Any, cfg: Sketch3DConfig) -> MethodReport:
    """Train and judge the sketch3d claims for ``cfg`` over ``cfg.n_seeds`` seeds."""
    report = ctx.new_report()
    clock = time.perf_counter()
    data = ShapeData.from_dict(ctx.store.cached(
        "shapes", lambda: build_shapes(cfg, progress=ctx.progress).to_dict()))
    shapes_s = time.perf_counter() - clock
    seeds = ctx.seeds(cfg.n_seeds)
    clock = time.perf_counter()
    runs = _run_seeds(ctx, cfg, data, seeds)
    seeds_s = time.perf_counter() - clock

    def per_seed(name: str, style: str, metric: str) -> list[float]:
        return [r["metrics"][name][style][metric]["mean"] for r in runs]

    cd = {n: per_seed(n, "free-hand", "chamfer") for n in CONDITIONS}
    iou = {n: per_seed(n, "free-hand", "iou") for n in CONDITIONS}
    cd_own = {n: per_seed(n, "own style", "chamfer") for n in CONDITIONS}
    iou_own = {n: per_seed(n, "own style", "iou") for n in CONDITIONS}

    def row(n: str) -> dict[str, float]:
        return {"CD free-hand": round(float(np.mean(cd[n])), 3),
                "sd": round(float(np.std(cd[n], ddof=1)) if len(cd[n]) > 1 else 0.0, 3),
                "IoU free-hand": round(float(np.mean(iou[n])), 3),
                "CD own style": round(float(np.mean(cd_own[n])), 3),
                "IoU own style": round(float(np.mean(iou_own[n])), 3)}

    table = {n: row(n) for n in CONDITIONS}
    n_tr, n_te = len(data.split["train"]), len(data.split["test"])
    ds = (f"{_DATASET}; {n_tr} train / {n_te} test shapes, {cfg.image_size}x{cfg.image_size} "
          f"sketches, {cfg.n_points} points, {len(seeds)} seeds")
    edge, synth, std = (cd[n] for n in CONDITIONS)
    gain1 = [_gain(e, s) for e, s in zip(edge, synth, strict=True)]
    gain2 = [_gain(s, p) for s, p in zip(synth, std, strict=True)]
    m1, m2 = Measured.from_seeds(gain1), Measured.from_seeds(gain2)
    report.add(SYNTH_VS_EDGE.judge(m1, dataset=ds, detail=table, note=(
        f"Chamfer distance (squared, x1000; mean over categories) on the free-hand test "
        f"sketches: edge-map net {np.mean(edge):.3f}, synthesized net {np.mean(synth):.3f}; "
        f"relative gain {m1.value:+.3f} ± {m1.spread:.3f} (sd over {m1.seeds} seeds). "
        f"IoU {np.mean(iou['edge-map net']):.3f} vs {np.mean(iou['synthesized net']):.3f}. "
        "'own style': each net on test sketches of its training style. Synthesized sketches "
        "are simulated (wobbly, broken strokes), not the paper's photo-to-sketch GAN.")))
    report.add(SYNTH_VS_EDGE_SHAPENET.skip())
    report.add(STANDARDIZATION.judge(m2, dataset=ds, detail=table, note=(
        f"Chamfer x1000 on free-hand test sketches: raw {np.mean(synth):.3f}, standardized "
        f"{np.mean(std):.3f}; relative gain {m2.value:+.3f} ± {m2.spread:.3f} over {m2.seeds} "
        f"seeds. On in-distribution synthesized sketches: raw "
        f"{np.mean(cd_own['synthesized net']):.3f}, standardized "
        f"{np.mean(cd_own['synthesized + standardization']):.3f}. The standardizer learned "
        "the official transform_im deformations only; the test style was never seen.")))
    report.add(STANDARDIZATION_SHAPENET.skip())

    first = runs[0]
    model = None
    if "states" in first:
        gen = UNetGenerator(cfg.image_size, cfg.ngf)
        gen.load_state_dict(first["states"]["standardizer"])
        rec, base = make_reconstructor(cfg), make_reconstructor(cfg)
        rec.load_state_dict(first["states"]["reconstructor"])
        base.load_state_dict(first["states"]["baseline"])
        model = Sketch3DModel(gen.eval(), rec.eval(), cfg, base.eval())
        save_model(model, ctx.work_dir / MODEL_FILE)
    report.results = {
        "conditions": CONDITIONS,
        "per_seed_cd_free_hand": {n: [round(v, 4) for v in cd[n]] for n in CONDITIONS},
        "per_seed_iou_free_hand": {n: [round(v, 4) for v in iou[n]] for n in CONDITIONS},
        "per_category_cd_free_hand_seed0": {
            n: {c: round(v, 3) for c, v in first["metrics"][n]["free-hand"]["chamfer"].items()}
            for n in CONDITIONS},
        "final_train_chamfer_x1000": [r["final_loss"] for r in runs],
        "pixel_l1_to_synthesized": [r["pixel_l1"] for r in runs],
        "seconds": {"shapes": round(shapes_s, 1), "seeds (wall)": round(seeds_s, 1),
                    "workers": _workers() if ctx.config_name != "tiny" else 1,
                    **{f"seed{s}": {k: round(v, 1) for k, v in r["seconds"].items()}
                       for s, r in zip(seeds, runs, strict=True)}},
        "n_train": n_tr, "n_test": n_te,
        "model_file": str(ctx.work_dir / MODEL_FILE) if model is not None else None,
    }
    report.tables["free-hand test, mean over seeds"] = [
        {"condition": n, "what": CONDITIONS[n], **table[n]} for n in CONDITIONS]
    if model is not None and ctx.config_name != "tiny" and "examples" in first:
        _figures(report, cfg, data, model, first["examples"])
    report.summary = (
        f"free-hand Chamfer x1000 over {len(seeds)} seeds: edge-map net {np.mean(edge):.2f}, "
        f"synthesized net {np.mean(synth):.2f} (gain {m1.value:+.2f} ± {m1.spread:.2f}), "
        f"+ standardization {np.mean(std):.2f} (gain {m2.value:+.2f} ± {m2.spread:.2f})")
    return report


register_method(
    "sketch3d",
    summary="3D point clouds from free-hand sketches: synthesized-sketch training and a "
            "pix2pix sketch standardizer in front of a PSGN-style net",
    paper="arXiv:2006.09694",
    claims=CLAIMS,
    configs={"tiny": TINY, "quick": QUICK, "full": FULL},
    seconds={"tiny": 10, "quick": 120, "full": 10000},
)(run)

