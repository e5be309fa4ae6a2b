"""End-to-end smoke test of ``reprlab reproduce mcmc`` on a tiny config."""

import dataclasses

import torch

from reprlab.mcmc.reproduce import QUICK_CONFIG, run
from reprlab.registry import list_methods
from reprlab.report import VERDICTS, load_method_json, write_method_json

TINY = dataclasses.replace(
    QUICK_CONFIG, targets=("scg", "blr"), train_iters=4, train_chains=8, hidden=8, n_chains=4,
    n_steps=20, burn_in=2, warmup=5, hmc_lengths=(3,), ebm_images=64, ebm_channels=2,
    ebm_train_steps=2, ebm_batch=32, ebm_sampler_iters=2, ebm_chains=2, ebm_hidden=8,
    ebm_eval_steps=3,
)


def test_reproduce_tiny_end_to_end(tmp_path):
    assert "mcmc" in list_methods()
    report = run(TINY, seed=0, work_dir=tmp_path / "work")
    names = [c.name for c in report.claims]
    assert sum("ESS per gradient" in n for n in names) == 2
    assert any("image EBM" in n for n in names)
    assert all(c.verdict in VERDICTS for c in report.claims)
    ess = report.claims[0].measured_value
    assert set(ess) >= {"neural", "hmc", "mala", "ratio_vs_hmc"}
    assert ess["neural"]["ess_per_grad"] > 0
    assert len(report.figures) >= 2
    # checkpoints let a re-run resume: the trained proposals are on disk
    assert (tmp_path / "work" / "proposal_SCG-2d.pt").exists()
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    assert data["method"] == "mcmc"
    assert torch.get_default_dtype() == torch.float32
