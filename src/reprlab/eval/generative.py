"""Sample-quality figures: Fréchet distance between feature sets, PSNR."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

from reprlab.utils import check_positive, check_range

__all__ = ["frechet_distance", "psnr"]


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    ``‖μa − μb‖² + tr(Σa + Σb − 2(ΣaΣb)^{1/2})``. With Inception features this is FID;
    reprlab uses the penultimate features of a classifier trained on the same data.
    """
    a = np.asarray(torch.as_tensor(features_a).double().cpu())
    b = np.asarray(torch.as_tensor(features_b).double().cpu())
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"each feature set needs >= 2 rows for a covariance, got {a.shape[0]} "
                         f"and {b.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN/Inf")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            covmean = linalg.sqrtm(cov_a @ cov_b)
            singular = not np.isfinite(covmean).all()
        except linalg.LinAlgWarning:
            singular = True
    if singular:  # e.g. fewer samples than dimensions: regularise, as pytorch-fid does
        offset = np.eye(a.shape[1]) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def psnr(estimate: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, averaged over the batch's images.

    Both images must lie in ``[0, data_range]`` (a value outside, or NaN, raises: a PSNR
    of such inputs would be a plausible-looking wrong number)."""
    if estimate.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(estimate.shape)} vs {tuple(target.shape)}")
    if estimate.dim() < 2 or estimate.shape[0] == 0:
        raise ValueError(f"psnr needs a non-empty batch (N, ...), got {tuple(estimate.shape)}")
    check_positive("data_range", data_range)
    check_range("estimate", estimate, 0.0, data_range)
    check_range("target", target, 0.0, data_range)
    mse = (estimate - target).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(data_range**2 / mse)).mean())
