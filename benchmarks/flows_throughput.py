"""Training throughput (images/s) of RG-Flow next to the zuko Real NVP baseline.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/flows_throughput.py [--paper]``.
Each model gets a parameter-matched zuko ``RealNVP``; one AdamW step per batch of 64 random
8-bit images, timed after two warm-up steps. ``--paper`` adds the paper-size 32x32 RG-Flow
(8, 6, 4, 2 layers, width 512, 4 residual blocks; slow on CPU).
"""

from __future__ import annotations

import argparse
import time

import torch

from reprlab.flows.baseline import count_parameters, zuko_realnvp_matching
from reprlab.flows.modules import RGFlow


def images_per_second(model: torch.nn.Module, size: int, *, batch: int = 64,
                      steps: int = 10) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-2)
    x = torch.round(torch.rand(batch, 1, size, size) * 255) / 255
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss = model.bits_per_dim(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="also the paper-size model")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    configs = [("quick 16px", 16, dict(n_layers=(2, 2, 2), hidden=64, n_resblocks=1, n_mlp=1)),
               ("small 32px", 32, dict(n_layers=(2, 2, 1, 1), hidden=64, n_resblocks=1,
                                       n_mlp=1))]
    if args.paper:
        configs.append(("paper 32px", 32, dict(n_layers=(8, 6, 4, 2), hidden=512,
                                               n_resblocks=4, n_mlp=2, grad_checkpoint=True)))
    print(f"torch threads: {torch.get_num_threads()}  (timings are noisy on a shared machine)")
    print(f"{'model':<12} {'RG params':>10} {'RG img/s':>9} {'zuko params':>12} {'zuko img/s':>10}")
    for name, size, kw in configs:
        torch.manual_seed(0)
        rg = RGFlow(size, 1, **kw)
        base = zuko_realnvp_matching((1, size, size), count_parameters(rg))
        steps = 2 if name.startswith("paper") else args.steps
        a = images_per_second(rg, size, steps=steps)
        b = images_per_second(base, size, steps=steps)
        print(f"{name:<12} {count_parameters(rg):>10,} {a:>9.0f} {count_parameters(base):>12,} "
              f"{b:>10.0f}")


if __name__ == "__main__":
    main()
