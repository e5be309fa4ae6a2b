"""``reprlab reproduce lie`` — the claims of Lie-group sparse coding (arXiv:2012.12071).

Every claim compares the learned model with the same model at its PCA start (W = the top
principal pairs of the data, Ψ = projected data images; :meth:`LieSparseCoding.init_from_data`)
over ``n_seeds`` seeds (exemplars, data and start all change with the seed): the quick
config's learning rates are chosen so that learning moves the result away from the start
(the paper's rates overshoot in a few dozen steps, see docs/lie.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.lie import functional as F
from reprlab.lie.data import rotate_digits, select_digits, translate_digits
from reprlab.lie.fit import fit_lie
from reprlab.lie.modules import LieSparseCoding
from reprlab.registry import register_method
from reprlab.report import MethodReport
from reprlab.report.plots import image_grid

__all__ = ["LieConfig", "TINY", "QUICK", "FULL", "CLAIMS", "run"]


@dataclass(frozen=True)
class LieConfig:
    """Sizes of one run. Paper / official: K = 10, λ = 10, L = 128, σ = 0.1, N = 50, batch
    100, η_Ψ = 0.05, η_W = 0.3, 3 warm-up epochs, official (mean-field) gradients."""

    n_seeds: int = 3
    n_templates: int = 10
    n_blocks: int = 128
    lam: float = 10.0
    sigma: float = 0.1
    batch_size: int = 100
    lr_templates: float = 0.05
    lr_weight: float = 0.3
    warmup_epochs: float = 3.0
    epochs: int = 10
    gradient: str = "official"
    max_iter: int = 100
    em_steps: int = 3
    reflect_every: int = 0  # our reflection sweep (epochs); 0 = off (official: none)
    n_train: int = 2_000  # per controlled data set (paper: more; CPU budget)
    n_test: int = 500
    grid_translate: int = 28  # integer shifts are grid points
    grid_rotate: int = 64
    rotation_multiplicity: int = 8
    mnist_train: int = 2_000
    mnist_epochs: int = 10
    image_size: int = 28


FULL = LieConfig()
QUICK = LieConfig(
    n_blocks=64, lr_templates=0.002, lr_weight=0.01, warmup_epochs=1.0, epochs=3,
    max_iter=50, em_steps=1, n_train=300, n_test=200, grid_translate=14, grid_rotate=32,
    mnist_train=300, mnist_epochs=3)
TINY = LieConfig(
    n_blocks=16, n_templates=4, lr_templates=0.002, lr_weight=0.01, warmup_epochs=1.0,
    epochs=1, max_iter=10, em_steps=1, batch_size=30, n_train=60, n_test=30,
    grid_translate=4, grid_rotate=8, rotation_multiplicity=2, mnist_train=60, mnist_epochs=1)

_BASE = ("the same model at its PCA start (W = top principal pairs of the training images, "
         "Ψ = K projected training images), before any learning; same seed")
TRANSLATE = ClaimSpec(
    name="translations: shifts and digits recovered by learning",
    paper_value="shifts and the 10 digits recovered, unsupervised (figures)",
    paper_dataset="MNIST exemplars under 2-D circular translation",
    dataset="10 MNIST exemplars (one per class), circular translations, held-out images",
    criteria=(
        Criterion("error", "median |shift error| after alignment (learned)", unit="px",
                  reproduced=1.5, partial=3.0, higher_is_better=False),
        Criterion("gain", "PCA-start − learned median shift error", unit="px",
                  reproduced=0.5, partial=0.0, null=0.0),
        Criterion("digit_match", "mean best orbit cosine exemplar↔learned template",
                  reproduced=0.9, partial=0.8),
    ),
    baseline=_BASE,
    control="chance: a uniformly random shift has a median error of ~7 px",
    min_seeds=3)
ROTATE = ClaimSpec(
    name="rotations: angles and digits recovered by learning",
    paper_value="rotation angle and the 10 digits recovered, unsupervised (figures)",
    paper_dataset="MNIST exemplars under rotation",
    dataset="10 MNIST exemplars, rotations in [0, 360°), held-out images",
    criteria=(
        Criterion("error", "median |angle error| after alignment (learned)", unit="°",
                  reproduced=10.0, partial=30.0, higher_is_better=False),
        Criterion("gain", "PCA-start − learned median angle error", unit="°",
                  reproduced=5.0, partial=0.0, null=0.0),
        Criterion("digit_match", "mean best orbit cosine exemplar↔learned template",
                  reproduced=0.9, partial=0.8),
    ),
    baseline=_BASE,
    control="chance: a uniformly random angle has a median error of 90°",
    min_seeds=3)
MNIST = ClaimSpec(
    name="full MNIST: learned templates are digit shapes",
    paper_value="digit-like templates; shear and stretch orbits (figures)",
    paper_dataset="MNIST 60k",
    dataset="MNIST train subset",
    criteria=(
        Criterion("cosine", "mean over classes of the best orbit cosine class mean↔template",
                  reproduced=0.8, partial=0.7),
        Criterion("gain", "learned − PCA-start orbit cosine", reproduced=0.05, partial=0.0,
                  null=0.0),
    ),
    baseline=_BASE,
    control="the PCA start (data images projected on span W already look like digits)",
    min_seeds=3)
VS_SC = ClaimSpec(
    name="transformed digits: lower error than plain sparse coding at similar L0",
    paper_value="the transformation model explains transformed digits with ~1 active "
                "template; plain sparse coding cannot",
    paper_dataset="MNIST exemplars under transformations",
    dataset="translated exemplars, held-out images",
    criteria=(
        Criterion("fvu_ratio", "Lie FVU / plain-SC FVU", reproduced=0.8, partial=1.0,
                  higher_is_better=False),
        Criterion("l0_excess", "Lie L0 − plain-SC L0", reproduced=0.5, partial=2.0,
                  higher_is_better=False),
    ),
    baseline="plain non-negative sparse coding with the same K atoms and lasso penalty λσ², "
             "learned by reprlab.sparse.learn_dictionary (lr 0.5, bias correction, "
             "data-initialised atoms, same epochs and batch)",
    control="the Lie model at its PCA start (FVU in the detail)",
    min_seeds=3)
CLAIMS = (TRANSLATE, ROTATE, MNIST, VS_SC)


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


def _orbits(model: LieSparseCoding, steps: int = 8) -> torch.Tensor:
    """T(s)ψ_k along each torus axis: rows = templates, cols = s_i ∈ [0, 2π)."""
    rows = []
    with torch.no_grad():
        for axis in range(model.n_params):
            s = torch.zeros(steps, model.n_params)
            s[:, axis] = torch.arange(steps) * 2 * math.pi / steps
            for k in range(model.n_templates):
                rows.append(model.transform(model.templates[:, k][None].expand(steps, -1), s))
    return torch.cat(rows)


def _model(cfg: LieConfig, n_params: int, grid: int, multiplicity: int) -> LieSparseCoding:
    side = cfg.image_size
    return LieSparseCoding(side * side, cfg.n_templates, cfg.n_blocks, n_params,
                           multiplicity=multiplicity, sigma=cfg.sigma, lam=cfg.lam,
                           grid_size=grid, em_steps=cfg.em_steps)


def _evaluate(model: LieSparseCoding, test, targets: torch.Tensor, grid: int,
              scale: float | None) -> dict:
    res = model.infer(test.images if scale is not None else test)
    out = {}
    x = (test.images if scale is not None else test).flatten(1)
    recon = model.reconstruct(res)
    out["fvu"] = float(((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    out["l0"] = float((res.alpha > 0).sum(1).double().mean())
    if scale is not None:
        err, _, _ = F.align_parameters(res.s_map, test.s, res.alpha.argmax(dim=1))
        out["error"] = float(err[:, 0].abs().median() * scale)
    out["match"] = float(_orbit_match(model, targets, grid).mean())
    return out


def _experiment(kind: str, cfg: LieConfig, seed: int, mnist, ctx) -> dict:
    """Train one model from its PCA start; metrics before and after, and the final state."""
    torch.manual_seed(seed)
    digits, _ = select_digits(mnist.images, mnist.labels, seed=seed)
    if kind == "mnist":
        train = mnist.subset(cfg.mnist_train, seed=seed).images
        test = mnist.subset(cfg.mnist_train + cfg.n_test, seed=seed).images[cfg.mnist_train:]
        targets = torch.stack([mnist.images[mnist.labels == c].mean(0).flatten()
                               for c in range(10)])
        n_params, grid, mult, scale, epochs = 2, cfg.grid_translate, 1, None, cfg.mnist_epochs
        data, test_set = train, test
    else:
        gen = translate_digits if kind == "translate" else rotate_digits
        tr, test_set = gen(digits, cfg.n_train, seed=seed + 1), gen(digits, cfg.n_test,
                                                                     seed=seed + 2)
        data, targets = tr.images, digits.flatten(1)
        n_params = tr.s.shape[1]
        grid = cfg.grid_translate if kind == "translate" else cfg.grid_rotate
        mult = cfg.rotation_multiplicity if kind == "rotate" else 1
        scale = cfg.image_size / (2 * math.pi) if kind == "translate" else 180 / math.pi
        epochs = cfg.epochs
    model = _model(cfg, n_params, grid, mult)
    model.init_from_data(data, generator=torch.Generator().manual_seed(seed))
    start = _evaluate(model, test_set, targets, grid, scale)
    ckpt = ctx.store.subfolder(f"fit-{kind}-seed{seed}") if not ctx.quick else None
    hist = fit_lie(model, data, epochs=epochs, batch_size=cfg.batch_size,
                   lr_templates=cfg.lr_templates, lr_weight=cfg.lr_weight,
                   warmup_epochs=cfg.warmup_epochs, max_iter=cfg.max_iter, seed=seed,
                   checkpoint_dir=ckpt, resume=ckpt is not None, progress=ctx.progress,
                   reflect_every=cfg.reflect_every, gradient=cfg.gradient)
    learned = _evaluate(model, test_set, targets, grid, scale)
    out = {"start": start, "learned": learned, "train_fvu": hist.fvu,
           "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
           "n_params": n_params, "grid": grid, "mult": mult}
    if kind == "translate":
        out["sc"] = _plain_sparse_coding(data, test_set.images, cfg, seed)
    return out


def _plain_sparse_coding(train: torch.Tensor, test: torch.Tensor, cfg: LieConfig,
                         seed: int) -> dict:
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
    return {"fvu": fvu, "l0": float((codes > 0).sum(1).double().mean())}


def _tile(images: torch.Tensor, ncols: int, side: int) -> torch.Tensor:
    """(N, side²) images, each scaled to [0, 1], tiled row-major into one (1, H, W) image
    (one matplotlib axis instead of N: the figure costs milliseconds)."""
    x = images.detach().reshape(-1, side, side)
    lo = x.flatten(1).min(1).values[:, None, None]
    hi = x.flatten(1).max(1).values[:, None, None]
    x = (x - lo) / (hi - lo).clamp_min(1e-12)
    n = x.shape[0]
    rows = math.ceil(n / ncols)
    pad = torch.ones(rows * ncols - n, side, side)
    x = torch.cat([x, pad]).reshape(rows, ncols, side, side)
    x = torch.nn.functional.pad(x, (1, 1, 1, 1), value=1.0)
    return x.permute(0, 2, 1, 3).reshape(1, rows * (side + 2), ncols * (side + 2))


def _figures(report: MethodReport, kind: str, r: dict, cfg: LieConfig) -> None:
    model = _model(cfg, r["n_params"], r["grid"], r["mult"])
    model.load_state_dict(r["state"])
    side = cfg.image_size
    report.add_figure(f"{kind}: learned templates",
                      image_grid(_tile(model.templates.T, model.n_templates, side),
                                 ncols=1, cell=0.7 * model.n_templates,
                                 title=f"templates ({kind}, first seed)"), "Learned Ψ.")
    steps = 8
    report.add_figure(f"{kind}: orbits",
                      image_grid(_tile(_orbits(model, steps), steps, side), ncols=1,
                                 cell=0.7 * steps, title=f"T(s)ψ along each axis ({kind})"),
                      "Rows: templates × torus axes, columns: s ∈ [0, 2π) in 8 steps (look "
                      "for shear/stretch on MNIST).")


@register_method(
    "lie",
    summary="Lie-group sparse coding: shapes and their continuous transformations",
    paper="arXiv:2012.12071",
    claims=CLAIMS,
    configs={"tiny": TINY, "quick": QUICK, "full": FULL},
    seconds={"tiny": 13, "quick": 18, "full": 14400},
)
def run(ctx, cfg: LieConfig) -> MethodReport:
    """The four claims over ``cfg.n_seeds`` seeds, each learned model against its PCA start."""
    from reprlab.data import load_mnist

    report = ctx.new_report()
    mnist = load_mnist("train")
    seeds = ctx.seeds(cfg.n_seeds)
    res: dict[str, list[dict]] = {"translate": [], "rotate": [], "mnist": []}
    bar = ctx.bar(total=len(seeds) * len(res), desc="lie")
    for seed in seeds:
        for kind in res:
            res[kind].append(ctx.store.cached(
                f"{kind}-seed{seed}", lambda k=kind, s=seed: _experiment(k, cfg, s, mnist, ctx)))
            if bar is not None:
                bar.update(1)
    for kind, rs in res.items():
        _figures(report, kind, rs[0], cfg)

    def seedwise(kind: str, fn) -> Measured:
        return Measured.from_seeds([fn(r) for r in res[kind]])

    def detail(kind: str, key: str) -> dict:
        return {f"seed {s}": {"PCA start": round(r["start"][key], 3),
                              "learned": round(r["learned"][key], 3)}
                for s, r in zip(seeds, res[kind], strict=True)}

    scale = "quick" if ctx.quick else "full"
    for spec, kind, unit in ((TRANSLATE, "translate", "px"), (ROTATE, "rotate", "°")):
        m_err = seedwise(kind, lambda r: r["learned"]["error"])
        m_gain = seedwise(kind, lambda r: r["start"]["error"] - r["learned"]["error"])
        m_match = seedwise(kind, lambda r: r["learned"]["match"])
        start_err = _mean([r["start"]["error"] for r in res[kind]])
        report.add(spec.judge(
            {"error": m_err, "gain": m_gain, "digit_match": m_match},
            dataset=f"{spec.dataset}; {cfg.n_train} train / {cfg.n_test} test per seed "
                    f"({scale} config)",
            note=f"learned median error {m_err.value:.2f} ± {m_err.spread:.2f} {unit} vs PCA "
                 f"start {start_err:.2f} {unit} (gain {m_gain.value:.2f} ± "
                 f"{m_gain.spread:.2f}); orbit cosine {m_match.value:.2f} (start "
                 f"{_mean([r['start']['match'] for r in res[kind]]):.2f}). Errors "
                 "after aligning inferred to true parameters up to a torus automorphism and "
                 "one offset per template (argmax α).",
            detail=detail(kind, "error")))
    m_cos = seedwise("mnist", lambda r: r["learned"]["match"])
    m_gain = seedwise("mnist", lambda r: r["learned"]["match"] - r["start"]["match"])
    report.add(MNIST.judge(
        {"cosine": m_cos, "gain": m_gain},
        dataset=f"MNIST train subset of {cfg.mnist_train} per seed ({scale} config)",
        note=f"class-mean orbit cosine {m_cos.value:.3f} (gain over the PCA start "
             f"{m_gain.value:+.3f} ± {m_gain.spread:.3f}). Whether orbits are shears/stretches "
             "is judged from the orbit figure, not scored.",
        detail=detail("mnist", "match")))
    ratio = seedwise("translate", lambda r: r["learned"]["fvu"] / r["sc"]["fvu"])
    excess = seedwise("translate", lambda r: r["learned"]["l0"] - r["sc"]["l0"])
    report.add(VS_SC.judge(
        {"fvu_ratio": ratio, "l0_excess": excess},
        dataset=f"translated exemplars, {cfg.n_test} test images per seed ({scale} config)",
        note=f"FVU = ‖x − x̂‖²/‖x − x̄‖² on held-out images. Lie/SC FVU ratio {ratio.value:.2f} "
             f"± {ratio.spread:.2f}, L0 excess {excess.value:+.2f}; the PCA start's FVU is in "
             "the detail.",
        detail={f"seed {s}": {"Lie learned": round(r["learned"]["fvu"], 3),
                              "Lie PCA start": round(r["start"]["fvu"], 3),
                              "plain SC": round(r["sc"]["fvu"], 3),
                              "Lie L0": round(r["learned"]["l0"], 2),
                              "SC L0": round(r["sc"]["l0"], 2)}
                for s, r in zip(seeds, res["translate"], strict=True)}))
    report.results["per_seed"] = {
        kind: [{"start": r["start"], "learned": r["learned"], **({"sc": r["sc"]} if "sc" in r
                                                                  else {})} for r in rs]
        for kind, rs in res.items()}
    report.results["config"] = asdict(cfg)
    gains = [report.claims[i].measured_value["gain"] for i in range(2)]
    report.summary = (f"learning vs PCA start over {len(seeds)} seeds: translation error gain "
                      f"{gains[0]:+.2f} px, rotation gain {gains[1]:+.1f}°, MNIST template "
                      f"cosine gain {m_gain.value:+.3f}; Lie/SC FVU {ratio.value:.2f}")
    return report


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
