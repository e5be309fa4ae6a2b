"""The sketch -> 3D pipeline: data, training, evaluation, saving, prediction.

Data (:func:`build_shapes`): procedural shapes (:mod:`.shapes`), one view per shape rendered
as a clean line drawing -- the *edge map* (:mod:`.render`) -- and a surface point cloud.
Sketch styles are drawn from the edge maps by :func:`draw_sketches` with a
:class:`~reprlab.sketch3d.freehand.FreehandConfig` preset: the *synthesized sketches* the
paper trains on, the standardizer's training deformations, and the unseen free-hand test
style.

Training follows the paper and its official code: the standardization net (pix2pix,
:func:`train_standardizer`) learns to map deformed synthesized sketches back to the
synthesized sketch; the reconstruction net (:class:`~reprlab.sketch3d.modules.SketchPSGN`,
:func:`train_reconstructor`) learns from the *standardized* synthesized sketches with the
Chamfer loss, so at test time every sketch goes through the standardizer first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprlab.checkpoint import (
    CheckpointError,
    SettingsMismatch,
    load_checkpoint,
    save_checkpoint,
)
from reprlab.sketch3d.freehand import (
    FREEHAND_TEST,
    STANDARDIZER_TRAIN,
    SYNTHESIZED,
    FreehandConfig,
    simulate_freehand,
)
from reprlab.sketch3d.functional import (
    chamfer_distance,
    pix2pix_discriminator_loss,
    pix2pix_generator_loss,
    voxel_iou,
)
from reprlab.sketch3d.io import export_points, read_sketch_image
from reprlab.sketch3d.modules import (
    PatchDiscriminator,
    PointCloudNet,
    SketchPSGN,
    UNetGenerator,
)
from reprlab.sketch3d.render import render_contours
from reprlab.sketch3d.shapes import CATEGORIES, generate_shapes, sample_points, split_indices
from reprlab.utils import progress_bar

__all__ = [
    "Sketch3DConfig",
    "ShapeData",
    "Sketch3DModel",
    "build_shapes",
    "draw_sketches",
    "make_reconstructor",
    "train_standardizer",
    "train_reconstructor",
    "evaluate",
    "save_model",
    "load_model",
    "predict_points",
    "predict_file",
    "MODEL_FILE",
]

MODEL_FILE = "sketch3d_model.pt"
"""File name of the trained model bundle inside a reproduce run's work folder."""

_MODEL_FORMAT = 2
_ARCHS = ("psgn", "mlp")


