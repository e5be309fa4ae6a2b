"""Inference throughput of Lie-group sparse coding on a 64-point grid per torus dimension.

Prints images/s for n = 1 (64 grid points) and n = 2 (64² = 4,096 grid points) with the
paper's sizes (D = 784, L = 128, K = 10) and a random model. Not a test; CPU timings vary
with load. Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/lie_throughput.py``.
"""

from __future__ import annotations

import time

import torch

from reprlab.lie import LieSparseCoding


def main(batch: int = 20, grid: int = 64) -> None:
    torch.manual_seed(0)
    images = torch.rand(batch, 784)
    for n in (1, 2):
        model = LieSparseCoding(784, 10, 128, n, grid_size=grid)
        model.infer(images[:2], em_steps=0, max_iter=10)  # warm-up
        for em in (0, 3):
            start = time.perf_counter()
            model.infer(images, em_steps=em, max_iter=100)
            dt = time.perf_counter() - start
            print(f"n={n} grid={grid}^{n} ({grid ** n} points) em_steps={em}: "
                  f"{batch / dt:8.1f} images/s  ({dt:.2f} s for {batch} images, "
                  f"{torch.get_num_threads()} thread(s))")


if __name__ == "__main__":
    main()
