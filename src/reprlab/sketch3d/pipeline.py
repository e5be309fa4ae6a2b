"""The sketch -> 3D pipeline: data set generation (cached), training, evaluation, prediction.

Data: procedural shapes (:mod:`.shapes`), one rendered standard sketch per shape from a random
view (:mod:`.render`), free-hand versions (:mod:`.freehand`) and a surface point cloud per
shape. Training follows the paper: the standardization net (pix2pix) is trained to map free-hand
versions of training sketches back to their standard sketches; the reconstruction net is then
trained with the Chamfer loss on the *standardized* synthetic sketches, so that at test time
every sketch (synthetic or free-hand) goes through the same standardizer before the 2D->3D
net. A baseline reconstruction net trained on the raw synthetic sketches measures what
happens without the module.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprlab.sketch3d.freehand import FreehandConfig, simulate_freehand
from reprlab.sketch3d.functional import (
    chamfer_distance,
    pix2pix_discriminator_loss,
    pix2pix_generator_loss,
    voxel_iou,
)
from reprlab.sketch3d.io import export_points, read_sketch_image
from reprlab.sketch3d.modules import PatchDiscriminator, PointCloudNet, UNetGenerator
from reprlab.sketch3d.render import render_contours
from reprlab.sketch3d.shapes import CATEGORIES, generate_shapes, sample_points, split_indices
from reprlab.train import fit
from reprlab.utils import progress_bar

__all__ = [
    "Sketch3DConfig",
    "SketchData",
    "Sketch3DModel",
    "build_dataset",
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
"""File name of the trained model bundle inside a reproduce run's ``work_dir``."""


@dataclass(frozen=True)
class Sketch3DConfig:
    """Everything that defines a sketch3d run (data, networks, optimisation)."""

    n_per_category: int = 100
    categories: tuple[str, ...] = tuple(CATEGORIES)
    image_size: int = 64
    n_points: int = 1024
    azimuth: tuple[float, float] = (20.0, 70.0)
    elevation: tuple[float, float] = (15.0, 35.0)
    freehand_variants: int = 2  # free-hand copies of each training sketch for the standardizer
    freehand: FreehandConfig = field(default_factory=FreehandConfig)
    # standardizer (pix2pix defaults: Adam 2e-4, beta1 0.5, lambda_L1 100)
    ngf: int = 16
    ndf: int = 16
    std_epochs: int = 12
    std_batch: int = 16
    std_lr: float = 2e-4
    lambda_l1: float = 100.0
    # reconstructor
    width: int = 16
    hidden: int = 512
    rec_epochs: int = 40
    rec_batch: int = 32
    rec_lr: float = 1e-3
    seed: int = 0

    def data_key(self) -> str:
        """A hash of the fields that determine the generated data set (the cache key)."""
        keys = ("n_per_category", "categories", "image_size", "n_points", "azimuth",
                "elevation", "freehand_variants", "freehand", "seed")
        d = asdict(self)
        blob = json.dumps({k: d[k] for k in keys}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass
class SketchData:
    """A generated data set. Images are uint8 {0, 1} arrays (N, S, S) with 1 = ink.

    ``clean``: standard sketches; ``freehand``: one simulated free-hand version per shape
    (the free-hand test input); ``freehand_train``: ``freehand_variants`` more per shape, drawn
    independently (standardizer training pairs, used on the train split only); ``points``
    (N, n_points, 3); ``labels`` (N,) category indices; ``views`` (N, 2) azimuth/elevation;
    ``split`` name -> indices.
    """

    clean: np.ndarray
    freehand: np.ndarray
    freehand_train: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    views: np.ndarray
    categories: tuple[str, ...]
    split: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)


