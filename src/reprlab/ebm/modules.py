"""Energy networks for MDSM: the official pre-activation ResNet with ELU and a quadratic head.

Mirrors ``models/ResNet.py`` of zengyi-li/MDSM (``Res6/12/18_Quadratic``, ``normalize=False``):
a 3×3 stem, three stages that each halve the resolution (mean pool) and double the width,
``extra_blocks`` same-resolution blocks per stage (0 → Res6, 1 → Res12 used for MNIST and
Fashion-MNIST, 2 → Res18 used for CIFAR-10), and the quadratic output
``E(x) = l₁(h)·l₂(h) + l_q(h²)``. The energy is not conditioned on the noise level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reprlab.nets import create_act

__all__ = ["ResidualBlock", "QuadraticHead", "EnergyNet", "MLPEnergy"]


class ResidualBlock(nn.Module):
    """Pre-activation residual block ``shortcut(x) + conv₂(act(conv₁(act(x))))``.

    ``down=True`` mean-pools by 2 (after ``conv₂`` on the residual path, before the 1×1
    shortcut conv), as the official ``ResidualBlock(resample='down')``. The shortcut is a 1×1
    conv in both cases, as in the official code.

    Shape: ``(N, in_ch, H, W) -> (N, out_ch, H/2, W/2)`` (down) or ``(N, out_ch, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, down: bool = False,
                 act_layer: str | type[nn.Module] = "elu", device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.down = in_channels, out_channels, down
        self.act = create_act(act_layer)
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False, **kw)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, padding=1, **kw)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, **kw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (self.conv1, self.conv2, self.shortcut):
            conv.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.act(self.conv1(self.act(x))))
        if self.down:
            return self.shortcut(F.avg_pool2d(x, 2)) + F.avg_pool2d(h, 2)
        return self.shortcut(x) + h

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, down={self.down}"


class QuadraticHead(nn.Module):
    """``E(h) = l₁(h) · l₂(h) + l_q(h ⊙ h)``: the official quadratic output layer.

    Shape: ``(N, D) -> (N,)``.
    """

    def __init__(self, in_features: int, device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.l1 = nn.Linear(in_features, 1, **kw)
        self.l2 = nn.Linear(in_features, 1, **kw)
        self.lq = nn.Linear(in_features, 1, **kw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.l1, self.l2, self.lq):
            lin.reset_parameters()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (self.l1(h) * self.l2(h) + self.lq(h * h)).squeeze(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}"


class EnergyNet(nn.Module):
    """Scalar energy ``E(x)`` of images; ``p(x) ∝ exp(−E(x))``.

    Parameters
    ----------
    in_channels : int
        Image channels (1 for MNIST).
    channels : int
        Width of the stem (official ``n_chan``: 64 for MNIST/Fashion-MNIST, 128 for CIFAR);
        the three stages have ``2c, 4c, 8c`` channels.
    image_size : int
        Input height = width. Inputs whose size is not a multiple of 8 are zero-padded inside
        the network to the next multiple (28 → 32, as the official ``Pad(2)``), so samples
        live at the data's own resolution.
    extra_blocks : int
        Same-resolution blocks after each down block (1 → the official Res12).
    act_layer : str or class
        Activation (official: ELU).

    Shape: ``(N, C, H, W) -> (N,)``.

    Examples
    --------
    >>> net = EnergyNet(1, 8, image_size=28)
    >>> net(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2])
    """

    def __init__(self, in_channels: int = 1, channels: int = 64, *, image_size: int = 28,
                 extra_blocks: int = 1, act_layer: str | type[nn.Module] = "elu",
                 device=None, dtype=None) -> None:
        super().__init__()
        if channels < 1 or in_channels < 1:
            raise ValueError(f"channels and in_channels must be >= 1, got {channels}, "
                             f"{in_channels}")
        if extra_blocks < 0:
            raise ValueError(f"extra_blocks must be >= 0, got {extra_blocks}")
        kw = {"device": device, "dtype": dtype}
        self.in_channels, self.channels, self.image_size = in_channels, channels, image_size
        self.extra_blocks = extra_blocks
        self.padded_size = -(-image_size // 8) * 8
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1, **kw)
        blocks: list[nn.Module] = []
        width = channels
        for _ in range(3):
            blocks.append(ResidualBlock(width, 2 * width, down=True, act_layer=act_layer, **kw))
            width *= 2
            for _ in range(extra_blocks):
                blocks.append(ResidualBlock(width, width, act_layer=act_layer, **kw))
        self.blocks = nn.Sequential(*blocks)
        self.head = QuadraticHead(width * (self.padded_size // 8) ** 2, **kw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.stem.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(f"x must be (N, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}), got shape {tuple(x.shape)}")
        pad = self.padded_size - self.image_size
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        h = self.blocks(self.stem(x))
        return self.head(h.flatten(1))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, channels={self.channels}, "
                f"image_size={self.image_size}, extra_blocks={self.extra_blocks}")


class MLPEnergy(nn.Module):
    """Energy of vectors ``(N, D) -> (N,)``: an ELU MLP with the quadratic head (2-D toys).

    Parameters
    ----------
    dim : int
        Input dimension.
    hidden : int
        Width of each hidden layer.
    depth : int
        Number of hidden layers.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, *,
                 act_layer: str | type[nn.Module] = "elu", device=None, dtype=None) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"dim, hidden and depth must be >= 1, got {dim}, {hidden}, {depth}")
        kw = {"device": device, "dtype": dtype}
        self.dim, self.hidden, self.depth = dim, hidden, depth
        layers: list[nn.Module] = []
        width = dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden, **kw), create_act(act_layer)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = QuadraticHead(hidden, **kw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.body:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be (N, {self.dim}), got shape {tuple(x.shape)}")
        return self.head(self.body(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}, depth={self.depth}"
