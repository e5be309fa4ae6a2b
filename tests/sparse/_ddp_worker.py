"""Run by test_distributed.py under torchrun: two ranks, each with half of every batch."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from reprlab.sparse import functional as F


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g, dtype=torch.float64)
    phi = F.normalize_atoms(torch.randn(16, 10, generator=g, dtype=torch.float64))
    state = F.init_state(phi)
    for step in range(3):
        batch = x[step * 64:(step + 1) * 64]
        shard = batch[rank::world]
        state, _ = F.dictionary_step(state, shard, lam=0.2, lr=0.05, tol=0, max_iter=100)
    if rank == 0:
        torch.save(state.dictionary, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
