"""A CPU contour renderer: orthographic z-buffer, then silhouette, occluding and crease lines.

The synthetic "standard" sketches of the paper are line drawings of 3D models. Here a mesh is
rasterised with a vectorised numpy z-buffer (every triangle against every pixel, in chunks of
triangles; meshes of a few hundred faces render in milliseconds), and three kinds of lines
are drawn:

* silhouette: mask pixels with a background 4-neighbour;
* occluding contours: depth changes between neighbouring covered pixels that neither pixel's
  own surface plane explains to within ``depth_jump`` pixel widths (the nearer pixel is
  inked; grazing planes, whose depth changes fast, do not make lines);
* creases: neighbouring pixels on different faces whose normals differ by more than
  ``crease_deg`` degrees.

Images are float arrays in ``[0, 1]`` with 1 = ink and 0 = paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

__all__ = ["RenderResult", "view_basis", "rasterize", "render_contours", "dilate"]


@dataclass
class RenderResult:
    """Z-buffer output: ``depth`` (H, W) (larger is nearer, ``-inf`` on the background),
    ``face`` (H, W) index of the visible triangle (-1 on the background), ``normal``
    (H, W, 3) its unit normal in camera coordinates (zeros on the background)."""

    depth: np.ndarray
    face: np.ndarray
    normal: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0


def view_basis(azimuth: float, elevation: float) -> np.ndarray:
    """Rows ``(right, up, toward-camera)`` of the orthographic camera, shape (3, 3).

    Angles in degrees; the camera sits at direction ``(cos e cos a, cos e sin a, sin e)``
    looking at the origin with z up.
    """
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    c = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    right = np.cross(-c, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-8:  # looking straight down/up: any right vector will do
        right = np.array([-np.sin(a), np.cos(a), 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, -c)
    return np.stack([right, up, c])


def _project(vertices: np.ndarray, basis: np.ndarray, size: int,
             margin: int) -> np.ndarray:
    """Camera coordinates, x/y scaled so the projected bounding box fills the canvas."""
    cam = vertices @ basis.T
    lo, hi = cam[:, :2].min(0), cam[:, :2].max(0)
    scale = (size - 2 * margin) / max(float(np.max(hi - lo)), 1e-9)
    centre = (lo + hi) / 2
    xy = (cam[:, :2] - centre) * scale + size / 2
    # image rows grow downwards
    return np.stack([xy[:, 0], size - xy[:, 1], cam[:, 2] * scale], axis=1)


def rasterize(mesh: trimesh.Trimesh, *, azimuth: float, elevation: float, size: int = 128,
              margin: int = 4, chunk: int = 64) -> RenderResult:
    """Z-buffer a mesh from the given view; the object is framed to fill the canvas.

    Parameters
    ----------
    mesh : trimesh.Trimesh
    azimuth, elevation : float
        View angles in degrees.
    size : int
        Output side in pixels.
    margin : int
        Empty pixels kept on every side of the projected bounding box.
    chunk : int
        Triangles processed at once (memory ``chunk * size**2`` floats).
    """
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    if not 0 <= margin < size // 4:
        raise ValueError(f"margin must be in [0, {size // 4}), got {margin}")
    basis = view_basis(azimuth, elevation)
    v = _project(np.asarray(mesh.vertices, dtype=np.float64), basis, size, margin)
    tri = v[np.asarray(mesh.faces)]  # (F, 3, 3)
    normals = np.asarray(mesh.face_normals, dtype=np.float64) @ basis.T
    # pixel centres
    ys, xs = np.mgrid[0:size, 0:size]
    px, py = xs.ravel() + 0.5, ys.ravel() + 0.5
    best = np.full(size * size, -np.inf)
    face = np.full(size * size, -1, dtype=np.int64)
    x0, y0, z0 = tri[:, 0, 0], tri[:, 0, 1], tri[:, 0, 2]
    x1, y1, z1 = tri[:, 1, 0], tri[:, 1, 1], tri[:, 1, 2]
    x2, y2, z2 = tri[:, 2, 0], tri[:, 2, 1], tri[:, 2, 2]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    keep = np.nonzero(np.abs(area) > 1e-9)[0]  # edge-on triangles cover no pixel
    for s in range(0, len(keep), chunk):
        idx = keep[s:s + chunk]
        a = area[idx][:, None]
        # barycentric coordinates of every pixel w.r.t. every triangle in the chunk
        w0 = ((x1[idx, None] - px) * (y2[idx, None] - py)
              - (x2[idx, None] - px) * (y1[idx, None] - py)) / a
        w1 = ((x2[idx, None] - px) * (y0[idx, None] - py)
              - (x0[idx, None] - px) * (y2[idx, None] - py)) / a
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-7) & (w1 >= -1e-7) & (w2 >= -1e-7)
        z = w0 * z0[idx, None] + w1 * z1[idx, None] + w2 * z2[idx, None]
        z = np.where(inside, z, -np.inf)
        arg = z.argmax(0)
        zmax = z[arg, np.arange(z.shape[1])]
        better = zmax > best
        best[better] = zmax[better]
        face[better] = idx[arg[better]]
    depth = best.reshape(size, size)
    face = face.reshape(size, size)
    normal = np.zeros((size, size, 3))
    normal[face >= 0] = normals[face[face >= 0]]
    return RenderResult(depth=depth, face=face, normal=normal)


def dilate(img: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Binary 3x3 (8-neighbour) dilation of an ink image, ``iterations`` times."""
    out = img > 0.5
    for _ in range(iterations):
        pad = np.pad(out, 1)
        acc = np.zeros_like(out)
        for dy in range(3):
            for dx in range(3):
                acc |= pad[dy:dy + out.shape[0], dx:dx + out.shape[1]]
        out = acc
    return out.astype(np.float32)


