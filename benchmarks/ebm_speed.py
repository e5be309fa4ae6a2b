"""MDSM speed figures on CPU: one training step (28×28, batch 128) and annealed Langevin
sampling of 64 images with the quick schedule. Prints; not a test.

Run: ``OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/ebm_speed.py``
"""

from __future__ import annotations

import math
import time

import torch

from reprlab.ebm import EnergyNet, annealing_schedule, dsm_loss, noise_levels
from reprlab.ebm.reproduce import FULL_CONFIG, QUICK_CONFIG
from reprlab.ebm.sampling import sample


def train_step_seconds(net: torch.nn.Module, repeats: int = 3) -> float:
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.95))
    x = torch.rand(128, 1, 28, 28)
    sig = noise_levels(128, sigma_min=0.1, sigma_max=3.0, spacing="exp")
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        loss = dsm_loss(net, x, sigmas=sig)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for label, (channels, extra, repeats) in (
            ("quick config (Res6, 8 ch)", (QUICK_CONFIG.channels, QUICK_CONFIG.extra_blocks, 3)),
            ("full config (Res12, 32 ch)", (FULL_CONFIG.channels, FULL_CONFIG.extra_blocks, 1)),
            ("official MNIST net (Res12, 64 ch)", (64, 1, 1))):
        net = EnergyNet(1, channels, image_size=28, extra_blocks=extra)
        n_par = sum(p.numel() for p in net.parameters())
        print(f"MDSM train step, batch 128, 28x28, {label}, {n_par} params: "
              f"{train_step_seconds(net, repeats):.3f} s")
    cfg = QUICK_CONFIG
    net = EnergyNet(1, cfg.channels, image_size=28, extra_blocks=cfg.extra_blocks).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    k = cfg.schedule_scale
    sch = annealing_schedule(n_warm=500 // k, n_anneal=2000 // k, n_cool=200 // k,
                             step_size=0.02 * math.sqrt(k))
    t = time.perf_counter()
    out = sample(net, (64, 1, 28, 28), schedule=sch, generator=torch.Generator().manual_seed(0))
    dt = time.perf_counter() - t
    print(f"annealed Langevin, 64 images, quick schedule ({out.n_grad_evals} grad evals): "
          f"{dt:.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
