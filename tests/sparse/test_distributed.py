"""Data-parallel dictionary learning under torchrun equals the single-process update."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from reprlab.sparse import functional as F


def test_torchrun_allreduce_matches_single_process(tmp_path: Path):
    out = tmp_path / "phi.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(F.__file__).parents[2]),
                                           os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("_ddp_worker.py")), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ddp = torch.load(out)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g, dtype=torch.float64)
    state = F.init_state(F.normalize_atoms(torch.randn(16, 10, generator=g,
                                                       dtype=torch.float64)))
    for step in range(3):
        state, _ = F.dictionary_step(state, x[step * 64:(step + 1) * 64], lam=0.2, lr=0.05,
                                     tol=0, max_iter=100)
    torch.testing.assert_close(ddp, state.dictionary, atol=1e-10, rtol=0)
