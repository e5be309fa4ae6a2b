"""End-to-end run of ``reprlab reproduce mcmc`` on its tiny config (the contract)."""

import math

import torch

from reprlab.mcmc.reproduce import CLAIMS, FULL, QUICK, TINY, run
from reprlab.registry import Method
from reprlab.report import VERDICTS, load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext, check_claims


def test_tiny_config_emits_every_registered_claim(tmp_path):
    # the registry's discovery imports every method; while others are being converted,
    # check against the same registered claims through a Method built here
    method = Method(name="mcmc", run=run, summary="", paper="", claims=CLAIMS,
                    configs={"tiny": TINY, "quick": QUICK, "full": FULL}, version=2)
    ctx = ReproduceContext(method="mcmc", config_name="tiny", config=TINY, out=tmp_path,
                           version=method.version)
    report = run(ctx, TINY)
    check_claims(method, report)
    assert [c.name for c in report.claims] == [c.name for c in CLAIMS]
    assert all(c.verdict in VERDICTS for c in report.claims)
    first = report.claims[0]
    assert first.seeds == 3 and set(first.measured_value) == {"ratio", "neural_rhat",
                                                                "baseline_mixed"}
    assert set(first.detail) >= {"neural", "hmc", "nuts"}
    assert report.claims[-2].verdict == "not run"
    assert math.isfinite(report.results["icg_ess"]["nuts"]["ESS/grad"])
    # proposals and the energy are cached in the run's store: a re-run resumes
    assert (ctx.work_dir / "proposal-icg-seed0.pt").exists()
    assert (ctx.work_dir / "ebm-energy.pt").exists()
    path = write_method_json(report, tmp_path)
    assert load_method_json(path)["method"] == "mcmc"
    assert torch.get_default_dtype() == torch.float32


def test_unmixed_baseline_never_reproduces():
    """Beating a baseline whose chains did not mix is at most partial (pre-registered)."""
    from reprlab.claims import Measured

    spec = CLAIMS[0]
    win = {"ratio": Measured.from_seeds([5.0, 6.0, 5.5]),
           "neural_rhat": Measured.from_seeds([1.0, 1.0, 1.0])}
    assert spec.judge({**win, "baseline_mixed": Measured.from_seeds([1, 1, 1])}).verdict \
        == "reproduced"
    assert spec.judge({**win, "baseline_mixed": Measured.from_seeds([0, 0, 1])}).verdict \
        == "partial"
    lose = {**win, "ratio": Measured.from_seeds([0.1, 0.12, 0.09]),
            "baseline_mixed": Measured.from_seeds([1, 1, 1])}
    assert spec.judge(lose).verdict == "not reproduced"
