"""Cost of the OCNN loss over a ResNet18 vs one training step (target ≤ 25%), for the official
layer set (the default) and ``layers="all"``.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/ortho_overhead.py``. The loss
cost does not depend on the batch; the step is timed at CIFAR size (3×32×32) for a few batch
sizes. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import math
import statistics
import time
from functools import partial

import torch
import torch.nn.functional as F

from reprlab.nets import resnet18
from reprlab.ortho import OrthogonalRegularizer, ortho_padding


def timed(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


IMAGENET_RESNET18_MACS = 1.82e9  # standard figure for torchvision resnet18 at 224x224


def _train_step(model, x, y) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def _loss_macs(conv) -> int:
    """MACs of Conv(K, K, stride S, padding P) in the form ``auto`` picks."""
    m, c, k, _ = conv.weight.shape
    s = conv.stride[0]
    shifts = (2 * ortho_padding(k, s) // s + 1) ** 2
    if k == 1 and s == 1:
        return min(m, c) ** 2 * max(m, c)
    if m <= c * s * s:
        return m * m * c * k * k * shifts
    return (c * s * s) ** 2 * m * (-(-k // s)) ** 2 * shifts


def _forward_macs(model, size: int) -> int:
    macs = []

    def hook(mod, inp, out):
        macs.append(out.numel() * mod.weight[0].numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return sum(macs)


def main() -> None:
    torch.manual_seed(0)
    model = resnet18(in_channels=3, num_classes=100)
    img_macs = _forward_macs(model, 32)
    costs = {}
    for layers in ("official", "all"):
        reg = OrthogonalRegularizer(model, 0.1, layers=layers)

        def reg_step(reg=reg) -> None:
            model.zero_grad(set_to_none=True)
            reg().backward()

        t_reg = timed(reg_step, repeats=3)
        costs[layers] = t_reg
        plan = [m for _, m, _ in reg.layers() if isinstance(m, torch.nn.Conv2d)]
        loss_macs = sum(_loss_macs(conv) for conv in plan)
        print(f"layers={layers!r}: OCNN loss over {len(reg.layers())} ResNet18 layers "
              f"(forward+backward): {1e3 * t_reg:.1f} ms; analytic forward "
              f"{loss_macs / 1e9:.1f} GMAC (batch-independent) -> <= 25% of a step from batch "
              f"{math.ceil(4 * loss_macs / img_macs)} at 32x32 ({img_macs / 1e9:.2f} GMAC per "
              f"image), from batch {math.ceil(4 * loss_macs / IMAGENET_RESNET18_MACS)} for the "
              "ImageNet ResNet18 (1.82 GMAC/image)")
    for batch in (32, 128):
        x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 100, (batch,))
        t_step = timed(partial(_train_step, model, x, y), repeats=3)
        shares = ", ".join(f"{k} {100 * v / t_step:.0f}%" for k, v in costs.items())
        print(f"training step, batch {batch} (3x32x32): {1e3 * t_step:.1f} ms -> the loss "
              f"costs {shares} of a step (target <= 25%)")


if __name__ == "__main__":
    main()
