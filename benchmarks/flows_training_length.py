"""How RG-Flow's learned structure changes with training length (MNIST, 16x16, quick model).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/flows_training_length.py 4 12``.
For each epoch count, trains the quick-config RG-Flow (Laplace) on 4,000 MNIST images and
prints test bpd, learned receptive-field widths per level, the mixing score and inpainting
MSE, measured exactly as ``reprlab reproduce flows --quick`` does.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from reprlab.flows import analysis as A
from reprlab.flows.reproduce import QUICK_CONFIG, _data, _rg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("epochs", type=int, nargs="+")
    args = parser.parse_args()
    cfg = QUICK_CONFIG
    train = _data("mnist", "train", cfg.n_train, cfg, 0)
    test = _data("mnist", "test", cfg.n_test, cfg, 1).images
    L = cfg.image_size
    mask = torch.zeros(L, L, dtype=torch.bool)
    mask[L // 2 - L // 8:L // 2 + L // 8, L // 2 - L // 8:L // 2 + L // 8] = True
    print("epochs  bpd    eff-RF width by level   mix(cut1,cut2)  inpaint-MSE  train-s")
    for epochs in args.epochs:
        torch.manual_seed(0)
        rg = _rg(cfg, "laplace")
        start = time.perf_counter()
        A.train_flow(rg, train, epochs=epochs, progress=False)
        secs = time.perf_counter() - start
        bpd = A.evaluate_bpd(rg, test)
        with torch.no_grad():
            z = rg.encode(test[:1])[0]
        widths = []
        for h in range(rg.n_levels):
            rf, _ = A.receptive_fields(rg, z, h, n=cfg.n_rf)
            widths.append(float(A.receptive_field_sizes(rf)[1].mean()))
        mix = []
        n = cfg.n_mix
        for cut in range(1, rg.n_levels):
            m = A.mix_scales(rg, test[:n], test[n:2 * n], cut)
            lo = [F.avg_pool2d(t, 2 ** cut) for t in (m, test[:n], test[n:2 * n])]
            mix.append(float(((lo[0] - lo[1]).pow(2).flatten(1).mean(1)
                              < (lo[0] - lo[2]).pow(2).flatten(1).mean(1)).float().mean()))
        out, _ = A.inpaint(rg, test[:cfg.n_inpaint], mask, steps=cfg.inpaint_steps)
        mse = float(((out - test[:cfg.n_inpaint])[:, :, mask] ** 2).mean())
        print(f"{epochs:>6}  {bpd:.3f}  {', '.join(f'{w:.2f}' for w in widths):<22}  "
              f"{', '.join(f'{v:.2f}' for v in mix):<14}  {mse:.4f}       {secs:.0f}")


if __name__ == "__main__":
    main()
