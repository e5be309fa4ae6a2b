"""Run by ``torchrun --nproc_per_node=2`` in test_loop.py: train a tiny model with
``reprlab.train.fit`` and save each rank's final weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from reprlab.data import load_digits
from reprlab.train import distributed_context, fit


def main(out: Path) -> None:
    with distributed_context() as distributed:
        assert distributed and dist.get_world_size() == 2
        torch.manual_seed(0)  # same initial weights on every rank
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        data = load_digits("train").subset(256, seed=0)
        history = fit(model, data, epochs=2, batch_size=32, lr=1e-2, seed=0, progress=False)
        rank = dist.get_rank()
        torch.save({"state": model.state_dict(), "loss": history["loss"]},
                   out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
