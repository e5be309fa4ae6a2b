"""Backbone gradient and embedding norm of ENN / HNN (with and without the Riemannian
rescaling) / clipped HNN on MNIST: the paper's vanishing-gradient mechanism.

Run: ``python benchmarks/hyperbolic_vanishing_gradient.py [--epochs N]`` (seed 0, MNIST 5k,
Adam 1e-3, batch 128). Prints one line per head: per epoch the mean loss, accuracy, mean
gradient norm at the backbone's last layer ``g`` and mean ‖z‖ of 512 training embeddings
``z``, then the test accuracy on 2,000 images.
"""

from __future__ import annotations

import argparse
import time

import torch

from reprlab.data import load_mnist
from reprlab.eval import accuracy
from reprlab.hyperbolic.models import create_classifier
from reprlab.train import fit

HEADS = (("euclidean", True), ("hyperbolic", True), ("hyperbolic", False), ("clipped", True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train, test = load_mnist("train"), load_mnist("test").subset(2000, seed=0)
    diag = train.subset(512, seed=0).images
    for kind, riemannian in HEADS:
        torch.manual_seed(0)
        model = create_classifier(kind, riemannian=riemannian)

        def record(_, metrics, model=model):
            metrics["g"] = float(model[0].out.weight.grad.norm())

        def norms(_epoch, m):
            if not hasattr(m[1], "embed"):
                return {}
            return {"z": float(m[1].embed(m[0](diag)).norm(dim=-1).mean())}

        start = time.perf_counter()
        hist = fit(model, train, epochs=args.epochs, batch_size=128, lr=1e-3, seed=0,
                   after_backward=record, on_epoch_end=norms)
        rows = [{k: float(f"{v:.4g}") for k, v in r.items()} for r in hist.rows]
        label = f"{kind} ({'riemannian' if riemannian else 'plain autograd'})"
        print(f"{label}: {rows}; test accuracy {accuracy(model, test):.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
