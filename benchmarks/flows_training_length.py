"""How RG-Flow's learned structure changes with training length (MNIST, 16x16, quick model).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/flows_training_length.py 4 12``.
For each epoch count, trains the quick-config RG-Flow (Laplace; 2 couplings per level,
width 64) on 2,000 MNIST images and prints test bpd, learned receptive-field widths per
level, the scale-following score of level mixes and of a random partition (the control),
and inpainting MSE against the mean-image fill. Public API only.
"""

from __future__ import annotations

import argparse
import time

import torch

from reprlab.data import load_dataset
from reprlab.flows import RGFlow
from reprlab.flows import analysis as A


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("epochs", type=int, nargs="+")
    parser.add_argument("--n-train", type=int, default=2000)
    args = parser.parse_args()
    train = A.pad_and_resize(load_dataset("mnist", "train").subset(args.n_train, seed=0), 16)
    test = A.pad_and_resize(load_dataset("mnist", "test").subset(500, seed=1), 16).images
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[6:10, 6:10] = True
    mean_mse = float(((train.images.mean(0) - test[:32])[:, :, mask] ** 2).mean())
    print(f"mean-image fill MSE {mean_mse:.4f}")
    print("epochs  bpd    eff-RF width by level  mix level/random  inpaint-MSE  train-s")
    for epochs in args.epochs:
        torch.manual_seed(0)
        rg = RGFlow(16, 1, n_layers=(2, 2, 2), hidden=64, n_resblocks=1, n_mlp=1)
        start = time.perf_counter()
        A.train_flow(rg, train, epochs=epochs, progress=False)
        secs = time.perf_counter() - start
        bpd = A.evaluate_bpd(rg, test)
        with torch.no_grad():
            z = rg.encode(test[:1])[0]
        widths = []
        for h in range(rg.n_levels):
            rf, _ = A.receptive_fields(rg, z, h, n=6)
            widths.append(float(A.receptive_field_sizes(rf)[1].mean()))
        g = torch.Generator().manual_seed(0)
        lv, rnd = [], []
        for cut in range(1, rg.n_levels):
            high = rg.levels >= cut
            lv.append(A.scale_following(rg, test[32:64], test[64:96], high, cut))
            perm = torch.randperm(high.numel(), generator=g)[:int(high.sum())]
            rmask = torch.zeros(high.numel(), dtype=torch.bool)
            rmask[perm] = True
            rnd.append(A.scale_following(rg, test[32:64], test[64:96], rmask.view_as(high),
                                         cut))
        out, _ = A.inpaint(rg, test[:32], mask, steps=100)
        mse = float(((out - test[:32])[:, :, mask] ** 2).mean())
        print(f"{epochs:>6}  {bpd:.3f}  {', '.join(f'{w:.2f}' for w in widths):<22} "
              f"{sum(lv) / len(lv):.3f}/{sum(rnd) / len(rnd):.3f}      {mse:.4f}       "
              f"{secs:.0f}")


if __name__ == "__main__":
    main()
