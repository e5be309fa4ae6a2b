"""RPG forward+backward time vs the plain network at equal architecture (target ≤ 1.3×).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/rpg_speed.py``. Prints the median
of several timed steps for each configuration; timings on a shared machine are noisy.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from reprlab.rpg import count_params, resnet, resnet18, rpg


def step_time(model, x, y, repeats: int = 3) -> float:
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        if i:  # first call warms up
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    configs = [
        ("small ResNet (16,32,64)x2, 28x28, batch 64",
         lambda: resnet((16, 32, 64), (2, 2, 2)), (64, 1, 28, 28)),
        ("ResNet18, 32x32, batch 32", lambda: resnet18(in_channels=3), (32, 3, 32, 32)),
    ]
    for name, build, shape in configs:
        x, y = torch.randn(*shape), torch.randint(0, 10, (shape[0],))
        plain = build()
        shared = count_params(plain, convs_only=True) - plain.conv1.weight.numel()
        t_plain = step_time(plain, x, y)
        for frac in (0.01, 1.0):
            net = rpg(build(), max(1, int(frac * shared)))
            t_rpg = step_time(net, x, y)
            print(f"{name}: bank {100 * frac:g}% -> plain {1e3 * t_plain:.1f} ms, "
                  f"RPG {1e3 * t_rpg:.1f} ms, ratio {t_rpg / t_plain:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
