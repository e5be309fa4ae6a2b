import json

from reprlab.nets import count_params, resnet
from reprlab.registry import Method
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext, check_claims
from reprlab.rpg.reproduce import CLAIMS, FULL, QUICK, TINY, matched_plain_widths, run


def _method() -> Method:
    return Method(name="rpg", run=run, summary="", paper="", claims=CLAIMS,
                  configs={"tiny": TINY, "quick": QUICK, "full": FULL})


def test_matched_plain_widths_is_closest():
    w = matched_plain_widths(400, TINY)
    n = count_params(resnet(w, TINY.blocks, stem_stride=2))
    for base in range(1, 5):
        other = count_params(resnet((base, 2 * base), TINY.blocks, stem_stride=2))
        assert abs(n - 400) <= abs(other - 400)
    assert matched_plain_widths(10**6, TINY) == (4, 8)


def test_claims_are_pre_registered():
    names = [c.name for c in CLAIMS]
    assert len(names) == 6 and CLAIMS[0].not_run and CLAIMS[1].not_run
    effect = [c for c in CLAIMS if any(k.null is not None for k in c.criteria)]
    assert {c.name for c in effect} == {CLAIMS[2].name, CLAIMS[5].name}
    assert all(c.min_seeds >= 3 for c in effect)
    assert QUICK.n_seeds >= 3 and TINY.n_seeds >= 3


def test_tiny_run_end_to_end_and_resumes(tmp_path):
    ctx = ReproduceContext(method="rpg", config_name="tiny", config=TINY, out=tmp_path)
    report = run(ctx, TINY)
    check_claims(_method(), report)
    verdicts = [c.verdict for c in report.claims]
    assert verdicts[:2] == ["not run", "not run"]
    assert all(c.seeds >= 3 for c in report.claims if c.name in (CLAIMS[2].name,
                                                                  CLAIMS[5].name))
    rows = report.tables["bank_sweep"]
    assert [r["fraction"] for r in rows] == list(TINY.fractions)
    assert rows[0]["rpg_params"] < rows[-1]["rpg_params"]
    assert report.summary
    data = load_method_json(write_method_json(report, tmp_path))
    assert json.dumps(data) and data["figures"]
    cached = sorted(p.name for p in ctx.work_dir.glob("*.pt"))
    assert "rpg-f0.05-s1-signs0.pt" in cached and len(cached) >= 10
    again = run(ReproduceContext(method="rpg", config_name="tiny", config=TINY, out=tmp_path),
                TINY)  # every run comes from the store: identical numbers
    assert [c.measured_value for c in again.claims] == [c.measured_value for c in report.claims]
