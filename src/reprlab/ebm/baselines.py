"""The simple baselines MDSM's claims are judged against, tuned the way their users tune them.

* :class:`GaussianDensity` — a full-covariance Gaussian fitted to the training images, the
  strongest closed-form density: log likelihood (bits/dim), samples, the Wiener (linear
  MMSE) denoiser and the conditional mean of masked pixels. ``noise_std`` adds ``σ²I`` to the
  covariance (the σ₀-smoothed data density the MDSM energy is trained to match; it also keeps
  the covariance of always-black border pixels invertible).
* :func:`gaussian_filter`, :func:`median_filter` and :func:`tune_filter` — image denoising
  filters with their width chosen on a validation split, per noise level.
* :func:`nearest_neighbour_fill`, :func:`mean_fill` — inpainting by copying the masked
  pixels of the training image closest on the observed pixels, or of the mean image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from reprlab.ebm.functional import check_finite, gaussian_blur

__all__ = ["GaussianDensity", "gaussian_filter", "median_filter", "tune_filter",
           "nearest_neighbour_fill", "mean_fill"]


class GaussianDensity:
    """Full-covariance Gaussian ``N(μ, Σ + noise_std² I)`` of flattened images.

    Parameters
    ----------
    noise_std : float
        Added to the covariance's diagonal (``≥ 0``; with 0 a tiny ``1e-6`` ridge is used).

    Attributes (after :meth:`fit`)
    ------------------------------
    mean_ : Tensor (D,) ; cov_ : Tensor (D, D) (data covariance, without the noise term);
    shape_ : tuple, one image's shape.

    Examples
    --------
    >>> g = GaussianDensity(noise_std=0.1).fit(torch.rand(200, 1, 4, 4))
    >>> g.log_prob(torch.rand(3, 1, 4, 4)).shape
    torch.Size([3])
    """

    def __init__(self, noise_std: float = 0.0) -> None:
        self.noise_std = noise_std

    def fit(self, x: torch.Tensor) -> GaussianDensity:
        if not self.noise_std >= 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")
        check_finite(x, "x")
        if x.dim() < 2 or x.shape[0] < 2:
            raise ValueError(f"x must be (N >= 2, ...), got shape {tuple(x.shape)}")
        flat = x.detach().flatten(1).double()
        self.shape_ = tuple(x.shape[1:])
        self.dtype_ = x.dtype
        self.mean_ = flat.mean(0)
        centered = flat - self.mean_
        self.cov_ = centered.T @ centered / (flat.shape[0] - 1)
        ridge = max(float(self.noise_std) ** 2, 1e-6)
        self._chol = torch.linalg.cholesky(
            self.cov_ + ridge * torch.eye(flat.shape[1], dtype=torch.float64,
                                          device=flat.device))
        return self

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "mean_"):
            raise RuntimeError("call fit() first")
        check_finite(x, "x")
        if tuple(x.shape[1:]) != self.shape_:
            raise ValueError(f"x must have images of shape {self.shape_}, got "
                             f"{tuple(x.shape[1:])}")
        return x.detach().flatten(1).double().to(self.mean_.device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x; μ, Σ + σ²I)`` per image, shape (N,), float64 (nats)."""
        d = (self._flat(x) - self.mean_).T
        z = torch.linalg.solve_triangular(self._chol, d, upper=False)
        dim = d.shape[0]
        logdet = 2 * torch.log(torch.diagonal(self._chol)).sum()
        return -0.5 * (z.pow(2).sum(0) + logdet + dim * math.log(2 * math.pi))

    def bits_per_dim(self, x: torch.Tensor, *, n_levels: int | None = 256) -> torch.Tensor:
        """NLL in bits/dim (plus ``log₂ n_levels`` for 8-bit images), as
        :func:`reprlab.ebm.bits_per_dim`."""
        dim = math.prod(self.shape_)
        out = -self.log_prob(x) / (dim * math.log(2))
        return out + (math.log2(n_levels) if n_levels is not None else 0.0)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``(n, *shape)`` from ``N(μ, Σ + σ²I)``."""
        if not n >= 1:
            raise ValueError(f"n must be >= 1, got {n}")
        eps = torch.randn(self.mean_.numel(), n, generator=generator, dtype=torch.float64,
                          device=self.mean_.device)
        out = self.mean_[:, None] + self._chol @ eps
        return out.T.reshape(n, *self.shape_).to(self.dtype_)

    def denoise(self, noisy: torch.Tensor, noise_std: float) -> torch.Tensor:
        """Wiener / linear-MMSE estimate ``μ + Σ(Σ + s²I)⁻¹(x − μ)`` for noise of std ``s``
        (uses the data covariance ``cov_``, not the smoothed one)."""
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std}")
        d = (self._flat(noisy) - self.mean_).T
        eye = torch.eye(d.shape[0], dtype=torch.float64, device=d.device)
        out = self.mean_[:, None] + self.cov_ @ torch.linalg.solve(
            self.cov_ + noise_std**2 * eye, d)
        return out.T.reshape(noisy.shape).to(noisy.dtype)

    def conditional_mean(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``E[x_masked | x_observed]`` under the fitted Gaussian; observed pixels kept.
        ``mask`` (one image's shape or broadcastable) is 1 where the pixel is unknown."""
        flat = self._flat(x)
        m = torch.as_tensor(mask).to(flat.device).expand(x.shape[0], *self.shape_)[0]
        m = m.flatten().bool()
        cov = self.cov_ + max(float(self.noise_std) ** 2, 1e-6) * torch.eye(
            flat.shape[1], dtype=torch.float64, device=flat.device)
        o = ~m
        gain = torch.linalg.solve(cov[o][:, o], cov[o][:, m])  # (n_obs, n_free)
        out = flat.clone()
        out[:, m] = self.mean_[m] + (flat[:, o] - self.mean_[o]) @ gain
        return out.reshape(x.shape).to(x.dtype)


