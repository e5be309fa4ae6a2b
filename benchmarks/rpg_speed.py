"""RPG forward+backward time vs the plain network at equal architecture (target ≤ 1.3×).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/rpg_speed.py``. The RPG nets are
plain nets after ``rpg(model, N)`` (weights generated through ``torch.nn.utils.parametrize``,
one batched gather per bank per forward). Plain and RPG
steps are interleaved and the median of each is reported, so slow phases of a shared machine
hit both alike; timings on a shared machine are still noisy.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from reprlab.nets import count_params, resnet, resnet18
from reprlab.rpg import rpg


def _step(model, x, y) -> float:
    t = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return time.perf_counter() - t


def compare(models: dict, x, y, repeats: int) -> dict[str, float]:
    """Median step time of each model, interleaved, after one warm-up step each."""
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(repeats + 1):
        for name, model in models.items():
            dt = _step(model, x, y)
            if i:
                times[name].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    torch.manual_seed(0)
    configs = [
        ("small ResNet (16,32,64)x2, 28x28, batch 64",
         lambda: resnet((16, 32, 64), (2, 2, 2)), (64, 1, 28, 28), 9),
        ("ResNet18, 32x32, batch 32", lambda: resnet18(in_channels=3), (32, 3, 32, 32), 3),
    ]
    for name, build, shape, repeats in configs:
        x, y = torch.randn(*shape), torch.randint(0, 10, (shape[0],))
        plain = build()
        shared = count_params(plain, convs_only=True) - plain.conv1.weight.numel()
        models = {"plain": plain}
        for frac in (0.01, 1.0):
            models[f"{100 * frac:g}%"] = rpg(build(), max(1, int(frac * shared)))
        med = compare(models, x, y, repeats)
        for key in models:
            if key != "plain":
                print(f"{name}: bank {key} -> plain {1e3 * med['plain']:.1f} ms, RPG "
                      f"{1e3 * med[key]:.1f} ms, ratio {med[key] / med['plain']:.2f}x "
                      f"(target <= 1.3x)")


if __name__ == "__main__":
    main()
