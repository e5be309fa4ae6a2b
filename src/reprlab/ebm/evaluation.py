"""Sample-quality measurements for MDSM on small images.

The paper scores CIFAR-10 samples by FID (Inception features). Offline we use the same
Fréchet formula (:func:`reprlab.eval.frechet_distance`) on the penultimate features of a
small CNN classifier trained with :func:`reprlab.train.fit` on the same data set: a
distance between the feature statistics of generated and real images, lower is better, 0 for
identical distributions; only comparable within one classifier (report baselines beside it).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from reprlab.ebm.functional import denoise
from reprlab.eval import frechet_distance, psnr
from reprlab.train import fit

__all__ = ["FeatureNet", "train_feature_net", "feature_frechet", "denoising_psnr",
           "half_mask"]


class FeatureNet(nn.Module):
    """A small CNN classifier whose penultimate layer gives the Fréchet features.

    Shape: ``(N, C, H, W) -> (N, num_classes)``; :meth:`features` gives ``(N, feature_dim)``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, width: int = 32,
                 feature_dim: int = 32) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.width, self.feature_dim = width, feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(),
        )
        self.fc = nn.Linear(feature_dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, width={self.width}, " \
               f"feature_dim={self.feature_dim}"


def train_feature_net(data: Dataset, *, epochs: int = 2, seed: int = 0,
                      progress: bool | None = None,
                      max_steps_per_epoch: int | None = None) -> FeatureNet:
    """Train the :class:`FeatureNet` of a labelled image data set (``data.images``,
    ``data.labels``) with :func:`reprlab.train.fit` (Adam 1e-3, batch 128), seeded.

    Cache it with a :class:`reprlab.checkpoint.CheckpointStore` (``ctx.store`` in a
    reproduction): the state dict is keyed on the run's settings there.
    """
    images = data.images  # type: ignore[attr-defined]
    num_classes = int(data.labels.max()) + 1  # type: ignore[attr-defined]
    torch.manual_seed(seed)
    net = FeatureNet(images.shape[1], num_classes)
    fit(net, data, epochs=epochs, lr=1e-3, batch_size=128, seed=seed, progress=progress,
        max_steps_per_epoch=max_steps_per_epoch, desc="feature net")
    return net.eval()


@torch.no_grad()
def feature_frechet(net: FeatureNet, images_a: torch.Tensor, images_b: torch.Tensor, *,
                    batch_size: int = 500) -> float:
    """Fréchet distance between the :class:`FeatureNet` features of two image sets.

    Images are clamped to [0, 1] first (the data range). Both sets should have more images
    than ``net.feature_dim`` for a full-rank covariance.
    """
    def feats(x):
        x = x.clamp(0, 1)
        return torch.cat([net.features(x[i:i + batch_size])
                          for i in range(0, x.shape[0], batch_size)])

    was = net.training
    net.eval()
    out = frechet_distance(feats(images_a), feats(images_b))
    net.train(was)
    return out


def denoising_psnr(energy_fn, clean: torch.Tensor, *, sigmas: list[float] | tuple[float, ...],
                   sigma0: float = 0.1,
                   generator: torch.Generator | None = None) -> dict[float, dict[str, float]]:
    """PSNR (dB) of the one-step denoiser ``x̃ − σ₀²∇E(x̃)`` at several noise levels.

    Returns ``{σ: {"noisy": PSNR of x̃, "denoised": PSNR of the jump (clamped to [0, 1])}}``.
    """
    out = {}
    for s in sigmas:
        if not s > 0:
            raise ValueError(f"noise levels must be > 0, got {s}")
        noisy = clean + s * torch.randn(clean.shape, generator=generator, dtype=clean.dtype,
                                        device=clean.device)
        den = denoise(energy_fn, noisy, sigma0=sigma0).clamp(0, 1)
        out[float(s)] = {"noisy": psnr(noisy.clamp(0, 1), clean), "denoised": psnr(den, clean)}
    return out


def half_mask(shape: tuple[int, ...], *, which: str = "bottom",
              dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """A mask ``(1, C, H, W)`` that is 1 on the bottom (or right) half: the pixels to fill."""
    if len(shape) != 4:
        raise ValueError(f"shape must be (N, C, H, W), got {shape}")
    _, c, h, w = shape
    mask = torch.zeros(1, c, h, w, dtype=dtype, device=device)
    if which == "bottom":
        mask[..., h // 2:, :] = 1
    elif which == "right":
        mask[..., :, w // 2:] = 1
    else:
        raise ValueError(f"which must be 'bottom' or 'right', got {which!r}")
    return mask
