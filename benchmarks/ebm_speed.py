"""MDSM speed figures on CPU, as ratios to one anchor measured in the same run.

Anchor: one gradient evaluation ``∇ₓE`` of the quick-config energy (Res6, 8 channels) on a
batch of 64 MNIST-sized images. Printed beside it: an MDSM training step (batch 64), annealed
Langevin sampling of 64 images with the quick schedule, the quick AIS run, and (``--run``)
the whole quick/tiny reproduction with its per-part timings. Wall and process-CPU seconds
are both printed: on a shared machine the CPU seconds of this single-threaded process are
the better estimate of the wall time alone.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/ebm_speed.py [--run quick|tiny]``
"""

from __future__ import annotations

import argparse
import time

import torch

from reprlab.ebm import (
    EnergyNet,
    ais_log_partition,
    annealing_schedule,
    dsm_loss,
    noise_levels,
    sample,
)
from reprlab.ebm.reproduce import QUICK


def timed(fn, repeats: int = 1) -> tuple[float, float]:
    """(best wall s, best CPU s) over ``repeats`` calls after one warm-up."""
    fn()
    best_w, best_c = float("inf"), float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best_w = min(best_w, time.perf_counter() - w)
        best_c = min(best_c, time.process_time() - c)
    return best_w, best_c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", choices=("tiny", "quick"), default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    cfg = QUICK
    torch.manual_seed(0)
    net = EnergyNet(1, cfg.channels, image_size=28, extra_blocks=cfg.extra_blocks)
    net = net.to(memory_format=torch.channels_last)  # as the reproduction
    x = torch.rand(64, 1, 28, 28)

    def grad_eval():
        z = x.clone().requires_grad_(True)
        torch.autograd.grad(net(z).sum(), z)

    anchor_w, anchor_c = timed(grad_eval, 5)
    print(f"anchor: grad eval, 64 images: {anchor_w * 1e3:.1f} ms wall, "
          f"{anchor_c * 1e3:.1f} ms CPU")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.95))
    sig = noise_levels(64, sigma_min=0.1, sigma_max=3.0, spacing="exp")

    def train_step():
        loss = dsm_loss(net, x, sigmas=sig)
        opt.zero_grad()
        loss.backward()
        opt.step()

    rows = [("MDSM train step, batch 64", timed(train_step, 3))]
    net.eval().requires_grad_(False)
    k = cfg.schedule_scale
    sch = annealing_schedule(n_warm=500 // k, n_anneal=2000 // k, n_cool=200 // k,
                             step_size=0.02 * k**0.5)
    rows.append((f"annealed Langevin, 64 images, {sch[0].numel()} steps",
                 timed(lambda: sample(net, (64, 1, 28, 28), schedule=sch,
                                      generator=torch.Generator().manual_seed(0)))))
    rows.append((f"AIS, {cfg.ais_chains} chains x {cfg.ais_steps} temps x "
                 f"{cfg.ais_leapfrog} leapfrog",
                 timed(lambda: ais_log_partition(
                     net, (cfg.ais_chains, 1, 28, 28), n_steps=cfg.ais_steps,
                     n_leapfrog=cfg.ais_leapfrog, step_size=cfg.ais_step_size,
                     generator=torch.Generator().manual_seed(0)))))
    for name, (w, c) in rows:
        print(f"{name}: {w:.2f} s wall ({w / anchor_w:.0f}x anchor), {c:.2f} s CPU "
              f"({c / anchor_c:.0f}x anchor)")
    if args.run:
        import reprlab.ebm.reproduce as R
        from reprlab.reproduce import ReproduceContext

        c = R.TINY if args.run == "tiny" else R.QUICK
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            ctx = ReproduceContext(method="ebm", config_name=args.run, config=c, out=out)
            w, cpu = time.perf_counter(), time.process_time()
            report = R.run(ctx, c)
            w, cpu = time.perf_counter() - w, time.process_time() - cpu
        print(f"reproduce ebm --config {args.run}: {w:.1f} s wall, {cpu:.1f} s CPU "
              f"({cpu / anchor_c:.0f}x anchor)")
        for key, v in report.results["timings_s"].items():
            print(f"  {key}: {v:.1f} s wall")
        for claim in report.claims:
            print(f"  {claim.verdict:15s} {claim.name}: {claim.measured_value}")


if __name__ == "__main__":
    main()
