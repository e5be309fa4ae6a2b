"""The two networks: a pix2pix U-Net standardizer (+ PatchGAN critic) and a sketch->points net.

Images enter as (B, 1, S, S) in ``[0, 1]`` with 1 = ink; ``S`` must be a power of two >= 16.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["UNetGenerator", "PatchDiscriminator", "PointCloudNet"]


def _check_image(x: torch.Tensor, size: int) -> None:
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"expected images of shape (B, 1, {size}, {size}), "
                         f"got {tuple(x.shape)}")


def _check_size(size: int) -> int:
    if size < 16 or size & (size - 1):
        raise ValueError(f"image_size must be a power of two >= 16, got {size}")
    return int(math.log2(size))


def _init_weights(module: nn.Module) -> None:
    # pix2pix init: N(0, 0.02) for convolutions, N(1, 0.02) for norm scales
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """Pix2pix U-Net: stride-2 4x4 conv down to 1x1, transposed convs up, skip connections.

    As ``unet_256`` of pix2pix: LeakyReLU(0.2) down, ReLU up, BatchNorm except on the outer
    and innermost layers, dropout 0.5 in the three innermost up blocks, channels ``ngf * 2^i``
    capped at ``8 * ngf``, ``tanh`` output. ``forward`` maps ink images in ``[0, 1]`` to
    ink images in ``[0, 1]``.

    Parameters
    ----------
    image_size : int
        Side of the square input (power of two >= 16); the depth is ``log2(image_size)``.
    ngf : int
        Channels of the first layer (pix2pix: 64; CPU runs use 16-32).
    """

    def __init__(self, image_size: int = 128, ngf: int = 32, *, dropout: float = 0.5,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        depth = _check_size(image_size)
        if ngf < 1:
            raise ValueError(f"ngf must be >= 1, got {ngf}")
        self.image_size, self.ngf, self.depth = image_size, ngf, depth
        ch = [min(ngf * 2 ** i, 8 * ngf) for i in range(depth)]
        self.down = nn.ModuleList()
        in_c = 1
        for i, c in enumerate(ch):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_c, c, 4, 2, 1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(c))
            self.down.append(nn.Sequential(*layers))
            in_c = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            out_c = ch[i - 1] if i > 0 else 1
            in_up = ch[i] if i == depth - 1 else 2 * ch[i]
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_up, out_c, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(out_c))
                if depth - 1 - i < 3 and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            else:
                layers.append(nn.Tanh())
            self.up.append(nn.Sequential(*layers))
        self.to(device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, self.image_size)
        h = 2 * x - 1
        skips = []
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = self.up[0](skips[-1])
        for layer, skip in zip(self.up[1:], reversed(skips[:-1]), strict=True):
            h = layer(torch.cat([h, skip], dim=1))
        return (h + 1) / 2

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, ngf={self.ngf}, depth={self.depth}"


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN (pix2pix ``n_layers=3``, a 70x70 receptive field).

    Takes the input sketch and a (real or generated) standard sketch, both in ``[0, 1]``,
    and returns one logit per patch, shape (B, 1, h, w).
    """

    def __init__(self, ndf: int = 32, n_layers: int = 3, *,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if ndf < 1 or n_layers < 1:
            raise ValueError(f"ndf and n_layers must be >= 1, got {ndf}, {n_layers}")
        self.ndf, self.n_layers = ndf, n_layers
        layers: list[nn.Module] = [nn.Conv2d(2, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = ndf
        for i in range(1, n_layers + 1):
            nc = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, nc, 4, stride, 1, bias=False), nn.BatchNorm2d(nc),
                       nn.LeakyReLU(0.2)]
            c = nc
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.to(device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weights(self)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if condition.shape != image.shape:
            raise ValueError(f"condition and image shapes differ: {tuple(condition.shape)} vs "
                             f"{tuple(image.shape)}")
        return self.net(torch.cat([2 * condition - 1, 2 * image - 1], dim=1))

    def extra_repr(self) -> str:
        return f"ndf={self.ndf}, n_layers={self.n_layers}"


class PointCloudNet(nn.Module):
    """Sketch encoder -> fully connected decoder -> ``n_points`` 3-D points.

    A CPU-sized stand-in for the paper's PSGN-style 2D->3D network (stride-2 conv encoder,
    fully connected point branch); the hourglass/deconvolution branch of PSGN is left out.

    Parameters
    ----------
    image_size : int
        Input side (power of two >= 16); the encoder halves it down to 4x4.
    n_points : int
        Points predicted per sketch (paper: 1024).
    width : int
        Channels of the first conv layer (doubles each layer, capped at ``8 * width``).
    hidden : int
        Width of the fully connected layers.

    Shape
    -----
    (B, 1, S, S) -> (B, n_points, 3)
    """

    def __init__(self, image_size: int = 128, n_points: int = 1024, width: int = 32,
                 hidden: int = 512, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        depth = _check_size(image_size) - 2
        if n_points < 1:
            raise ValueError(f"n_points must be >= 1, got {n_points}")
        self.image_size, self.n_points, self.width, self.hidden = (image_size, n_points,
                                                                   width, hidden)
        layers: list[nn.Module] = []
        c = 1
        for i in range(depth):
            nc = min(width * 2 ** i, 8 * width)
            layers += [nn.Conv2d(c, nc, 4, 2, 1, bias=False), nn.BatchNorm2d(nc), nn.ReLU()]
            c = nc
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.decoder = nn.Sequential(nn.Linear(c * 16, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_points * 3))
        self.to(device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
        # start from a small random cloud rather than a large one
        last = self.decoder[-1]
        nn.init.normal_(last.weight, 0.0, 1e-3)
        nn.init.uniform_(last.bias, -0.3, 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, self.image_size)
        return self.decoder(self.encoder(2 * x - 1)).view(-1, self.n_points, 3)

    def extra_repr(self) -> str:
        return (f"image_size={self.image_size}, n_points={self.n_points}, width={self.width}, "
                f"hidden={self.hidden}")
