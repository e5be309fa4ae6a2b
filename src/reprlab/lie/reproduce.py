"""``reprlab reproduce lie`` — the claims of Lie-group sparse coding (arXiv:2012.12071)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from reprlab.lie import functional as F
from reprlab.lie.data import (
    TransformedDigits,
    rotate_digits,
    rotate_scale_digits,
    select_digits,
    translate_digits,
)
from reprlab.lie.fit import fit_lie
from reprlab.lie.modules import LieSparseCoding
from reprlab.registry import register_method
from reprlab.report import Claim, MethodReport
from reprlab.report.plots import image_grid

__all__ = ["LieConfig", "QUICK_CONFIG", "FULL_CONFIG", "run", "reproduce"]


@dataclass(frozen=True)
class LieConfig:
    """Sizes of one run. Paper: K = 10, λ = 10, L = 128, σ = 0.1, N = 50, batch 100,
    η_Ψ = 0.05, η_W = 0.3, 3 warm-up epochs, 10 epochs."""

    n_templates: int = 10
    n_blocks: int = 128
    lam: float = 10.0
    sigma: float = 0.1
    batch_size: int = 100
    lr_templates: float = 0.05
    lr_weight: float = 0.3
    warmup_epochs: float = 3.0
    epochs: int = 10
    max_iter: int = 100
    em_steps: int = 3
    learn_frequencies: bool = False  # official: ω fixed
    reflect_every: int = 3  # our reflection sweep (epochs); 0 = off
    max_frequency: int = 8
    n_train: int = 10_000  # per controlled data set
    n_test: int = 1_000
    grid_translate: int = 28
    grid_rotate: int = 64
    mnist_train: int = 5_000
    mnist_epochs: int = 10
    rotation_multiplicity: int = 8
    experiments: tuple[str, ...] = ("translate", "rotate", "rotate_scale")
    image_size: int = 28


FULL_CONFIG = LieConfig()
QUICK_CONFIG = LieConfig(
    n_blocks=64, lr_templates=0.001, lr_weight=0.003, warmup_epochs=1.0, epochs=4,
    max_iter=50, em_steps=1, reflect_every=0, n_train=600, n_test=300, grid_translate=14,
    grid_rotate=32, mnist_train=600, mnist_epochs=3, experiments=("translate", "rotate"))


def _orbit_match(model: LieSparseCoding, targets: torch.Tensor, grid_size: int) -> torch.Tensor:
    """max over templates k and grid s of cos(T(s)ψ_k, target) for each target (M, D)."""
    grid = F.torus_grid(grid_size, model.n_params)
    best = torch.zeros(targets.shape[0])
    t = targets / targets.norm(dim=1, keepdim=True).clamp_min(1e-12)
    with torch.no_grad():
        for k in range(model.n_templates):
            psi = model.templates[:, k][None].expand(grid.shape[0], -1)
            orbit = model.transform(psi, grid)
            orbit = orbit / orbit.norm(dim=1, keepdim=True).clamp_min(1e-12)
            best = torch.maximum(best, (t @ orbit.T).max(dim=1).values)
    return best


def _orbits(model: LieSparseCoding, steps: int = 8):
    """T(s)ψ_k along each torus axis: rows = templates, cols = s_i ∈ [0, 2π)."""
    rows = []
    with torch.no_grad():
        for axis in range(model.n_params):
            s = torch.zeros(steps, model.n_params)
            s[:, axis] = torch.arange(steps) * 2 * math.pi / steps
            for k in range(model.n_templates):
                rows.append(model.transform(model.templates[:, k][None].expand(steps, -1), s))
    return torch.cat(rows)


def _train(data: torch.Tensor, n_params: int, cfg: LieConfig, grid: int, seed: int,
           progress: bool, work_dir, name: str, epochs: int, multiplicity: int = 1
           ) -> LieSparseCoding:
    torch.manual_seed(seed)
    model = LieSparseCoding(data.shape[-1] * data.shape[-2], cfg.n_templates, cfg.n_blocks,
                            n_params, multiplicity=multiplicity, sigma=cfg.sigma,
                            lam=cfg.lam, grid_size=grid, em_steps=cfg.em_steps)
    model.init_from_data(data, generator=torch.Generator().manual_seed(seed))
    ckpt = None if work_dir is None else work_dir / name
    fit_lie(model, data, epochs=epochs, batch_size=cfg.batch_size,
            lr_templates=cfg.lr_templates, lr_weight=cfg.lr_weight,
            warmup_epochs=cfg.warmup_epochs, max_iter=cfg.max_iter, seed=seed,
            checkpoint_dir=ckpt, resume=ckpt is not None, progress=progress,
            learn_frequencies=cfg.learn_frequencies, max_frequency=cfg.max_frequency,
            reflect_every=cfg.reflect_every)
    return model


def _controlled(kind: str, digits: torch.Tensor, cfg: LieConfig, seed: int, progress: bool,
                work_dir, report: MethodReport) -> dict:
    gen = {"translate": translate_digits, "rotate": rotate_digits,
           "rotate_scale": rotate_scale_digits}[kind]
    train: TransformedDigits = gen(digits, cfg.n_train, seed=seed + 1)
    test: TransformedDigits = gen(digits, cfg.n_test, seed=seed + 2)
    n_params = train.s.shape[1]
    grid = cfg.grid_translate if kind == "translate" else cfg.grid_rotate
    mult = cfg.rotation_multiplicity if kind == "rotate" else 1
    model = _train(train.images, n_params, cfg, grid, seed, progress, work_dir, kind,
                   cfg.epochs, mult)
    res = model.infer(test.images)
    groups = res.alpha.argmax(dim=1)
    err, mat, _ = F.align_parameters(res.s_map, test.s, groups)
    if kind == "translate":
        unit, scale = "px", cfg.image_size / (2 * math.pi)
    else:
        unit, scale = "deg", 180 / math.pi
    med = float(err[:, 0].abs().median() * scale)
    recon = model.reconstruct(res)
    x = test.images.flatten(1)
    fvu = float(((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    l0 = float((res.alpha > 0).sum(1).double().mean())
    match = _orbit_match(model, digits.flatten(1), grid)
    report.add_figure(f"{kind}: learned templates",
                      image_grid(model.templates.T, ncols=model.n_templates,
                                 title=f"templates ({kind})", vmin=None, vmax=None),
                      "Learned Ψ (quick run if config says so).")
    orbits = _orbits(model)
    report.add_figure(f"{kind}: orbits",
                      image_grid(orbits, ncols=orbits.shape[0] // (model.n_templates * n_params),
                                 title=f"T(s)ψ along each axis ({kind})", vmin=None, vmax=None),
                      "Rows: templates × torus axes.")
    return {"median_error": med, "unit": unit, "automorphism": mat.tolist(), "fvu": fvu,
            "l0": l0, "digit_match": float(match.mean()), "model": model, "test": test,
            "grid": grid}


def _plain_sparse_coding(train: torch.Tensor, test: torch.Tensor, cfg: LieConfig,
                         seed: int) -> tuple[float, float]:
    from reprlab.sparse import init_dictionary, learn_dictionary, sparse_encode

    x = train.flatten(1)
    lam = cfg.lam * cfg.sigma**2  # same energy as the Lie model, in lasso units
    gen = torch.Generator().manual_seed(seed)
    init = init_dictionary(cfg.n_templates, x.shape[1], x=x, generator=gen)
    state, _ = learn_dictionary(x, n_atoms=cfg.n_templates, lam=lam, n_epochs=cfg.epochs,
                                batch_size=cfg.batch_size, init=init, generator=gen,
                                max_iter=cfg.max_iter, bias_correction=True, lr=0.5)
    xt = test.flatten(1)
    codes = sparse_encode(xt, state.dictionary, lam=lam, max_iter=cfg.max_iter * 4)
    fvu = float(((xt - codes @ state.dictionary) ** 2).sum() / ((xt - xt.mean(0)) ** 2).sum())
    return fvu, float((codes > 0).sum(1).double().mean())


def run(cfg: LieConfig, *, seed: int = 0, progress: bool = False, work_dir=None,
        quick: bool = True) -> MethodReport:
    """Run the claims with ``cfg``; returns the :class:`MethodReport`."""
    from reprlab.data import load_mnist

    scale = "quick run" if quick else "full run"
    report = MethodReport("lie", config={**asdict(cfg), "scale": scale})
    mnist = load_mnist("train")
    digits, _ = select_digits(mnist.images, mnist.labels, seed=seed)
    results = {kind: _controlled(kind, digits, cfg, seed, progress, work_dir, report)
               for kind in cfg.experiments}

    # claim 1: transformations and digits recovered on controlled data
    parts, verdicts = [], []
    for kind, r in results.items():
        tol = (1.5, 3.0) if r["unit"] == "px" else (10.0, 30.0)
        v = ("reproduced" if r["median_error"] <= tol[0] and r["digit_match"] >= 0.8 else
             "partial" if r["median_error"] <= tol[1] else "not reproduced")
        verdicts.append(v)
        parts.append(f"{kind}: median |error| {r['median_error']:.2f} {r['unit']}, "
                     f"digit↔template orbit cosine {r['digit_match']:.2f}")
    overall = ("reproduced" if all(v == "reproduced" for v in verdicts) else
               "partial" if any(v != "not reproduced" for v in verdicts) else "not reproduced")
    report.claims.append(Claim(
        name="controlled transformations of specific digits: shift/angle and digits recovered",
        paper_value="transformations and the 10 digits recovered (figures)",
        paper_dataset="MNIST exemplars, translations / rotations / rotation+scaling",
        measured_value={k: {kk: r[kk] for kk in ("median_error", "unit", "digit_match",
                                                  "automorphism")}
                        for k, r in results.items()},
        measured_dataset=f"10 MNIST exemplars, {cfg.n_train} train / {cfg.n_test} test "
                         f"transformed images each ({scale})",
        verdict=overall,
        note="; ".join(parts) + ". Error after aligning inferred to true parameters up to a "
             "torus automorphism (sign/swap) and one offset per template; tolerance 1.5 px "
             "/ 10° (partial 3 px / 30°). Chance level is ~7 px / 90°."))

    # claim 2: full MNIST
    x = mnist.subset(cfg.mnist_train, seed=seed).images
    model = _train(x, 2, cfg, cfg.grid_translate, seed, progress, work_dir, "mnist",
                   cfg.mnist_epochs)
    means = torch.stack([mnist.images[mnist.labels == c].mean(0).flatten() for c in range(10)])
    match = _orbit_match(model, means, cfg.grid_translate)
    report.add_figure("MNIST: learned templates",
                      image_grid(model.templates.T, ncols=model.n_templates,
                                 title="templates (MNIST)", vmin=None, vmax=None),
                      "Learned Ψ on MNIST.")
    orbits = _orbits(model)
    report.add_figure("MNIST: learned orbits",
                      image_grid(orbits, ncols=orbits.shape[0] // (model.n_templates * 2),
                                 title="T(s)ψ_k: first K rows along s1, next K along s2",
                                 vmin=None, vmax=None), "Look for shear/stretch.")
    m = float(match.mean())
    report.claims.append(Claim(
        name="full MNIST: templates are digit shapes, orbits show natural deformations",
        paper_value="digit-like templates; shear and stretch orbits (figures)",
        paper_dataset="MNIST 60k",
        measured_value={"class_mean_orbit_cosine": m, "per_class": match.tolist()},
        measured_dataset=f"MNIST train subset of {cfg.mnist_train} ({scale})",
        verdict="partial" if m >= 0.8 else "not reproduced",
        note="Proxy: for each class mean, best cosine with any T(s)ψ_k over the grid. "
             "Whether orbits are shears/stretches is judged from the orbit figure, not "
             "scored; 'partial' at best for that reason, and only at cosine >= 0.8 (the "
             "data-initialised templates already start near 0.7)."))

    # claim 3: vs plain sparse coding with the same number of atoms
    if "translate" in results:
        r = results["translate"]
        train = translate_digits(digits, cfg.n_train, seed=seed + 1).images
        sc_fvu, sc_l0 = _plain_sparse_coding(train, r["test"].images, cfg, seed)
        better = r["fvu"] < sc_fvu
        report.claims.append(Claim(
            name="reconstruction error and L0 vs plain sparse coding with K atoms",
            paper_value="transformation model explains transformed digits with ~1 active "
                        "template; plain sparse coding cannot",
            paper_dataset="MNIST exemplars under transformations",
            measured_value={"lie_fvu": r["fvu"], "lie_l0": r["l0"], "sc_fvu": sc_fvu,
                            "sc_l0": sc_l0},
            measured_dataset=f"translated exemplars, {cfg.n_test} test images ({scale})",
            verdict=("reproduced" if r["fvu"] <= 0.8 * sc_fvu and r["l0"] <= sc_l0 + 0.5 else
                     "partial" if better else "not reproduced"),
            note="FVU = ‖x − x̂‖²/‖x − x̄‖² on held-out images; same K, same lasso penalty "
                 "λσ²; plain SC learned with the reprlab.sparse engine. 'reproduced' needs "
                 "FVU ≤ 0.8× plain SC at no more than 0.5 extra active atoms."))
    return report


@register_method(
    "lie",
    summary="Lie-group sparse coding: shapes and their continuous transformations",
    paper="arXiv:2012.12071",
    claims=("controlled transformations recovered", "MNIST digit templates and orbits",
            "reconstruction/L0 vs plain sparse coding"),
)
def reproduce(ctx) -> MethodReport:
    cfg = QUICK_CONFIG if ctx.quick else FULL_CONFIG
    # the full run checkpoints each model into ctx.work_dir and resumes from there; the
    # quick run starts fresh (a stale checkpoint of another config must not be picked up)
    return run(cfg, seed=ctx.seed, progress=ctx.progress,
               work_dir=None if ctx.quick else ctx.work_dir, quick=ctx.quick)


def tiny_config() -> LieConfig:
    """A config small enough for the smoke test (seconds)."""
    return replace(QUICK_CONFIG, n_blocks=16, n_train=60, n_test=20, epochs=1, mnist_train=60,
                   mnist_epochs=1, grid_translate=4, grid_rotate=8, batch_size=30,
                   max_iter=10, n_templates=3, experiments=("translate",), max_frequency=2)
