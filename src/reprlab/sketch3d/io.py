"""Reading a user's sketch image and writing point clouds (PLY / OBJ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reprlab.checkpoint import atomic_write_text

__all__ = ["normalize_sketch", "read_sketch_image", "write_ply", "write_obj", "export_points"]


def normalize_sketch(ink: np.ndarray, *, size: int, margin: int = 4,
                     threshold: float = 0.5) -> np.ndarray:
    """Crop an ink image to its strokes and fit them into a ``size`` canvas like the renderer.

    The strokes' bounding box is padded to a square, area-resized to ``size - 2 margin`` and
    centred, which is how the renderer frames synthetic sketches.

    Parameters
    ----------
    ink : ndarray, shape (H, W), values in [0, 1] with 1 = ink

    Returns
    -------
    ndarray, shape (size, size), float32 in {0, 1}
    """
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2:
        raise ValueError(f"ink must be a 2-D array, got shape {ink.shape}")
    ys, xs = np.nonzero(ink > threshold)
    if len(xs) == 0:
        raise ValueError("the image has no strokes (no dark pixels on a light background, "
                         "or the reverse); draw the object in dark lines on white")
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > threshold
    h, w = crop.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.float32)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = crop
    inner = size - 2 * margin
    t = torch.from_numpy(square)[None, None]
    if side >= inner:
        small = F.adaptive_max_pool2d(t, inner)  # keep thin strokes when shrinking
    else:
        small = F.interpolate(t, size=(inner, inner), mode="nearest")
    out = np.zeros((size, size), dtype=np.float32)
    out[margin:margin + inner, margin:margin + inner] = (small[0, 0].numpy() > 0.5)
    return out


def read_sketch_image(path: str | Path, *, size: int, margin: int = 4) -> np.ndarray:
    """Load a sketch picture (PNG/JPEG/...) as a normalised ink image.

    Colour images are converted to grey; a light background is detected from the image's
    median and inverted so that strokes become ink (1).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not a readable image, or holds no strokes.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sketch image {path} not found")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or "transparency" in im.info:
                # transparent background: composite on white
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            grey = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not a readable image ({err})") from err
    if grey.shape[0] < 8 or grey.shape[1] < 8:
        raise ValueError(f"{path} is too small ({grey.shape[1]}x{grey.shape[0]} pixels); "
                         "need at least 8x8")
    ink = 1.0 - grey if np.median(grey) > 0.5 else grey
    return normalize_sketch(ink, size=size, margin=margin)


def _as_points(points: np.ndarray | torch.Tensor) -> np.ndarray:
    pts = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(
        points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    if len(pts) == 0:
        raise ValueError("points is empty (shape (0, 3)); nothing to write")
    pts = pts.astype(np.float64)
    if not np.isfinite(pts).all():
        bad = int((~np.isfinite(pts)).any(1).sum())
        raise ValueError(f"points holds {bad} point(s) with NaN or infinite coordinates; a "
                         "point cloud file needs finite coordinates")
    return pts


def write_ply(points: np.ndarray | torch.Tensor, path: str | Path) -> Path:
    """Write an ASCII PLY point cloud (``element vertex N`` with float x, y, z), atomically.

    Raises ``ValueError`` for an empty cloud or NaN / infinite coordinates.
    """
    pts = _as_points(points)
    path = Path(path)
    header = ("ply\nformat ascii 1.0\ncomment reprlab sketch3d\n"
              f"element vertex {len(pts)}\nproperty float x\nproperty float y\n"
              "property float z\nend_header\n")
    body = "\n".join(f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in pts)
    atomic_write_text(path, header + body + "\n")
    return path


def write_obj(points: np.ndarray | torch.Tensor, path: str | Path) -> Path:
    """Write the points as OBJ vertices (``v x y z`` lines, no faces)."""
    pts = _as_points(points)
    path = Path(path)
    atomic_write_text(path, "# reprlab sketch3d point cloud\n"
                      + "\n".join(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in pts) + "\n")
    return path


def export_points(points: np.ndarray | torch.Tensor, path: str | Path) -> Path:
    """Write ``points`` to ``path`` as PLY or OBJ, chosen by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return write_ply(points, path)
    if suffix == ".obj":
        return write_obj(points, path)
    raise ValueError(f"output path must end in .ply or .obj, got {str(path)!r}")
