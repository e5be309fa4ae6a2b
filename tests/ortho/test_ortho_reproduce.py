import json

from reprlab.ortho.reproduce import CLAIMS, FULL, QUICK, TINY, run
from reprlab.registry import Method
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext, check_claims


def test_claims_are_pre_registered():
    assert [c.not_run is not None for c in CLAIMS][:2] == [True, True]
    assert all(c.min_seeds >= 3 for c in CLAIMS if c.criteria)
    assert "compose" not in " ".join(c.name for c in CLAIMS)  # a feature test, not a claim
    assert QUICK.n_seeds >= 3 and TINY.n_seeds >= 3 and len(QUICK.lambdas) >= 3


def test_tiny_run_end_to_end(tmp_path):
    ctx = ReproduceContext(method="ortho", config_name="tiny", config=TINY, out=tmp_path)
    report = run(ctx, TINY)
    check_claims(Method(name="ortho", run=run, summary="", paper="", claims=CLAIMS,
                        configs={"tiny": TINY, "quick": QUICK, "full": FULL}), report)
    assert [c.verdict for c in report.claims][:2] == ["not run", "not run"]
    assert all(c.seeds >= 3 for c in report.claims[2:])
    runs = {r["run"].split(" ")[0]: r for r in report.tables["runs (mean over seeds)"]}
    assert set(runs) == {"init", "plain", "OCNN", "kernel"}
    # the regulariser makes the trained convs more orthogonal than plain training does
    assert runs["OCNN"]["orth_loss_conv"] < runs["plain"]["orth_loss_conv"]
    assert set(report.results["best_lambda"].values()) <= set(TINY.lambdas)
    assert "lowest:" in report.claims[6].note
    data = load_method_json(write_method_json(report, tmp_path))
    assert json.dumps(data) and data["figures"]
