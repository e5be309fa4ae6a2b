"""Data-parallel dictionary learning under torchrun (2 ranks, gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from reprlab.sparse import functional as F


def _torchrun(worker: str, out: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(F.__file__).parents[2]),
                                           os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=0", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0",
           str(Path(__file__).with_name(worker)), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_torchrun_allreduce_matches_single_process(tmp_path: Path):
    out = tmp_path / "phi.pt"
    _torchrun("_ddp_worker.py", out)
    ddp = torch.load(out)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g, dtype=torch.float64)
    state = F.init_state(F.normalize_atoms(torch.randn(16, 10, generator=g,
                                                       dtype=torch.float64)))
    for step in range(3):
        state, _ = F.dictionary_step(state, x[step * 64:(step + 1) * 64], lam=0.2, lr=0.05,
                                     tol=0, max_iter=100)
    torch.testing.assert_close(ddp, state.dictionary, atol=1e-10, rtol=0)


def test_torchrun_unequal_shards_take_the_same_steps(tmp_path: Path):
    """Shards of 100 and 140 rows: both ranks take ceil(140/32) = 5 steps per epoch, with
    dead-atom re-seeding broadcast, and end with bitwise the same dictionary."""
    _torchrun("_ddp_unequal_worker.py", tmp_path)
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert r0["step"] == r1["step"] == r0["n_infos"] == r1["n_infos"] == 10
    assert torch.equal(r0["dictionary"], r1["dictionary"])
    assert torch.equal(r0["hessian"], r1["hessian"])
    assert r0["objectives"] == r1["objectives"]  # all-reduced statistics
    assert torch.allclose(r0["dictionary"].norm(dim=1), torch.ones(16, dtype=torch.float64))