def build_dataset(config: Sketch3DConfig, *, cache_dir: str | Path | None = None,
                  progress: bool | None = None) -> SketchData:
    """Generate (or load from ``cache_dir``) the procedural sketch/shape data set."""
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"data_{config.data_key()}.npz"
        if cache.exists():
            z = np.load(cache)
            return SketchData(clean=z["clean"], freehand=z["freehand"],
                              freehand_train=z["freehand_train"], points=z["points"],
                              labels=z["labels"], views=z["views"],
                              categories=tuple(config.categories),
                              split={k: z[f"split_{k}"] for k in ("train", "val", "test")})
    meshes, names = generate_shapes(config.n_per_category, categories=config.categories,
                                    seed=config.seed)
    rng = np.random.default_rng(config.seed + 1)
    n, s = len(meshes), config.image_size
    clean = np.zeros((n, s, s), dtype=np.uint8)
    freehand = np.zeros_like(clean)
    freehand_train = np.zeros((n, config.freehand_variants, s, s), dtype=np.uint8)
    points = np.zeros((n, config.n_points, 3), dtype=np.float32)
    views = np.zeros((n, 2), dtype=np.float32)
    margin = max(2, s // 32)
    fh_cfg = FreehandConfig(**{**asdict(config.freehand), "margin": margin})
    for i in progress_bar(range(n), enabled=progress, desc="sketch3d data"):
        az, el = rng.uniform(*config.azimuth), rng.uniform(*config.elevation)
        views[i] = az, el
        img = render_contours(meshes[i], azimuth=az, elevation=el, size=s, margin=margin)
        clean[i] = img
        freehand[i] = simulate_freehand(img, rng=rng, config=fh_cfg)
        for k in range(config.freehand_variants):
            freehand_train[i, k] = simulate_freehand(img, rng=rng, config=fh_cfg)
        points[i] = sample_points(meshes[i], config.n_points, rng=rng)
    labels = np.array([config.categories.index(c) for c in names], dtype=np.int64)
    split = split_indices(n, seed=config.seed)
    data = SketchData(clean=clean, freehand=freehand, freehand_train=freehand_train,
                      points=points, labels=labels, views=views,
                      categories=tuple(config.categories), split=split)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, clean=clean, freehand=freehand, freehand_train=freehand_train,
                            points=points, labels=labels, views=views,
                            **{f"split_{k}": v for k, v in split.items()})
        os.replace(tmp, cache)
    return data


def train_standardizer(generator: UNetGenerator, discriminator: PatchDiscriminator,
                       inputs: torch.Tensor, targets: torch.Tensor, *, epochs: int,
                       batch_size: int = 16, lr: float = 2e-4, lambda_l1: float = 100.0,
                       seed: int = 0, checkpoint_dir: str | Path | None = None,
                       resume: bool = False, progress: bool | None = None
                       ) -> list[dict[str, float]]:
    """Pix2pix training of the standardization module (free-hand -> standard sketch).

    Alternating Adam(lr, betas=(0.5, 0.999)) steps: the conditional PatchGAN on real pairs
    ``(x, y)`` vs. fake pairs ``(x, G(x))``, then ``G`` on the non-saturating GAN loss plus
    ``lambda_l1`` times L1 on the ``[-1, 1]`` image scale (pix2pix's scale). Checkpoints
    ``standardizer.pt`` after every epoch and resumes from it.

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
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    ckpt = Path(checkpoint_dir) / "standardizer.pt" if checkpoint_dir is not None else None
    history: list[dict[str, float]] = []
    start = 0
    if ckpt is not None and resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"] + 1
    n = len(inputs)
    for epoch in range(start, epochs):
        generator.train()
        discriminator.train()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
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
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"generator": generator.state_dict(),
                        "discriminator": discriminator.state_dict(),
                        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                        "rng": torch.get_rng_state(), "history": history, "epoch": epoch}, tmp)
            os.replace(tmp, ckpt)
    generator.eval()
    discriminator.eval()
    return history


def _chamfer_step(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    x, pts = batch
    loss = chamfer_distance(model(x), pts)
    return loss, {"loss": float(loss.detach())}


def train_reconstructor(net: PointCloudNet, sketches: torch.Tensor, points: torch.Tensor, *,
                        epochs: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                        checkpoint_dir: str | Path | None = None, resume: bool = False,
                        progress: bool | None = None) -> list[dict[str, float]]:
    """Train the 2D->3D net on (sketch, point cloud) pairs with the Chamfer loss.

    Runs :func:`reprlab.train.fit` (seeded, checkpointed under
    ``checkpoint_dir/reconstructor``, resumable) with Adam and a cosine learning-rate decay.
    """
    dataset = torch.utils.data.TensorDataset(sketches, points)
    ck = Path(checkpoint_dir) / "reconstructor" if checkpoint_dir is not None else None
    hist = fit(net, dataset, epochs=epochs, step_fn=_chamfer_step, batch_size=batch_size, lr=lr,
               scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs),
               checkpoint_dir=ck, resume=resume, seed=seed, progress=progress,
               desc="reconstructor")
    return hist.rows


@torch.no_grad()
def _batched(fn: Any, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate(net: PointCloudNet, sketches: torch.Tensor, points: torch.Tensor,
             labels: np.ndarray, categories: tuple[str, ...], *,
             iou_resolution: int = 32) -> dict[str, dict[str, float]]:
    """Chamfer distance (squared, x1000) and voxel IoU, per category and overall.

    Returns
    -------
    dict
        ``{"chamfer": {category: value, ..., "mean": value}, "iou": {...}}``; the overall
        value is the mean over categories.
    """
    net.eval()
    pred = _batched(net, sketches)
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

    ``standardizer`` maps any sketch to the standard style; ``reconstructor`` was trained on
    *standardized* synthetic sketches (the paper's pipeline); ``baseline`` (optional) was
    trained on raw synthetic sketches and is used when standardization is switched off.
    """

    standardizer: UNetGenerator
    reconstructor: PointCloudNet
    config: Sketch3DConfig
    baseline: PointCloudNet | None = None

    @torch.no_grad()
    def standardize(self, sketches: torch.Tensor) -> torch.Tensor:
        """Standardize ink images (B, 1, S, S) -> (B, 1, S, S) in [0, 1] (not binarized)."""
        self.standardizer.eval()
        return _batched(self.standardizer, sketches)

    @torch.no_grad()
    def reconstruct(self, sketches: torch.Tensor, *, standardize: bool = True) -> torch.Tensor:
        """Point clouds (B, n_points, 3) for ink images (B, 1, S, S).

        ``standardize=False`` skips the module and uses ``baseline`` (the net trained on raw
        synthetic sketches); it raises when the model has none.
        """
        if standardize:
            self.reconstructor.eval()
            return _batched(self.reconstructor, self.standardize(sketches))
        if self.baseline is None:
            raise ValueError("this model has no baseline reconstructor; use standardize=True")
        self.baseline.eval()
        return _batched(self.baseline, sketches)


