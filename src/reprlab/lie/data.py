"""Controlled transformations of specific MNIST digits, with the true parameters kept.

The paper trains on (i) 2-D circular translations (n = 2), (ii) rotations (n = 1) and
(iii) rotation + scaling (n = 2) of one exemplar per digit class. Each generator returns a
:class:`TransformedDigits` whose ``s`` holds the true parameters as torus angles in [0, 2π)
(translation t pixels → 2πt/H; rotation θ → θ; log-scale mapped linearly onto [0, 2π)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as TF

__all__ = ["TransformedDigits", "select_digits", "translate_digits", "rotate_digits",
           "rotate_scale_digits"]


class TransformedDigits(NamedTuple):
    """images (N, 1, H, W) in [0, 1]; labels (N,) — which exemplar; params (N, p) in natural
    units (pixels / radians / scale); s (N, n) the same as torus angles in [0, 2π)."""

    images: torch.Tensor
    labels: torch.Tensor
    params: torch.Tensor
    s: torch.Tensor


def _check_digits(digits: torch.Tensor) -> torch.Tensor:
    if digits.dim() == 4 and digits.shape[1] == 1:
        digits = digits[:, 0]
    if digits.dim() != 3:
        raise ValueError(f"digits must be (K, H, W) or (K, 1, H, W), got shape "
                         f"{tuple(digits.shape)}")
    return digits.float()


def select_digits(images: torch.Tensor, labels: torch.Tensor, *, classes: int = 10,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One random exemplar per class: returns (digits (C, H, W), class labels (C,))."""
    if images.dim() != 4 or labels.shape != (images.shape[0],):
        raise ValueError(f"images must be (N, 1, H, W) and labels (N,), got "
                         f"{tuple(images.shape)} and {tuple(labels.shape)}")
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(classes):
        idx = torch.nonzero(labels == c).flatten()
        if idx.numel() == 0:
            raise ValueError(f"no image of class {c} in labels")
        picks.append(int(idx[torch.randint(idx.numel(), (1,), generator=gen)]))
    return images[picks, 0], labels[picks]


def translate_digits(digits: torch.Tensor, n_samples: int, *,
                     seed: int = 0) -> TransformedDigits:
    """Circular translations by integer pixel shifts drawn uniformly (n = 2).

    ``params`` are the shifts (rows, cols) in pixels; ``s = 2π·shift/size``.
    """
    digits = _check_digits(digits)
    k, h, w = digits.shape
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(k, (n_samples,), generator=gen)
    shifts = torch.stack([torch.randint(h, (n_samples,), generator=gen),
                          torch.randint(w, (n_samples,), generator=gen)], dim=1)
    out = torch.empty(n_samples, 1, h, w)
    for i in range(n_samples):
        out[i, 0] = torch.roll(digits[labels[i]], shifts=tuple(shifts[i].tolist()),
                               dims=(0, 1))
    s = 2 * math.pi * shifts.float() / torch.tensor([h, w], dtype=torch.float32)
    return TransformedDigits(out, labels, shifts.float(), s)


def _affine(digits: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Rotate by ``angle`` (radians, counter-clockwise) and scale about the centre."""
    c, s = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([c, -s, torch.zeros_like(c)], 1),
                         torch.stack([s, c, torch.zeros_like(c)], 1)], 1)
    grid = TF.affine_grid(theta, list(digits[:, None].shape), align_corners=False)
    out = TF.grid_sample(digits[:, None], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)
    return out.clamp(0, 1)


def rotate_digits(digits: torch.Tensor, n_samples: int, *, seed: int = 0) -> TransformedDigits:
    """Rotations by angles uniform in [0, 2π) about the image centre (n = 1, bilinear)."""
    digits = _check_digits(digits)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(digits.shape[0], (n_samples,), generator=gen)
    angle = torch.rand(n_samples, generator=gen) * 2 * math.pi
    images = _affine(digits[labels], angle, torch.ones(n_samples))
    return TransformedDigits(images, labels, angle[:, None], angle[:, None].clone())


def rotate_scale_digits(digits: torch.Tensor, n_samples: int, *, max_angle: float = 75.0,
                        scale_range: tuple[float, float] = (0.8, 1.25),
                        seed: int = 0) -> TransformedDigits:
    """Rotation in ±``max_angle`` degrees and log-uniform scaling in ``scale_range`` (n = 2).

    The paper's rotation+scaling set uses rotations within ±75°; the scale range is not
    stated in the text we have, so (0.8, 1.25) is our choice. ``params`` = (angle rad,
    scale); ``s`` = (angle mod 2π, 2π·(log scale − log lo)/(log hi − log lo)).
    """
    digits = _check_digits(digits)
    lo, hi = scale_range
    if not 0 < lo < hi:
        raise ValueError(f"scale_range must be (lo, hi) with 0 < lo < hi, got {scale_range}")
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(digits.shape[0], (n_samples,), generator=gen)
    angle = (torch.rand(n_samples, generator=gen) * 2 - 1) * math.radians(max_angle)
    u = torch.rand(n_samples, generator=gen)
    scale = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    images = _affine(digits[labels], angle, scale)
    s = torch.stack([torch.remainder(angle, 2 * math.pi), 2 * math.pi * u], dim=1)
    return TransformedDigits(images, labels, torch.stack([angle, scale], 1), s)
