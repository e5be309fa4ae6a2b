"""Plot helpers every section uses. Importing this module selects matplotlib's ``Agg`` backend
once (reports are written to PNG, never shown), so sections import ``plt`` from here."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

__all__ = ["plt", "image_grid"]


def image_grid(images: torch.Tensor, *, ncols: int | None = None, title: str | None = None,
               cell: float = 0.7, vmin: float | None = 0.0, vmax: float | None = 1.0):
    """A figure of grey images, row-major in a grid with ``ncols`` columns.

    ``images`` is ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H·W)`` with a square ``H·W``.
    ``vmin``/``vmax`` fix the grey scale (``None`` rescales each image).
    """
    if not isinstance(images, torch.Tensor) or images.dim() not in (2, 3, 4):
        raise ValueError("images must be a tensor of shape (N, H, W), (N, 1, H, W) or "
                         f"(N, H*W), got {getattr(images, 'shape', type(images))}")
    imgs = images.detach().cpu().float()
    if imgs.dim() == 4:
        if imgs.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {tuple(images.shape)}")
        imgs = imgs[:, 0]
    elif imgs.dim() == 2:
        side = math.isqrt(imgs.shape[1])
        if side * side != imgs.shape[1]:
            raise ValueError(f"flat images need a square size, got {imgs.shape[1]} pixels")
        imgs = imgs.reshape(-1, side, side)
    n = imgs.shape[0]
    if n == 0:
        raise ValueError("images is empty")
    ncols = ncols or math.ceil(math.sqrt(n))
    if not ncols > 0:
        raise ValueError(f"ncols must be > 0, got {ncols}")
    nrows = math.ceil(n / ncols)
    if vmin is None or vmax is None:  # rescale each image to [0, 1] on its own
        flat = imgs.flatten(1)
        lo, hi = flat.min(1).values, flat.max(1).values
        imgs = (imgs - lo[:, None, None]) / (hi - lo).clamp_min(1e-12)[:, None, None]
        vmin, vmax = 0.0, 1.0
    # one tiled array and one imshow: a subplot per image is ~100x slower for big grids
    h, w, pad = imgs.shape[1], imgs.shape[2], 1
    canvas = torch.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), float("nan"))
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = imgs[i]
    fig, ax = plt.subplots(figsize=(ncols * cell, nrows * cell + (0.3 if title else 0)))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(canvas.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
