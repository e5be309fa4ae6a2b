"""``reprlab reproduce flows`` in the contract: the tiny config emits exactly the registered
claims, writes valid JSON, and a re-run in the same folder reuses the keyed cache."""

import json

from reprlab.flows.reproduce import CLAIMS, TINY, run
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext


def test_reproduce_tiny_contract(tmp_path):
    ctx = ReproduceContext(method="flows", config_name="tiny", config=TINY, out=tmp_path)
    report = run(ctx, TINY)
    assert [c.name for c in report.claims] == [c.name for c in CLAIMS]
    assert all(c.verdict in ("reproduced", "partial", "not reproduced") for c in report.claims)
    assert all(c.seeds >= 1 for c in report.claims)
    assert len(report.figures) >= 4
    data = load_method_json(write_method_json(report, tmp_path))
    assert data["method"] == "flows"
    json.dumps(data)
    assert sorted(p.name for p in ctx.work_dir.glob("seed*.pt")) == [
        "seed0.pt", "seed1.pt", "seed2.pt"]
    again = run(ReproduceContext(method="flows", config_name="tiny", config=TINY,
                                 out=tmp_path), TINY)
    first = report.claims[0].measured_value
    assert again.claims[0].measured_value == first  # from the cache, same numbers


def test_every_config_runs_three_seeds():
    from reprlab.flows.reproduce import FULL, QUICK

    assert all(c.n_seeds >= 3 for c in (TINY, QUICK, FULL))
    assert QUICK.bench_sizes == FULL.bench_sizes == (16, 32, 64, 128)
