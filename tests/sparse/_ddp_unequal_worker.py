"""Run by test_distributed.py under torchrun: two ranks with unequal shards (100 and 140
rows) learn one dictionary with learn_dictionary; each rank saves what it ended with."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from reprlab.sparse import functional as F


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(240, 10, generator=g, dtype=torch.float64)
    shard = x[:100] if rank == 0 else x[100:]
    state, infos = F.learn_dictionary(shard, n_atoms=16, lam=0.2, n_epochs=2, batch_size=32,
                                      lr=0.3, bias_correction=True, resample_every=3,
                                      max_iter=200,
                                      generator=torch.Generator().manual_seed(rank + 1))
    torch.save({"dictionary": state.dictionary, "hessian": state.hessian_diag,
                "step": state.step, "n_infos": len(infos),
                "objectives": [i.objective for i in infos]}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
