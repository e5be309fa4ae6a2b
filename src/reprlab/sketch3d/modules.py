"""The networks: a pix2pix U-Net standardizer (+ PatchGAN critic) and the 2D->3D nets.

:class:`SketchPSGN` is the paper's reconstruction network (the official code's PSGN-style
two-stage hourglass with a deconvolution and a fully connected point branch and a learned
3x3 point transform); :class:`PointCloudNet` is a plain conv encoder + MLP decoder baseline.

Images enter as (B, 1, S, S) in ``[0, 1]`` with 1 = ink; ``S`` must be a power of two >= 16.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["UNetGenerator", "PatchDiscriminator", "PointCloudNet", "SketchPSGN",
           "psgn_point_split"]


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

    The baseline 2D->3D net (stride-2 conv encoder, fully connected point decoder); the
    paper's network is :class:`SketchPSGN`.

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


def psgn_point_split(image_size: int, n_points: int) -> tuple[int, int, int]:
    """``(grid, per_cell, n_fc)`` of :class:`SketchPSGN`'s two point branches.

    The official network predicts 768 of its 1,024 points from a 24x32 deconvolution map
    (one point per cell) and 256 from fully connected layers. Here the map is square,
    ``grid = min(S/4, 2^floor(log2 sqrt(3/4 n)))`` cells per side with ``per_cell`` points
    each, and the fully connected branch predicts the rest (``n_fc``, a quarter for the
    paper's sizes: S = 64 or 128, n = 1024 -> 16x16x3 = 768 + 256).
    """
    _check_size(image_size)
    if not n_points >= 4:
        raise ValueError(f"n_points must be >= 4, got {n_points}")
    target = (3 * n_points) // 4
    grid = min(image_size // 4, 2 ** int(math.floor(math.log2(math.sqrt(target)))))
    per_cell = max(target // (grid * grid), 1)
    return grid, per_cell, n_points - per_cell * grid * grid


class SketchPSGN(nn.Module):
    """The paper's reconstruction network: a PSGN two-stage hourglass with two point branches.

    As the official ``depthestimate/train_nn_trans.py`` (adapted from PointSetGeneration,
    Fan et al. 2017): an encoder of stride-2 stages (channels doubling from ``width``) down to
    a 2x2 bottleneck; a decoder of transposed convolutions back up to S/2, each added to a
    linear 3x3 projection of the encoder feature of the same size (ReLU after the sum); a
    second encoder and a second decoder with the same lateral sums, ending at a
    ``grid x grid`` map whose last 3x3 convolution gives ``per_cell`` points per cell; and a
    fully connected branch from both bottlenecks (``hidden``, ``hidden // 2``) giving the other
    ``n_fc`` points (see :func:`psgn_point_split`). The concatenated cloud is multiplied by a
    3x3 matrix predicted from the first feature map (PointNet's input-transform idea, which the
    official code applies to its output), started at the identity; :meth:`transform_penalty`
    is ``0.5 ||T T^T - I||^2`` summed over the batch, the official regulariser.

    Deviations (declared in ``docs/sketch3d.md``): one 3x3 convolution per stage instead of
    two or three, square inputs, the transform predicted by a small conv head with a global
    max pool instead of PointNet's point-MLP on a reshaped feature map, no L2 weight decay.

    Parameters
    ----------
    image_size : int
        Input side S (power of two >= 16).
    n_points : int
        Points predicted per sketch (paper: 1,024).
    width : int
        Channels of the first stage (official: 16); stage ``i`` has ``width * 2^i``, capped at
        ``32 * width``.
    hidden : int
        Width of the fully connected branch (official: 2,048).
    transform : bool
        Learn the 3x3 point transform (official: yes).

    Shape
    -----
    (B, 1, S, S) -> (B, n_points, 3)

    Examples
    --------
    >>> net = SketchPSGN(32, 256, width=4, hidden=64)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 256, 3])
    """

    def __init__(self, image_size: int = 64, n_points: int = 1024, width: int = 16,
                 hidden: int = 2048, *, transform: bool = True,
                 norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        levels = _check_size(image_size) - 1  # stride-2 stages down to 2x2
        if not width >= 1 or not hidden >= 2:
            raise ValueError(f"width must be >= 1 and hidden >= 2, got {width}, {hidden}")
        self.image_size, self.n_points, self.width, self.hidden = (image_size, n_points,
                                                                   width, hidden)
        self.grid, self.per_cell, self.n_fc = psgn_point_split(image_size, n_points)
        self.out_level = int(math.log2(image_size // self.grid))
        self.levels = levels
        ch = [min(width * 2 ** i, 32 * width) for i in range(levels + 1)]
        self.channels = ch

        self.norm = norm_layer.__name__ if norm_layer is not None else None

        def conv(cin: int, cout: int, stride: int = 1) -> nn.Module:
            if norm_layer is None:
                return nn.Conv2d(cin, cout, 3, stride, 1)
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                 norm_layer(cout))

        def up(cin: int, cout: int) -> nn.Module:
            if norm_layer is None:
                return nn.ConvTranspose2d(cin, cout, 4, 2, 1)
            return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                                 norm_layer(cout))

        self.stem = nn.Sequential(conv(1, ch[0]), nn.ReLU(), conv(ch[0], ch[0]), nn.ReLU())
        self.enc1 = nn.ModuleList(nn.Sequential(conv(ch[i - 1], ch[i], 2), nn.ReLU(),
                                                conv(ch[i], ch[i]), nn.ReLU())
                                  for i in range(1, levels))
        self.bottle1 = nn.Sequential(conv(ch[levels - 1], ch[levels], 2), nn.ReLU())
        # decoder 1: levels-1 .. 1; encoder 2: 2 .. levels-1; decoder 2: levels-1 .. out_level
        self.dec1_up = nn.ModuleList(up(ch[i + 1], ch[i]) for i in range(levels - 1, 0, -1))
        self.dec1_lat = nn.ModuleList(conv(ch[i], ch[i]) for i in range(levels - 1, 0, -1))
        self.dec1_conv = nn.ModuleList(conv(ch[i], ch[i]) for i in range(levels - 1, 0, -1))
        self.enc2_down = nn.ModuleList(conv(ch[i - 1], ch[i], 2) for i in range(2, levels))
        self.enc2_lat = nn.ModuleList(conv(ch[i], ch[i]) for i in range(2, levels))
        self.enc2_conv = nn.ModuleList(conv(ch[i], ch[i]) for i in range(2, levels))
        self.bottle2 = nn.Sequential(conv(ch[levels - 1], ch[levels], 2), nn.ReLU())
        dec2 = range(levels - 1, self.out_level - 1, -1)
        self.dec2_up = nn.ModuleList(up(ch[i + 1], ch[i]) for i in dec2)
        self.dec2_lat = nn.ModuleList(conv(ch[i], ch[i]) for i in dec2)
        self.dec2_conv = nn.ModuleList(conv(ch[i], ch[i]) for i in dec2)
        self.head = nn.Conv2d(ch[self.out_level], 3 * self.per_cell, 3, 1, 1)
        flat = ch[levels] * 4
        self.fc1 = nn.Linear(flat, hidden)
        self.fc2a = nn.Linear(hidden, hidden)
        self.fc2b = nn.Linear(flat, hidden)
        self.fc3 = nn.Linear(hidden, hidden // 2)
        self.fc4 = nn.Linear(hidden // 2, 3 * self.n_fc)
        self.tnet: nn.Module | None = None
        if transform:
            self.tnet = nn.Sequential(nn.MaxPool2d(4), nn.Conv2d(ch[0], 4 * ch[0], 3, 1, 1),
                                      nn.ReLU(),
                                      nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                                      nn.Linear(4 * ch[0], 9))
        self.to(device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                # He init for the ReLU stack: PyTorch's default shrinks the signal through
                # ~20 plain layers, so a short run never leaves the mean shape
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
        nn.init.normal_(self.head.weight, 0.0, 1e-2)
        nn.init.normal_(self.fc4.weight, 0.0, 1e-2)
        if self.tnet is not None:  # start at the identity transform
            last = self.tnet[-1]
            nn.init.zeros_(last.weight)
            with torch.no_grad():
                last.bias.copy_(torch.eye(3).flatten())

    def forward_with_transform(self, x: torch.Tensor) -> tuple[torch.Tensor,
                                                               torch.Tensor | None]:
        """``(points (B, n_points, 3), transform (B, 3, 3) or None)``."""
        _check_image(x, self.image_size)
        relu = torch.relu
        h = self.stem(2 * x - 1)
        stem = h
        skips = [h]
        for layer in self.enc1:
            h = layer(h)
            skips.append(h)
        z1 = self.bottle1(h)
        h = z1
        dec1 = {}
        for k, i in enumerate(range(self.levels - 1, 0, -1)):
            h = relu(self.dec1_up[k](h) + self.dec1_lat[k](skips[i]))
            h = relu(self.dec1_conv[k](h))
            dec1[i] = h
        enc2 = {1: h}
        for k, i in enumerate(range(2, self.levels)):
            h = relu(self.enc2_down[k](h) + self.enc2_lat[k](dec1[i]))
            h = relu(self.enc2_conv[k](h))
            enc2[i] = h
        z2 = self.bottle2(h)
        h = z2
        for k, i in enumerate(range(self.levels - 1, self.out_level - 1, -1)):
            h = relu(self.dec2_up[k](h) + self.dec2_lat[k](enc2[i]))
            h = relu(self.dec2_conv[k](h))
        b = x.shape[0]
        grid_pts = self.head(h).view(b, self.per_cell, 3, -1).permute(0, 1, 3, 2)
        grid_pts = grid_pts.reshape(b, -1, 3)
        f = relu(self.fc1(z1.flatten(1)))
        f = relu(self.fc2a(f) + self.fc2b(z2.flatten(1)))
        f = relu(self.fc3(f))
        fc_pts = self.fc4(f).view(b, self.n_fc, 3)
        pts = torch.cat([fc_pts, grid_pts], dim=1)
        if self.tnet is None:
            return pts, None
        t = self.tnet(stem).view(b, 3, 3)
        return pts @ t, t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_transform(x)[0]

    @staticmethod
    def transform_penalty(t: torch.Tensor | None) -> torch.Tensor:
        """``0.5 * sum_b ||T_b T_b^T - I||_F^2`` (``tf.nn.l2_loss`` of the official code)."""
        if t is None:
            return torch.zeros(())
        eye = torch.eye(3, dtype=t.dtype, device=t.device)
        return 0.5 * ((t @ t.transpose(1, 2) - eye) ** 2).sum()

    def extra_repr(self) -> str:
        return (f"image_size={self.image_size}, n_points={self.n_points}, width={self.width}, "
                f"hidden={self.hidden}, grid={self.grid}x{self.grid}x{self.per_cell}, "
                f"n_fc={self.n_fc}, transform={self.tnet is not None}, norm={self.norm}")
