"""Where the sketch3d quick run spends its time, per stage, against a fixed anchor.

Runs one seed of the ``quick`` config (``n_seeds=1``) in a temporary folder and prints the
wall and CPU seconds of each stage (shapes, sketches, standardizer, the three 2D->3D nets,
evaluation) and of an anchor measured in the same process: 200 float32 256x256 matmuls.
The ratios to the anchor carry over between machines better than raw seconds; the quick
run costs about ``shapes + n_seeds * per-seed``.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sketch3d_budget.py``
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace

import torch

from reprlab.reproduce import ReproduceContext
from reprlab.sketch3d.reproduce import QUICK, run


def anchor() -> float:
    a = torch.rand(256, 256)
    t = time.process_time()
    for _ in range(200):
        a @ a
    return time.process_time() - t


def main() -> None:
    ref = anchor()
    cfg = replace(QUICK, n_seeds=1)
    with tempfile.TemporaryDirectory() as out:
        ctx = ReproduceContext(method="sketch3d", config_name="bench", config=cfg, out=out)
        wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
        report = run(ctx, cfg)
        wall = time.perf_counter() - wall
        cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
    sec = report.results["seconds"]
    per_seed = sec["seed0"]
    print(f"anchor (200 matmuls 256^2): {ref:.3f} CPU s")
    print(f"{'stage':34s} {'wall s':>8s} {'x anchor':>9s}")
    print(f"{'shapes (once)':34s} {sec['shapes']:8.1f} {sec['shapes'] / ref:9.0f}")
    for k, v in per_seed.items():
        print(f"{k:34s} {v:8.1f} {v / ref:9.0f}")
    seed_total = sum(per_seed.values())
    print(f"one seed: {seed_total:.1f} s wall; whole run (1 seed): {wall:.1f} s wall, "
          f"{cpu:.1f} CPU s; 3-seed estimate: {sec['shapes'] + 3 * seed_total:.0f} s wall")


if __name__ == "__main__":
    main()
