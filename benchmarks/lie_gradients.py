"""Official (mean-field) vs exact M-step gradients, and learning vs the PCA start.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/lie_gradients.py [--lr-templates
0.002 --lr-weight 0.01 --epochs 3 --n-train 300]``. For 3 seeds: 10 MNIST exemplars,
circular translations, L = 64, grid 14², prints the held-out FVU and median shift error at
the PCA start and after ``fit_lie`` with each ``gradient=`` option, and the mean |R̄| of the
posterior (1 = point mass, where the two gradients coincide). Public API only.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from reprlab.data import load_mnist
from reprlab.lie import (
    LieSparseCoding,
    align_parameters,
    fit_lie,
    select_digits,
    translate_digits,
)


def _evaluate(model: LieSparseCoding, test) -> tuple[float, float, float]:
    res = model.infer(test.images)
    err, _, _ = align_parameters(res.s_map, test.s, res.alpha.argmax(1))
    x = test.images.flatten(1)
    rec = model.reconstruct(res)
    fvu = float(((x - rec) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    rbar = float(torch.sqrt(res.cos_moment**2 + res.sin_moment**2).mean())
    return fvu, float(err[:, 0].abs().median() * 28 / (2 * math.pi)), rbar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-templates", type=float, default=0.002)
    parser.add_argument("--lr-weight", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    mnist = load_mnist("train")
    print("seed  gradient  FVU start→learned   shift error px start→learned  mean|R̄|  s")
    for seed in range(3):
        digits, _ = select_digits(mnist.images, mnist.labels, seed=seed)
        train = translate_digits(digits, args.n_train, seed=seed + 1)
        test = translate_digits(digits, 200, seed=seed + 2)
        for gradient in ("official", "exact"):
            model = LieSparseCoding(784, 10, 64, 2, grid_size=14, em_steps=1)
            model.init_from_data(train.images, generator=torch.Generator().manual_seed(seed))
            f0, e0, _ = _evaluate(model, test)
            t = time.perf_counter()
            fit_lie(model, train.images, epochs=args.epochs, batch_size=100,
                    lr_templates=args.lr_templates, lr_weight=args.lr_weight,
                    warmup_epochs=1, max_iter=50, seed=seed, gradient=gradient)
            secs = time.perf_counter() - t
            f1, e1, rbar = _evaluate(model, test)
            print(f"{seed:>4}  {gradient:<8}  {f0:.4f} → {f1:.4f}     {e0:.2f} → {e1:.2f}"
                  f"                  {rbar:.3f}   {secs:.0f}")


if __name__ == "__main__":
    main()
