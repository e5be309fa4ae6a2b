"""Chamfer distance on batches of 1024-point clouds: reprlab vs a plain ``torch.cdist`` minimum.

Prints CPU seconds per call (forward, and forward + backward) for
``reprlab.sketch3d.functional.chamfer_distance``, its chunked variant, and the baseline
``cdist(a, b)`` followed by ``min`` over both axes (the issue's target: within 2x of the
baseline). Also prints the renderer and free-hand simulator throughput.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sketch3d_chamfer.py``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reprlab.sketch3d.freehand import simulate_freehand
from reprlab.sketch3d.functional import chamfer_distance, chamfer_distance_chunked
from reprlab.sketch3d.render import render_contours
from reprlab.sketch3d.shapes import generate_shapes


def cdist_chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(a, b).square()
    return (d.min(dim=2).values.mean(-1) + d.min(dim=1).values.mean(-1)).mean()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    a = torch.rand(args.batch, args.points, 3, generator=g) - 0.5
    b = torch.rand(args.batch, args.points, 3, generator=g) - 0.5
    ref = float(cdist_chamfer(a, b))
    assert abs(float(chamfer_distance(a, b)) - ref) < 1e-5 * max(ref, 1.0)
    print(f"Chamfer, batch {args.batch} x {args.points} points, threads "
          f"{torch.get_num_threads()} (CPU seconds, best of {args.repeats})")
    rows = [("torch.cdist + min (baseline)", cdist_chamfer),
            ("reprlab chamfer_distance", chamfer_distance),
            ("reprlab chamfer_distance_chunked(256)",
             lambda x, y: chamfer_distance_chunked(x, y, chunk=256))]
    base_f = base_fb = None
    for name, fn in rows:
        t_f = timed(lambda fn=fn: fn(a, b), args.repeats)
        ag = a.clone().requires_grad_()
        t_fb = timed(lambda fn=fn, ag=ag: fn(ag, b).backward(), args.repeats)
        base_f, base_fb = base_f or t_f, base_fb or t_fb
        print(f"  {name:40s} fwd {t_f:.4f} s ({t_f / base_f:.2f}x)   fwd+bwd {t_fb:.4f} s "
              f"({t_fb / base_fb:.2f}x)")
    meshes, _ = generate_shapes(4, seed=0)
    for size in (64, 128):
        t = time.process_time()
        imgs = [render_contours(m, azimuth=45, elevation=25, size=size) for m in meshes]
        t_r = (time.process_time() - t) / len(meshes)
        rng = np.random.default_rng(0)
        t = time.process_time()
        for img in imgs:
            simulate_freehand(img, rng=rng)
        t_f = (time.process_time() - t) / len(imgs)
        print(f"render {size}x{size}: {1000 * t_r:.1f} ms/sketch; free-hand simulation: "
              f"{1000 * t_f:.1f} ms/sketch")


if __name__ == "__main__":
    main()
