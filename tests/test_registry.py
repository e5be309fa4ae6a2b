"""Every registered method: its tiny config end to end, and its claims' thresholds."""

import dataclasses
import json
import math

import pytest

from reprlab.claims import Measured
from reprlab.registry import get_method, list_methods
from reprlab.reproduce import run_method


def json_like(obj):
    return json.loads(json.dumps(obj, default=str))


def _package_methods() -> list[str]:
    # test modules register toy methods of their own; only reprlab's count here
    return [n for n in list_methods() if get_method(n).run.__module__.startswith("reprlab.")]


def test_the_ten_papers_are_registered():
    names = set(_package_methods())
    assert {"hyperbolic", "rpg", "ortho", "word_factors", "transformer_factors", "lie", "ebm",
            "mcmc", "flows", "sketch3d"} <= names


@pytest.mark.parametrize("name", _package_methods())
def test_tiny_config_runs_and_emits_exactly_the_registered_claims(name, tmp_path):
    method = get_method(name)
    report = run_method(name, config="tiny", out=tmp_path)  # check_claims raises on drift
    report.config = json_like(report.config)
    assert [c.name for c in report.claims] == list(method.claim_names)
    for claim, spec in zip(report.claims, method.claims):
        if spec.not_run:
            assert claim.verdict == "not run" and spec.not_run in claim.note
        else:
            assert claim.verdict in ("reproduced", "partial", "not reproduced"), claim.name
            assert claim.seeds >= spec.min_seeds
    assert report.summary, f"{name}: the report's one-line summary is empty"
    cfg = method.config("tiny")
    if dataclasses.is_dataclass(cfg):  # config holds the settings, results go elsewhere
        assert report.config == json_like(dataclasses.asdict(cfg)), "config is not the settings"


def _specs():
    for name in _package_methods():
        for spec in get_method(name).claims:
            for crit in spec.criteria:
                yield pytest.param(spec, crit, id=f"{name}:{spec.name[:40]}:{crit.key}")


@pytest.mark.parametrize("spec,crit", list(_specs()))
def test_each_claim_threshold_on_both_sides(spec, crit):
    """The verdict of each registered criterion just inside and just outside its thresholds."""
    sign = 1.0 if crit.higher_is_better else -1.0
    step = 1e-6 * max(1.0, abs(crit.reproduced))
    seeds = max(3, spec.min_seeds)

    def v(x: float, spread: float | None = 0.0) -> str:  # zero spread: any effect is outside
        return crit.verdict(Measured(x, spread, seeds))

    good = crit.reproduced + sign * step
    assert v(good) == "reproduced"
    below = crit.reproduced - sign * step
    if crit.partial is None:
        assert v(below) == "not reproduced"
    else:
        assert v(below) == ("partial" if crit.partial != crit.reproduced else "not reproduced")
        pstep = 1e-6 * max(1.0, abs(crit.partial))
        assert v(crit.partial + sign * pstep) == "partial" or crit.partial == crit.reproduced
        assert v(crit.partial - sign * pstep) == "not reproduced"
    if crit.null is not None:  # an effect inside its spread is never reproduced
        assert v(good, spread=abs(good - crit.null) + 1.0) != "reproduced"
    assert v(math.nan) == "not reproduced"
