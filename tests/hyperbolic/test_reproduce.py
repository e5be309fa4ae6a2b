import json

import pytest

from reprlab.claims import VERDICTS
from reprlab.hyperbolic.reproduce import CLAIMS, TINY, HyperbolicConfig, run
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext


def _ctx(tmp_path, cfg=TINY):
    return ReproduceContext(method="hyperbolic", config_name="tiny", config=cfg, out=tmp_path,
                            version=2)


def test_tiny_run_emits_every_registered_claim(tmp_path):
    report = run(_ctx(tmp_path), TINY)
    assert [c.name for c in report.claims] == [c.name for c in CLAIMS]
    assert all(c.verdict in VERDICTS for c in report.claims)
    not_run = [c.name for c in report.claims if c.verdict == "not run"]
    assert len(not_run) == 2 and all("CIFAR" in n for n in not_run)
    judged = [c for c in report.claims if c.verdict != "not run"]
    assert all(c.seeds >= 3 for c in judged)
    assert len(report.figures) == 2 and report.summary
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    assert json.dumps(data)
    ood = data["claims"][4]
    assert "max-logit" in ood["note"] and "maximum logit" in ood["control"]
    # distinct values per score are reported; the max logit never ties more than the distance
    ties = data["results"]["ood_distinct_fraction"]
    assert (ties["mnist_to_fashion clipped max_logit"]
            >= ties["mnist_to_fashion clipped distance"])


def test_rerun_resumes_from_the_store(tmp_path):
    first = run(_ctx(tmp_path), TINY)
    assert len(list(tmp_path.rglob("measurements-seed*.pt"))) == 3
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pt")}
    assert stamps
    second = run(_ctx(tmp_path), TINY)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pt")} == stamps
    assert second.results["mnist_accuracy"] == first.results["mnist_accuracy"]


def test_fewer_than_three_seeds_is_refused(tmp_path):
    cfg = HyperbolicConfig(**{**TINY.__dict__, "seeds": 2})
    with pytest.raises(ValueError, match="seeds must be >= 3"):
        run(_ctx(tmp_path, cfg), cfg)
