"""The Real NVP baseline flow, built from the ``zuko`` library.

zuko's ``RealNVP`` is the fully connected Real NVP (affine couplings with alternating masks
over the flattened image, MLP hypernetworks, diagonal-Gaussian base). It is wrapped here with
the same logit preprocessing and bits-per-dimension accounting as :class:`RGFlow`, so both are
trained and scored identically. Its width is chosen to match a target parameter count.
"""

from __future__ import annotations

import torch
from torch import nn

from reprlab.flows import functional as RF

__all__ = ["ZukoRealNVP", "count_parameters", "zuko_realnvp_matching"]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class ZukoRealNVP(nn.Module):
    """zuko ``RealNVP`` on flattened (C, L, L) images, with RG-Flow's preprocessing.

    Parameters
    ----------
    image_shape : (C, H, W)
    transforms : int
        Number of affine coupling layers (zuko default 3).
    hidden : int
        Width of the two hidden layers of each coupling's MLP.
    constraint : float
        Logit preprocessing range, as :class:`RGFlow`.
    """

    def __init__(self, image_shape: tuple[int, int, int], *, transforms: int = 4,
                 hidden: int = 64, constraint: float = 0.9) -> None:
        super().__init__()
        try:
            import zuko
        except ImportError as err:  # pragma: no cover - zuko is a declared dependency
            raise ImportError("the baseline flow needs zuko: `pip install zuko`") from err
        self.image_shape = tuple(image_shape)
        self.features = int(torch.tensor(self.image_shape).prod())
        self.transforms, self.hidden, self.constraint = transforms, hidden, constraint
        self.flow = zuko.flows.RealNVP(self.features, transforms=transforms,
                                       hidden_features=(hidden, hidden))

    def extra_repr(self) -> str:
        return (f"image_shape={self.image_shape}, transforms={self.transforms}, "
                f"hidden={self.hidden}")

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """``log p(y)`` of logit-space images (B, C, H, W) -> (B,)."""
        return self.flow().log_prob(y.flatten(1))

    def bits_per_dim(self, images: torch.Tensor, *, dequantize: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Bits per dimension of images in [0, 1], as :meth:`RGFlow.bits_per_dim`."""
        y, ld = RF.logit_preprocess(images, dequantize=dequantize, constraint=self.constraint,
                                    generator=generator)
        return RF.bits_per_dim(self.log_prob(y), ld, num_dims=self.features)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> latents (B, C, H, W) (no dequantisation noise)."""
        y, _ = RF.logit_preprocess(images, dequantize=False, constraint=self.constraint)
        return self.flow().transform(y.flatten(1)).view(-1, *self.image_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> images in [0, 1]."""
        y = self.flow().transform.inv(z.flatten(1)).view(-1, *self.image_shape)
        return RF.logit_postprocess(y, constraint=self.constraint)


def zuko_realnvp_matching(image_shape: tuple[int, int, int], target_params: int, *,
                          transforms: int = 4, constraint: float = 0.9) -> ZukoRealNVP:
    """The :class:`ZukoRealNVP` whose hidden width gives the parameter count nearest
    ``target_params`` (widths 8..2048 in steps of 8)."""
    if target_params < 1:
        raise ValueError(f"target_params must be >= 1, got {target_params}")
    d = int(torch.tensor(image_shape).prod())
    half, other = d // 2, d - d // 2

    def n_params(h: int) -> int:
        # MLP(half -> h -> h -> 2 * other) per coupling, alternating halves of equal size
        return transforms * (half * h + h + h * h + h + h * 2 * other + 2 * other)

    best = min(range(8, 2049, 8), key=lambda h: abs(n_params(h) - target_params))
    return ZukoRealNVP(image_shape, transforms=transforms, hidden=best, constraint=constraint)