def render_contours(mesh: trimesh.Trimesh, *, azimuth: float, elevation: float,
                    size: int = 128, margin: int = 4, crease_deg: float = 40.0,
                    depth_jump: float = 2.0, line_width: int = 1) -> np.ndarray:
    """Line drawing of ``mesh``: silhouette + occluding contours + creases.

    Parameters
    ----------
    crease_deg : float
        Minimum angle between neighbouring face normals for a crease line (40 keeps box edges
        and drops the 30-degree facets of 12-sided cylinders).
    depth_jump : float
        Unexplained depth difference, in pixel widths, that makes an occluding contour.
    line_width : int
        1 = one-pixel lines; ``k`` dilates them ``k - 1`` times.

    Returns
    -------
    ndarray, shape (size, size), float32 in {0, 1}
    """
    if line_width < 1:
        raise ValueError(f"line_width must be >= 1, got {line_width}")
    r = rasterize(mesh, azimuth=azimuth, elevation=elevation, size=size, margin=margin)
    mask = r.mask
    lines = np.zeros_like(mask)
    cos_t = np.cos(np.deg2rad(crease_deg))
    padded = np.pad(mask, 1)
    eroded = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    lines |= mask & ~eroded
    # depth slope of each pixel's own triangle, per pixel step (rows grow downwards):
    # a plane n.X = c in camera space has dZ/dx = -nx/nz and dZ/dy = -ny/nz
    nz = np.where(np.abs(r.normal[..., 2]) < 1e-3, 1e-3, r.normal[..., 2])
    slope = (r.normal[..., 1] / nz, -r.normal[..., 0] / nz)  # (d depth / d row, d / d col)
    for axis in (0, 1):  # vertical then horizontal neighbour pairs
        sl_a = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        sl_b = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        both = mask[sl_a] & mask[sl_b]
        da, db = r.depth[sl_a], r.depth[sl_b]
        # an occluding contour is a depth change that neither pixel's own surface plane
        # explains (a grazing plane may change depth by many pixel widths per pixel)
        with np.errstate(invalid="ignore"):
            err_a = np.abs(db - (da + slope[axis][sl_a]))
            err_b = np.abs(da - (db - slope[axis][sl_b]))
            jump = both & (np.minimum(err_a, err_b) > depth_jump)
        crease = both & (r.face[sl_a] != r.face[sl_b]) & (
            (r.normal[sl_a] * r.normal[sl_b]).sum(-1) < cos_t)
        a_near = da >= db
        lines[sl_a] |= (jump & a_near) | crease
        lines[sl_b] |= jump & ~a_near
    out = lines.astype(np.float32)
    return dilate(out, line_width - 1) if line_width > 1 else out