@dataclass(frozen=True)
class Sketch3DConfig:
    """Everything that defines a sketch3d run (data, sketch styles, networks, optimisation).

    ``arch`` picks the 2D->3D net: ``"psgn"`` (the paper's, :class:`SketchPSGN`) or ``"mlp"``
    (the conv encoder + MLP decoder baseline, :class:`PointCloudNet`). ``n_seeds`` seeds are
    trained for every claim (each seed redraws every sketch and re-initialises every net; the
    shapes and renders are shared). ``data_seed`` fixes the shapes and views.
    """

    n_per_category: int = 100
    categories: tuple[str, ...] = tuple(CATEGORIES)
    image_size: int = 64
    n_points: int = 1024
    azimuth: tuple[float, float] = (20.0, 70.0)
    elevation: tuple[float, float] = (15.0, 35.0)
    test_fraction: float = 0.2
    data_seed: int = 0
    n_seeds: int = 3
    synthesized: FreehandConfig = field(default_factory=lambda: SYNTHESIZED)
    standardizer_train: FreehandConfig = field(default_factory=lambda: STANDARDIZER_TRAIN)
    freehand_test: FreehandConfig = field(default_factory=lambda: FREEHAND_TEST)
    # standardizer (pix2pix defaults: Adam 2e-4, beta1 0.5, lambda_L1 100)
    std_variants: int = 1  # deformed copies of each training sketch
    ngf: int = 16
    ndf: int = 16
    std_epochs: int = 12
    std_batch: int = 16
    std_lr: float = 2e-4
    lambda_l1: float = 100.0
    # reconstructor
    arch: str = "psgn"
    width: int = 8
    hidden: int = 512
    rec_epochs: int = 40
    rec_batch: int = 32
    rec_lr: float = 1e-3
    transform_weight: float = 1e-7

    def __post_init__(self) -> None:
        for name in ("n_per_category", "n_points", "n_seeds", "std_variants", "ngf", "ndf",
                     "std_batch", "width", "hidden", "rec_batch"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"Sketch3DConfig.{name} must be an integer >= 1, got {v!r}")
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"Sketch3DConfig.image_size must be a power of two >= 16, got "
                             f"{self.image_size}")
        for name in ("std_epochs", "rec_epochs"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Sketch3DConfig.{name} must be >= 0, got "
                                 f"{getattr(self, name)}")
        for name in ("std_lr", "rec_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Sketch3DConfig.{name} must be > 0, got "
                                 f"{getattr(self, name)}")
        if not self.transform_weight >= 0 or not self.lambda_l1 >= 0:
            raise ValueError(f"Sketch3DConfig.transform_weight and lambda_l1 must be >= 0, got "
                             f"{self.transform_weight}, {self.lambda_l1}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"Sketch3DConfig.test_fraction must be in (0, 1), got "
                             f"{self.test_fraction}")
        if self.arch not in _ARCHS:
            raise ValueError(f"Sketch3DConfig.arch must be one of {_ARCHS}, got {self.arch!r}")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown or not self.categories:
            raise ValueError(f"Sketch3DConfig.categories must be a non-empty subset of "
                             f"{sorted(CATEGORIES)}, got {list(self.categories)}")

    @property
    def margin(self) -> int:
        """Empty border of every sketch, in pixels."""
        return max(2, self.image_size // 32)


@dataclass
class ShapeData:
    """Shapes, their edge maps and point clouds (no sketch style: see :func:`draw_sketches`).

    ``clean``: uint8 {0, 1} edge maps (N, S, S), 1 = ink; ``points`` (N, n_points, 3);
    ``labels`` (N,) category indices; ``views`` (N, 2) azimuth/elevation in degrees;
    ``split``: ``{"train": idx, "test": idx}``.
    """

    clean: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    views: np.ndarray
    categories: tuple[str, ...]
    split: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "points": self.points, "labels": self.labels,
                "views": self.views, "categories": list(self.categories),
                "split": dict(self.split)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShapeData:
        return cls(clean=d["clean"], points=d["points"], labels=d["labels"], views=d["views"],
                   categories=tuple(d["categories"]), split=dict(d["split"]))


def build_shapes(config: Sketch3DConfig, *, progress: bool | None = None) -> ShapeData:
    """Generate the procedural shapes, one edge map per shape from a random view, and points.

    Everything is fixed by ``config.data_seed``; the split is seeded the same way.
    """
    meshes, names = generate_shapes(config.n_per_category, categories=config.categories,
                                    seed=config.data_seed)
    rng = np.random.default_rng([config.data_seed, 1])
    n, s = len(meshes), config.image_size
    clean = np.zeros((n, s, s), dtype=np.uint8)
    points = np.zeros((n, config.n_points, 3), dtype=np.float32)
    views = np.zeros((n, 2), dtype=np.float32)
    for i in progress_bar(range(n), enabled=progress, desc="sketch3d shapes"):
        az, el = rng.uniform(*config.azimuth), rng.uniform(*config.elevation)
        views[i] = az, el
        clean[i] = render_contours(meshes[i], azimuth=az, elevation=el, size=s,
                                   margin=config.margin)
        points[i] = sample_points(meshes[i], config.n_points, rng=rng)
    labels = np.array([config.categories.index(c) for c in names], dtype=np.int64)
    f = config.test_fraction
    split = split_indices(n, fractions=(1 - f, 0.0, f), seed=config.data_seed)
    return ShapeData(clean=clean, points=points, labels=labels, views=views,
                     categories=tuple(config.categories),
                     split={"train": split["train"], "test": split["test"]})


def draw_sketches(images: np.ndarray, style: FreehandConfig, *, rng: np.random.Generator,
                  margin: int | None = None) -> np.ndarray:
    """One sketch of ``style`` per image (N, S, S) -> uint8 {0, 1} (N, S, S).

    ``margin`` (default: the style's own) is the empty border the drawing is framed into.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, S, S), got {images.shape}")
    cfg = style if margin is None else replace(style, margin=margin)
    out = np.zeros(images.shape, dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = simulate_freehand(img, rng=rng, config=cfg)
    return out


def make_reconstructor(config: Sketch3DConfig) -> torch.nn.Module:
    """The 2D->3D net ``config.arch`` names, sized by ``config``."""
    if config.arch == "psgn":
        return SketchPSGN(config.image_size, config.n_points, config.width, config.hidden)
    return PointCloudNet(config.image_size, config.n_points, config.width, config.hidden)


def _as_images(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    return t.float() if t.dtype == torch.uint8 else t


def train_standardizer(generator: UNetGenerator, discriminator: PatchDiscriminator,
                       inputs: torch.Tensor, targets: torch.Tensor, *, epochs: int,
                       batch_size: int = 16, lr: float = 2e-4, lambda_l1: float = 100.0,
                       seed: int = 0, progress: bool | None = None) -> list[dict[str, float]]:
    """Pix2pix training of the standardization module (deformed -> standard sketch).

    Alternating Adam(lr, betas=(0.5, 0.999)) steps: the conditional PatchGAN on real pairs
    ``(x, y)`` vs. fake pairs ``(x, G(x))``, then ``G`` on the non-saturating GAN loss plus
    ``lambda_l1`` times L1 on the ``[-1, 1]`` image scale (pix2pix's scale).

    Parameters
    ----------
    inputs, targets : Tensor, shape (N, 1, S, S) in [0, 1]
        Float, or uint8 {0, 1} (converted per batch, which keeps big data sets small).

    Returns
    -------
    list of dict
        Per-epoch means of ``d_loss``, ``g_gan`` and ``g_l1``.
    """
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs and targets shapes differ: {tuple(inputs.shape)} vs "
                         f"{tuple(targets.shape)}")
    if not epochs >= 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if not batch_size >= 1 or not lr > 0:
        raise ValueError(f"batch_size must be >= 1 and lr > 0, got {batch_size}, {lr}")
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    history: list[dict[str, float]] = []
    n = len(inputs)
    batch_size = min(batch_size, n)
    for epoch in range(epochs):
        generator.train()
        discriminator.train()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        sums = {"d_loss": 0.0, "g_gan": 0.0, "g_l1": 0.0}
        steps = 0
        for b in progress_bar(range(0, n - batch_size + 1, batch_size), enabled=progress,
                              desc=f"standardizer {epoch + 1}/{epochs}"):
            idx = perm[b:b + batch_size]
            x, y = inputs[idx].float(), targets[idx].float()  # uint8 storage is fine
            fake = generator(x)
            d_loss = pix2pix_discriminator_loss(discriminator(x, y),
                                                discriminator(x, fake.detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # L1 on the [-1, 1] scale of pix2pix = 2 x L1 on [0, 1]
            g_loss, g_gan, g_l1 = pix2pix_generator_loss(discriminator(x, fake), 2 * fake - 1,
                                                         2 * y - 1, lambda_l1=lambda_l1)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            sums["d_loss"] += float(d_loss.detach())
            sums["g_gan"] += float(g_gan.detach())
            sums["g_l1"] += float(g_l1.detach())
            steps += 1
        history.append({k: v / max(steps, 1) for k, v in sums.items()} | {"epoch": epoch})
    generator.eval()
    discriminator.eval()
    return history


def train_reconstructor(net: torch.nn.Module, sketches: torch.Tensor, points: torch.Tensor, *,
                        epochs: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                        transform_weight: float = 1e-7,
                        progress: bool | None = None) -> list[dict[str, float]]:
    """Train a 2D->3D net on (sketch, point cloud) pairs with the Chamfer loss.

    Adam(lr) with a cosine decay to 0 over ``epochs``, seeded shuffling. A net with
    ``forward_with_transform`` (:class:`SketchPSGN`) adds ``transform_weight`` times its
    :meth:`~SketchPSGN.transform_penalty` (the official 0.001 against its x10^4 Chamfer
    scale is 1e-7 here). Works with any ``nn.Module`` mapping (B, 1, S, S) to (B, N, 3).

    Returns
    -------
    list of dict
        Per-epoch mean Chamfer ``loss``.
    """
    if len(sketches) != len(points):
        raise ValueError(f"sketches and points differ in length: {len(sketches)} vs "
                         f"{len(points)}")
    if not epochs >= 0 or not batch_size >= 1 or not lr > 0:
        raise ValueError(f"epochs must be >= 0, batch_size >= 1 and lr > 0, got {epochs}, "
                         f"{batch_size}, {lr}")
    n = len(sketches)
    batch_size = min(batch_size, n)
    steps_per_epoch = n // batch_size
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs * steps_per_epoch, 1))
    with_t = hasattr(net, "forward_with_transform")
    history: list[dict[str, float]] = []
    for epoch in progress_bar(range(epochs), enabled=progress, desc="reconstructor"):
        net.train()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        total = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            x, y = _as_images(sketches[idx]), points[idx]
            if with_t:
                pred, t = net.forward_with_transform(x)
                cd = chamfer_distance(pred, y)
                loss = cd + transform_weight * net.transform_penalty(t)
            else:
                cd = chamfer_distance(net(x), y)
                loss = cd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(cd.detach())
        history.append({"epoch": epoch, "loss": total / max(steps_per_epoch, 1)})
    net.eval()
    return history


@torch.no_grad()
def _batched(fn: Any, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([fn(_as_images(x[i:i + batch])) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate(net: torch.nn.Module, sketches: torch.Tensor | np.ndarray, points: torch.Tensor,
             labels: np.ndarray, categories: tuple[str, ...], *,
             iou_resolution: int = 32) -> dict[str, dict[str, float]]:
    """Chamfer distance (squared, x1000) and voxel IoU, per category and overall.

    Returns
    -------
    dict
        ``{"chamfer": {category: value, ..., "mean": value}, "iou": {...}}``; the overall
        value is the mean over the categories present.
    """
    if len(sketches) == 0:
        raise ValueError("evaluate needs at least one sketch, got none")
    net.eval()
    pred = _batched(net, torch.as_tensor(sketches))
    cd = chamfer_distance(pred, points, reduction="none").numpy() * 1000
    iou = voxel_iou(pred, points, resolution=iou_resolution).numpy()
    out: dict[str, dict[str, float]] = {"chamfer": {}, "iou": {}}
    for c, name in enumerate(categories):
        sel = labels == c
        if sel.any():
            out["chamfer"][name] = float(cd[sel].mean())
            out["iou"][name] = float(iou[sel].mean())
    for key in out:
        out[key]["mean"] = float(np.mean(list(out[key].values())))
    return out


@dataclass
class Sketch3DModel:
    """A trained pipeline.

    ``standardizer`` maps any sketch to the standard (synthesized) style; ``reconstructor``
    was trained on *standardized* synthesized sketches (the paper's pipeline); ``baseline``
    (optional) was trained on raw synthesized sketches and is used when standardization is
    switched off.
    """

    standardizer: UNetGenerator
    reconstructor: torch.nn.Module
    config: Sketch3DConfig
    baseline: torch.nn.Module | None = None

    @torch.no_grad()
    def standardize(self, sketches: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Standardize ink images (B, 1, S, S) -> (B, 1, S, S) in [0, 1] (not binarized)."""
        self.standardizer.eval()
        return _batched(self.standardizer, torch.as_tensor(sketches))

    @torch.no_grad()
    def reconstruct(self, sketches: torch.Tensor | np.ndarray, *,
                    standardize: bool = True) -> torch.Tensor:
        """Point clouds (B, n_points, 3) for ink images (B, 1, S, S).

        ``standardize=False`` skips the module and uses ``baseline`` (the net trained on raw
        synthesized sketches); it raises when the model has none.
        """
        if standardize:
            self.reconstructor.eval()
            return _batched(self.reconstructor, self.standardize(sketches))
        if self.baseline is None:
            raise ValueError("this model has no baseline reconstructor; use standardize=True")
        self.baseline.eval()
        return _batched(self.baseline, torch.as_tensor(sketches))


def _config_from_dict(d: dict[str, Any]) -> Sketch3DConfig:
    d = dict(d)
    for k in ("synthesized", "standardizer_train", "freehand_test"):
        d[k] = FreehandConfig(**{kk: tuple(v) if isinstance(v, list) else v
                                 for kk, v in d[k].items()})
    return Sketch3DConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


_MODEL_SETTINGS = {"kind": "reprlab.sketch3d model bundle"}


def save_model(model: Sketch3DModel, path: str | Path) -> Path:
    """Save both networks, the optional baseline and the config to one file (atomically)."""
    payload = {"standardizer": model.standardizer.state_dict(),
               "reconstructor": model.reconstructor.state_dict(),
               "baseline": (model.baseline.state_dict() if model.baseline is not None
                            else None),
               "config": asdict(model.config)}
    return save_checkpoint(path, payload, settings=_MODEL_SETTINGS, version=_MODEL_FORMAT)


def load_model(path: str | Path) -> Sketch3DModel:
    """Load a bundle written by :func:`save_model`.

    ``path`` is the file or a folder holding :data:`MODEL_FILE`. A missing file raises
    ``FileNotFoundError``; a corrupt, truncated, foreign or old-format file raises a one-line
    ``ValueError`` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no trained sketch3d model at {path}. Train one with "
                                "`reprlab reproduce sketch3d --quick --out DIR` (writes "
                                f"DIR/sketch3d/work/quick/{MODEL_FILE}) and pass "
                                "--work-dir DIR/sketch3d/work/quick or --checkpoint FILE")
    hint = "retrain with `reprlab reproduce sketch3d --fresh`"
    try:
        state = load_checkpoint(path, settings=_MODEL_SETTINGS, version=_MODEL_FORMAT,
                                on_mismatch="refuse", fresh_hint=hint)
        config = _config_from_dict(state["config"])
        std = UNetGenerator(config.image_size, config.ngf)
        rec = make_reconstructor(config)
        std.load_state_dict(state["standardizer"])
        rec.load_state_dict(state["reconstructor"])
        base = None
        if state.get("baseline") is not None:
            base = make_reconstructor(config)
            base.load_state_dict(state["baseline"])
            base.eval()
    except (CheckpointError, SettingsMismatch) as err:
        raise ValueError(str(err).splitlines()[0]) from err
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path} is not a usable sketch3d model file ({msg}); {hint}") from err
    std.eval()
    rec.eval()
    return Sketch3DModel(standardizer=std, reconstructor=rec, config=config, baseline=base)


def predict_points(model: Sketch3DModel, sketch: np.ndarray, *,
                   standardize: bool = True) -> np.ndarray:
    """Point cloud (n_points, 3) for one normalised ink image (S, S) in [0, 1]."""
    s = model.config.image_size
    sketch = np.asarray(sketch, dtype=np.float32)
    if sketch.shape != (s, s):
        raise ValueError(f"sketch must have shape ({s}, {s}), got {sketch.shape}")
    if not (np.isfinite(sketch).all() and sketch.min() >= 0 and sketch.max() <= 1):
        raise ValueError(f"sketch values must be finite and in [0, 1] (1 = ink), got range "
                         f"[{np.nanmin(sketch)}, {np.nanmax(sketch)}]")
    x = torch.from_numpy(sketch)[None, None]
    return model.reconstruct(x, standardize=standardize)[0].numpy()


def predict_file(image: str | Path, out: str | Path, *, checkpoint: str | Path | None = None,
                 work_dir: str | Path | None = None, standardize: bool = True) -> Path:
    """Read a sketch picture, reconstruct its 3-D point cloud, write it as PLY or OBJ.

    The model comes from ``checkpoint`` (a file from :func:`save_model`) or from
    ``work_dir/sketch3d_model.pt`` (the work folder of a ``reprlab reproduce sketch3d`` run);
    one of them is required -- there is no default location.
    """
    out = Path(out)
    if out.suffix.lower() not in (".ply", ".obj"):
        raise ValueError(f"out must end in .ply or .obj, got {str(out)!r}")
    if (checkpoint is None) == (work_dir is None):
        raise ValueError("pass exactly one of checkpoint= (a model file) or work_dir= (the "
                         "work folder of a `reprlab reproduce sketch3d` run), got "
                         f"checkpoint={checkpoint!r}, work_dir={work_dir!r}")
    path = Path(checkpoint) if checkpoint is not None else Path(work_dir) / MODEL_FILE
    model = load_model(path)
    sketch = read_sketch_image(image, size=model.config.image_size, margin=model.config.margin)
    pts = predict_points(model, sketch, standardize=standardize)
    out.parent.mkdir(parents=True, exist_ok=True)
    return export_points(pts, out)
