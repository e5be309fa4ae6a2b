"""``reprlab reproduce lie`` in the contract: tiny config, registered claims, keyed cache."""

from reprlab.lie.reproduce import CLAIMS, TINY, run
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext


def test_reproduce_tiny_contract(tmp_path):
    ctx = ReproduceContext(method="lie", config_name="tiny", config=TINY, out=tmp_path)
    report = run(ctx, TINY)
    assert [c.name for c in report.claims] == [c.name for c in CLAIMS]
    assert all(c.seeds == 3 for c in report.claims)
    assert len(report.figures) == 6
    data = load_method_json(write_method_json(report, tmp_path))
    assert data["claims"][0]["measured"]["detail"]
    assert set(report.results["per_seed"]) == {"translate", "rotate", "mnist"}


def test_every_config_runs_three_seeds_with_the_official_gradient():
    from reprlab.lie.reproduce import FULL, QUICK

    assert all(c.n_seeds >= 3 for c in (TINY, QUICK, FULL))
    assert FULL.gradient == QUICK.gradient == "official"
    assert (FULL.lr_templates, FULL.lr_weight, FULL.warmup_epochs) == (0.05, 0.3, 3.0)
