"""Small ResNets, CPU-sized stand-ins for ResNet18/34 (used by the RPG and OCNN experiments).

``resnet(widths, blocks)`` builds a pre-2016 (post-activation) ResNet with BasicBlocks: a 3×3
stem conv, one stage per width (stride 2 from the second stage on, 1×1 projection shortcut
when the shape changes), global average pooling and a linear classifier.
``resnet18(...)`` uses widths (64, 128, 256, 512) and blocks (2, 2, 2, 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet", "resnet", "resnet18"]


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN plus (projected) shortcut, then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride,
                                                      bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNet(nn.Module):
    """Stem → stages (``layer1``, ``layer2``, …) → pool → ``fc``; Kaiming fan-out init."""

    def __init__(self, widths: Sequence[int], blocks: Sequence[int], *, num_classes: int = 10,
                 in_channels: int = 1, stem_stride: int = 1) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"widths and blocks must be non-empty and of equal length, got "
                             f"{tuple(widths)} and {tuple(blocks)}")
        if min(widths) < 1 or min(blocks) < 1:
            raise ValueError(f"widths and blocks must be >= 1, got {tuple(widths)}, "
                             f"{tuple(blocks)}")
        self.widths, self.blocks = tuple(widths), tuple(blocks)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=stem_stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        in_ch = widths[0]
        for s, (w, b) in enumerate(zip(widths, blocks, strict=True)):
            layers = [BasicBlock(in_ch if i == 0 else w, w, stride=(2 if s > 0 and i == 0
                                                                     else 1))
                      for i in range(b)]
            self.add_module(f"layer{s + 1}", nn.Sequential(*layers))
            in_ch = w
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(len(self.widths)):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet(widths: Sequence[int] = (8, 16, 32), blocks: Sequence[int] = (1, 1, 1), *,
           num_classes: int = 10, in_channels: int = 1, stem_stride: int = 1) -> ResNet:
    """A ResNet with the given stage widths and blocks per stage (default: tiny, 28×28)."""
    return ResNet(widths, blocks, num_classes=num_classes, in_channels=in_channels,
                  stem_stride=stem_stride)


def resnet18(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet18's conv stack (CIFAR-style 3×3 stem, no max-pool)."""
    return ResNet((64, 128, 256, 512), (2, 2, 2, 2), num_classes=num_classes,
                  in_channels=in_channels)