def _config_to_dict(config: Sketch3DConfig) -> dict[str, Any]:
    return asdict(config)


def _config_from_dict(d: dict[str, Any]) -> Sketch3DConfig:
    d = dict(d)
    d["freehand"] = FreehandConfig(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in d["freehand"].items()})
    return Sketch3DConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def save_model(model: Sketch3DModel, path: str | Path) -> Path:
    """Save both networks and the config to one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"standardizer": model.standardizer.state_dict(),
                "reconstructor": model.reconstructor.state_dict(),
                "baseline": (model.baseline.state_dict() if model.baseline is not None
                             else None),
                "config": _config_to_dict(model.config)}, path)
    return path


def _missing_model_message(path: Path) -> str:
    return (f"no trained sketch3d model at {path}. Train one with "
            "`reprlab reproduce sketch3d --quick --out reprlab-out` (writes "
            f"reprlab-out/sketch3d/work/{MODEL_FILE}, the default place `predict` looks; a few "
            "minutes on CPU), or pass --work-dir DIR / --checkpoint PATH")


def load_model(path: str | Path) -> Sketch3DModel:
    """Load a bundle written by :func:`save_model`; a clear error when it is missing."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(_missing_model_message(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        config = _config_from_dict(state["config"])
    except (KeyError, TypeError, RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a sketch3d model file ({err})") from err
    std = UNetGenerator(config.image_size, config.ngf)
    rec = PointCloudNet(config.image_size, config.n_points, config.width, config.hidden)
    std.load_state_dict(state["standardizer"])
    rec.load_state_dict(state["reconstructor"])
    base = None
    if state.get("baseline") is not None:
        base = PointCloudNet(config.image_size, config.n_points, config.width, config.hidden)
        base.load_state_dict(state["baseline"])
        base.eval()
    std.eval()
    rec.eval()
    return Sketch3DModel(standardizer=std, reconstructor=rec, config=config, baseline=base)


def predict_points(model: Sketch3DModel, sketch: np.ndarray, *,
                   standardize: bool = True) -> np.ndarray:
    """Point cloud (n_points, 3) for one normalised ink image (S, S)."""
    s = model.config.image_size
    if sketch.shape != (s, s):
        raise ValueError(f"sketch must have shape ({s}, {s}), got {sketch.shape}")
    x = torch.from_numpy(np.asarray(sketch, dtype=np.float32))[None, None]
    return model.reconstruct(x, standardize=standardize)[0].numpy()


def predict_file(image: str | Path, out: str | Path, *, checkpoint: str | Path | None = None,
                 work_dir: str | Path | None = None, standardize: bool = True) -> Path:
    """Read a sketch picture, reconstruct its 3-D point cloud, write it as PLY or OBJ.

    The model comes from ``checkpoint`` (a file from :func:`save_model`), else from
    ``work_dir/sketch3d_model.pt`` (the ``work_dir`` of a ``reprlab reproduce sketch3d`` run,
    default ``reprlab-out/sketch3d/work``).
    """
    out = Path(out)
    if out.suffix.lower() not in (".ply", ".obj"):
        raise ValueError(f"--out must end in .ply or .obj, got {str(out)!r}")
    if checkpoint is not None:
        path = Path(checkpoint)
    else:
        path = Path(work_dir if work_dir is not None else "reprlab-out/sketch3d/work")
        path = path / MODEL_FILE
    model = load_model(path)
    sketch = read_sketch_image(image, size=model.config.image_size,
                               margin=max(2, model.config.image_size // 32))
    pts = predict_points(model, sketch, standardize=standardize)
    out.parent.mkdir(parents=True, exist_ok=True)
    return export_points(pts, out)
