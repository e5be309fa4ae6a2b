"""Clipped hyperbolic head vs ``nn.Linear``: forward+backward time, batch 512, 128 → K.

Run: ``python benchmarks/hyperbolic_head.py [--repeats N]``. Prints one line per K with the
best-of-N time of each variant and its ratio to ``nn.Linear`` (target: clipped head ≤ 3×;
2× is the floor, since the head needs a (D, 2K) product where Linear needs a (D, K) one).
Best-of-N (not the mean) keeps the figure meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from reprlab.hyperbolic import ClippedHyperbolicHead


def best_time(fn, repeats: int, inner: int = 10) -> float:
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def step(module: nn.Module, x: torch.Tensor):
    def run() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, in_features {args.dim}")
    for classes in (10, 1000):
        x = (torch.randn(args.batch, args.dim) * 3).requires_grad_()
        variants = {
            "nn.Linear": nn.Linear(args.dim, classes),
            "clipped head (eager)": ClippedHyperbolicHead(args.dim, classes),
            "clipped head (fused)": ClippedHyperbolicHead(args.dim, classes, fused=True),
        }
        step(variants["clipped head (fused)"], x)()  # compile outside the timing
        # interleave the variants so that machine load hits all of them alike
        times = {name: float("inf") for name in variants}
        for _ in range(3):
            for name, module in variants.items():
                times[name] = min(times[name], best_time(step(module, x), args.repeats // 3 + 1))
        base = times["nn.Linear"]
        cells = ", ".join(f"{name} {t * 1e3:.3f} ms ({t / base:.2f}x)"
                          for name, t in times.items())
        print(f"{args.dim} -> {classes}: {cells}")


if __name__ == "__main__":
    main()
