"""Clipped hyperbolic head vs ``nn.Linear``: forward+backward time, batch 512, 128 → K.

Run: ``python benchmarks/hyperbolic_head.py [--repeats N] [--threads T] [--fused]``. Prints
one line per K with the best time of each variant and its ratio to ``nn.Linear`` measured in
the same run (target: the default head ≤ 3× at K = 1000). The head's closed form needs one
(B, D+1)×(D+1, K) product like Linear's (B, D)×(D, K), plus an asinh and a scale on the
(B, K) logits. Variants are interleaved and the best of N kept, so that load on a shared
machine hits all of them alike. ``--fused`` adds the ``torch.compile`` path (compiling takes
seconds idle, minutes on a loaded machine; not timed).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from reprlab.hyperbolic import ClippedHyperbolicHead


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
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fused", action="store_true", help="also time fused=True")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, in_features {args.dim}")
    for classes in (10, 1000):
        x = (torch.randn(args.batch, args.dim) * 3).requires_grad_()
        variants = {
            "nn.Linear": nn.Linear(args.dim, classes),
            "clipped head (default)": ClippedHyperbolicHead(args.dim, classes),
            "riemannian=False": ClippedHyperbolicHead(args.dim, classes, riemannian=False),
            "unclipped (r=None)": ClippedHyperbolicHead(args.dim, classes, r=None),
        }
        if args.fused:
            variants["fused=True"] = ClippedHyperbolicHead(args.dim, classes, fused=True)
        fns = {name: step(module, x) for name, module in variants.items()}
        for fn in fns.values():  # warm up (and compile the fused head) outside the timing
            fn()
            fn()
        times = {name: float("inf") for name in fns}
        for _ in range(args.repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name] = min(times[name], time.perf_counter() - start)
        base = times["nn.Linear"]
        cells = ", ".join(f"{name} {t * 1e3:.3f} ms ({t / base:.2f}x)"
                          for name, t in times.items())
        print(f"{args.dim} -> {classes}: {cells}")
        if classes == 1000:
            ratio = times["clipped head (default)"] / base
            print(f"default head / nn.Linear at 128 -> 1000: {ratio:.2f}x "
                  f"(target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")


if __name__ == "__main__":
    main()
