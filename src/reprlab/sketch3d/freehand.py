"""Free-hand sketch simulation: MLS warps, affine wobble, stroke jitter, breaks, thickness.

The paper trains its standardization module on synthetic sketches distorted by
moving-least-squares (MLS) deformations (Schaefer et al. 2006, rigid variant) whose control
points are the sketch's extreme ink points (top, bottom, left, right), each moved by up to
``±12.5/256`` of the image side, followed half of the time by a small random rotation and
translation and by a 2-iteration dilation (thicker strokes). This module does the same and adds
the other free-hand traits named in the issue: a smooth random displacement field (wobbly
strokes), random stroke breaks and a random stroke thickness.

It works on ink *points* rather than on the raster: ink pixels are supersampled, mapped
forward through the warps and splatted back, so thin lines never alias away, and the warped
points are re-framed into the canvas (same margin as the renderer), so strokes always stay
inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reprlab.sketch3d.render import dilate

__all__ = ["FreehandConfig", "SYNTHESIZED", "STANDARDIZER_TRAIN", "FREEHAND_TEST", "mls_rigid",
           "fit_to_canvas", "simulate_freehand"]


def mls_rigid(points: np.ndarray, p: np.ndarray, q: np.ndarray, *,
              alpha: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    """Rigid moving-least-squares deformation (Schaefer, McPhail & Warren 2006, eq. 8).

    Maps ``points`` by the as-rigid-as-possible deformation that takes control points ``p``
    to ``q``: with weights ``w_i = |p_i - v|^{-2 alpha}``,

    .. math:: f(v) = |v - p_*| \\frac{\\vec f_r(v)}{|\\vec f_r(v)|} + q_*,\\quad
              \\vec f_r(v) = \\sum_i \\hat q_i A_i

    Parameters
    ----------
    points : ndarray, shape (N, 2)
    p, q : ndarray, shape (K, 2)
        Control points before and after the deformation.
    alpha : float
        Weight falloff exponent (the official code uses 1).

    Returns
    -------
    ndarray, shape (N, 2)

    Examples
    --------
    >>> pts = np.random.rand(5, 2)
    >>> ctrl = np.array([[0., 0.], [1., 0.], [0., 1.]])
    >>> np.allclose(mls_rigid(pts, ctrl, ctrl + 0.5), pts + 0.5)
    True
    """
    points, p, q = (np.asarray(a, dtype=np.float64) for a in (points, p, q))
    if p.shape != q.shape or p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"p and q must both have shape (K, 2), got {p.shape} and {q.shape}")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}")
    d2 = ((points[:, None, :] - p[None]) ** 2).sum(-1)  # (N, K)
    w = 1.0 / np.maximum(d2, eps) ** alpha  # guard: a point on a control point
    wsum = w.sum(1, keepdims=True)
    p_star = (w[..., None] * p[None]).sum(1) / wsum
    q_star = (w[..., None] * q[None]).sum(1) / wsum
    p_hat = p[None] - p_star[:, None]  # (N, K, 2)
    q_hat = q[None] - q_star[:, None]
    b = points - p_star  # (N, 2)

    def perp(x: np.ndarray) -> np.ndarray:
        return np.stack([-x[..., 1], x[..., 0]], axis=-1)

    # A_i = w_i [p_hat; -p_hat^perp] [b; -b^perp]^T, f_r = sum_i q_hat_i A_i
    m_a = np.stack([p_hat, -perp(p_hat)], axis=-2)  # (N, K, 2, 2) rows p_hat, -p_hat^perp
    m_b = np.stack([b, -perp(b)], axis=-2)  # (N, 2, 2)
    qa = np.einsum("nkj,nkjl->nkl", q_hat, m_a)  # q_hat @ M_a
    fr = np.einsum("nk,nkl,nml->nm", w, qa, m_b)  # (q_hat M_a) M_b^T, weighted sum
    norm_fr = np.linalg.norm(fr, axis=1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=1, keepdims=True)
    return norm_b * fr / np.maximum(norm_fr, eps) + q_star


def fit_to_canvas(points: np.ndarray, *, size: int, margin: int) -> np.ndarray:
    """Scale and centre points (x, y) so their bounding box fills ``[margin, size - margin]``."""
    lo, hi = points.min(0), points.max(0)
    scale = (size - 2 * margin) / max(float(np.max(hi - lo)), 1e-9)
    return (points - (lo + hi) / 2) * scale + size / 2


@dataclass(frozen=True)
class FreehandConfig:
    """Strengths of the simulated free-hand traits (fractions are of the image side).

    ``mls_shift = 12.5/256`` and ``affine_*`` follow the official standardization data code;
    ``extra_ctrl`` random ink points join the 4 extreme points as MLS handles;
    ``jitter`` is the amplitude of a smooth displacement field on a ``jitter_grid`` lattice;
    ``n_breaks`` discs of radius ``break_radius`` are erased; ``thickness`` is the range of
    line widths (in pixels, dilations + 1) drawn uniformly; ``overdraw`` extra copies of every
    stroke, each displaced by its own smooth field of amplitude ``overdraw_shift``, give the
    doubled, "hairy" lines of quick free-hand drawing.

    Three presets are used by the reproduction: :data:`SYNTHESIZED` (the sketch style the
    2D->3D net is trained on), :data:`STANDARDIZER_TRAIN` (the official ``transform_im``
    deformations the standardizer learns to undo) and :data:`FREEHAND_TEST` (other MLS
    parameters and stroke styles, never seen by either network).
    """

    mls_shift: float = 12.5 / 256
    extra_ctrl: int = 2
    affine_prob: float = 0.5
    affine_deg: float = 2.5
    affine_shift: float = 0.025
    jitter: float = 0.012
    jitter_grid: int = 5
    n_breaks: tuple[int, int] = (1, 5)
    break_radius: float = 0.025
    thickness: tuple[int, int] = (1, 2)
    overdraw: int = 0
    overdraw_shift: float = 0.008
    margin: int = 4

    def __post_init__(self) -> None:
        for name in ("mls_shift", "affine_deg", "affine_shift", "jitter", "break_radius",
                     "overdraw_shift"):
            v = getattr(self, name)
            if not v >= 0:
                raise ValueError(f"FreehandConfig.{name} must be >= 0, got {v}")
        if not 0 <= self.affine_prob <= 1:
            raise ValueError(f"FreehandConfig.affine_prob must be in [0, 1], got "
                             f"{self.affine_prob}")
        for name in ("n_breaks", "thickness"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "thickness" and lo < 1):
                raise ValueError(f"FreehandConfig.{name} must be a range (lo, hi) with "
                                 f"{'1' if name == 'thickness' else '0'} <= lo <= hi, got "
                                 f"{(lo, hi)}")
        if not self.jitter_grid >= 2:
            raise ValueError(f"FreehandConfig.jitter_grid must be >= 2, got "
                             f"{self.jitter_grid}")
        if not self.extra_ctrl >= 0 or not self.overdraw >= 0 or not self.margin >= 0:
            raise ValueError("FreehandConfig.extra_ctrl, overdraw and margin must be >= 0, got "
                             f"{self.extra_ctrl}, {self.overdraw}, {self.margin}")


SYNTHESIZED = FreehandConfig(mls_shift=0.0, extra_ctrl=0, affine_prob=0.0, jitter=0.008,
                             jitter_grid=5, n_breaks=(0, 3), thickness=(1, 1))
"""The "synthesized sketch" style: the geometry of the render, drawn with wobbly, broken
one-pixel strokes (our stand-in for the paper's photo-to-sketch synthesis)."""

STANDARDIZER_TRAIN = FreehandConfig(mls_shift=12.5 / 256, extra_ctrl=0, affine_prob=0.5,
                                    affine_deg=2.5, affine_shift=0.025, jitter=0.0,
                                    n_breaks=(0, 0), thickness=(1, 2))
"""The official ``transform_im`` deformations: rigid MLS on the 4 extreme ink points moved by
up to +-12.5/256 of the side, a small rotation + translation half of the time, thicker lines
(dilation) half of the time."""

FREEHAND_TEST = FreehandConfig(mls_shift=28.0 / 256, extra_ctrl=4, affine_prob=1.0,
                               affine_deg=6.0, affine_shift=0.04, jitter=0.018, jitter_grid=9,
                               n_breaks=(2, 6), break_radius=0.03, thickness=(1, 2),
                               overdraw=1, overdraw_shift=0.012)
"""Free-hand test style that neither network saw: MLS with 8 handles (4 extreme + 4 random)
moved by up to +-28/256, always a larger affine wobble, higher-frequency jitter, more breaks,
and every stroke drawn twice (overdraw)."""


def _smooth_field(pts: np.ndarray, size: int, grid: int, amp: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A random displacement at ``pts`` bilinearly interpolated from a coarse lattice."""
    lat = rng.normal(0.0, amp * size, size=(grid, grid, 2))
    u = np.clip(pts / size * (grid - 1), 0, grid - 1 - 1e-9)
    i0 = np.floor(u).astype(int)
    f = u - i0
    x0, y0 = i0[:, 0], i0[:, 1]
    fx, fy = f[:, :1], f[:, 1:]
    return ((1 - fx) * (1 - fy) * lat[y0, x0] + fx * (1 - fy) * lat[y0, x0 + 1]
            + (1 - fx) * fy * lat[y0 + 1, x0] + fx * fy * lat[y0 + 1, x0 + 1])


def simulate_freehand(sketch: np.ndarray, *, rng: np.random.Generator,
                      config: FreehandConfig = FreehandConfig()) -> np.ndarray:
    """A free-hand-looking version of a clean line drawing.

    Parameters
    ----------
    sketch : ndarray, shape (H, H), values in [0, 1] with 1 = ink
    rng : numpy Generator
        The only source of randomness.
    config : FreehandConfig

    Returns
    -------
    ndarray, shape (H, H), float32 in {0, 1}; all ink lies inside ``[margin, H - margin)``
    """
    sketch = np.asarray(sketch)
    if sketch.ndim != 2 or sketch.shape[0] != sketch.shape[1]:
        raise ValueError(f"sketch must be a square 2-D array, got shape {sketch.shape}")
    size = sketch.shape[0]
    ys, xs = np.nonzero(sketch > 0.5)
    if len(xs) == 0:
        raise ValueError("sketch has no ink (no pixel > 0.5); nothing to warp")
    # supersample each ink pixel 3x3 so the forward warp leaves no holes
    off = (np.arange(3) + 0.5) / 3
    ox, oy = np.meshgrid(off, off)
    pts = np.stack([(xs[:, None] + ox.ravel()).ravel(), (ys[:, None] + oy.ravel()).ravel()], 1)
    # MLS: extreme ink points (+ a few random ones) moved by up to +-mls_shift * size
    ext = [pts[pts[:, 1].argmin()], pts[pts[:, 1].argmax()], pts[pts[:, 0].argmin()],
           pts[pts[:, 0].argmax()]]
    ext += [pts[i] for i in rng.integers(0, len(pts), size=config.extra_ctrl)]
    p = np.array(ext)
    q = p + config.mls_shift * size * 2 * (rng.uniform(size=p.shape) - 0.5)
    if config.mls_shift > 0:
        pts = mls_rigid(pts, p, q)
    if rng.uniform() < config.affine_prob:
        th = np.deg2rad(config.affine_deg * 2 * (rng.uniform() - 0.5))
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        c = pts.mean(0)
        pts = (pts - c) @ rot.T + c + config.affine_shift * size * (rng.uniform(size=2) - 0.5)
    if config.jitter > 0:
        pts = pts + _smooth_field(pts, size, config.jitter_grid, config.jitter, rng)
    if config.overdraw:
        pts = np.concatenate([pts] + [
            pts + _smooth_field(pts, size, config.jitter_grid, config.overdraw_shift, rng)
            for _ in range(config.overdraw)])
    n_breaks = int(rng.integers(config.n_breaks[0], config.n_breaks[1] + 1))
    if n_breaks:
        centres = pts[rng.integers(0, len(pts), size=n_breaks)]
        d2 = ((pts[:, None] - centres[None]) ** 2).sum(-1).min(1)
        kept = pts[d2 > (config.break_radius * size) ** 2]
        if len(kept) > 0.3 * len(pts):  # never erase most of the drawing
            pts = kept
    pts = fit_to_canvas(pts, size=size, margin=config.margin)
    ij = np.clip(np.floor(pts).astype(int), config.margin, size - config.margin - 1)
    out = np.zeros((size, size), dtype=np.float32)
    out[ij[:, 1], ij[:, 0]] = 1.0
    width = int(rng.integers(config.thickness[0], config.thickness[1] + 1))
    if width > 1:
        out = dilate(out, width - 1)
        # dilation may touch the margin; keep the promise that ink stays inside it
        m = max(config.margin - (width - 1), 0)
        out[:m], out[size - m:], out[:, :m], out[:, size - m:] = 0, 0, 0, 0
    return out