def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of images ``(N, C, H, W)`` (reflect padding); see
    :func:`reprlab.ebm.functional.gaussian_blur`."""
    return gaussian_blur(x, sigma=sigma)


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Median filter of odd ``size`` over images ``(N, C, H, W)`` (reflect padding)."""
    if x.dim() != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
    if not (isinstance(size, int) and size >= 1 and size % 2 == 1):
        raise ValueError(f"size must be an odd int >= 1, got {size!r}")
    if size == 1:
        return x.clone()
    r = size // 2
    n, c, h, w = x.shape
    padded = F.pad(x, (r, r, r, r), mode="reflect")
    patches = F.unfold(padded.reshape(n * c, 1, h + 2 * r, w + 2 * r), size)
    return patches.median(dim=1).values.reshape(n, c, h, w)


def tune_filter(kind: str, noisy: torch.Tensor, clean: torch.Tensor,
                grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The filter width with the highest PSNR on a validation pair ``(noisy, clean)``.

    ``kind`` is ``"gaussian"`` (``grid`` of blur σ in pixels, default 0.3…3) or ``"median"``
    (odd sizes, default 1, 3, 5, 7). Outputs are clamped to [0, 1] before scoring.

    Returns
    -------
    (best parameter, its validation PSNR in dB)
    """
    from reprlab.eval import psnr

    if kind == "gaussian":
        grid = grid or (0.3, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
        fn = gaussian_filter
    elif kind == "median":
        grid = grid or (1, 3, 5, 7)
        fn = median_filter
    else:
        raise ValueError(f"kind must be 'gaussian' or 'median', got {kind!r}")
    scores = [(psnr(fn(noisy, p).clamp(0, 1), clean), p) for p in grid]
    best_psnr, best = max(scores)
    return best, best_psnr


def nearest_neighbour_fill(x: torch.Tensor, mask: torch.Tensor, bank: torch.Tensor, *,
                           batch_size: int = 256) -> torch.Tensor:
    """Fill the masked pixels of each image from the ``bank`` image closest (L2) on the
    observed pixels. ``mask``: 1 = unknown, broadcastable to one image.

    Shape: ``x (N, ...)``, ``bank (M, ...)`` → ``(N, ...)``.
    """
    check_finite(x, "x")
    check_finite(bank, "bank")
    if tuple(bank.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"bank images have shape {tuple(bank.shape[1:])}, x images "
                         f"{tuple(x.shape[1:])}")
    m = torch.as_tensor(mask).to(dtype=x.dtype, device=x.device).expand_as(x[:1])
    obs = (1 - m).flatten(1)
    xb, bb = x.flatten(1) * obs, bank.to(x).flatten(1) * obs
    idx = torch.cat([torch.cdist(xb[i:i + batch_size], bb).argmin(1)
                     for i in range(0, x.shape[0], batch_size)])
    return x * (1 - m) + bank.to(x)[idx] * m


def mean_fill(x: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    """Fill the masked pixels with those of ``mean_image`` (one image's shape)."""
    m = torch.as_tensor(mask).to(dtype=x.dtype, device=x.device).expand_as(x[:1])
    return x * (1 - m) + mean_image.to(x).expand_as(x[:1]) * m
