"""The one verdict function, on both sides of every threshold, and the ClaimSpec contract."""

import math

import pytest

from reprlab.claims import VERDICTS, ClaimSpec, Criterion, Measured, verdict, worst_verdict

HIGHER = Criterion("acc", "accuracy", unit="%", reproduced=90.0, partial=80.0)
LOWER = Criterion("err", "error", reproduced=0.1, partial=0.3, higher_is_better=False)
EFFECT = Criterion("gain", "gain over baseline", unit="points", reproduced=1.0, partial=0.0,
                   null=0.0)


def _v(c: Criterion, value: float, spread: float | None = None, seeds: int = 1) -> str:
    return verdict([c], {c.key: Measured(value, spread, seeds)})


@pytest.mark.parametrize("value,expected", [
    (95.0, "reproduced"), (90.0, "reproduced"), (89.99, "partial"), (80.0, "partial"),
    (79.99, "not reproduced"), (float("nan"), "not reproduced")])
def test_higher_is_better_thresholds(value, expected):
    assert _v(HIGHER, value) == expected


@pytest.mark.parametrize("value,expected", [
    (0.05, "reproduced"), (0.1, "reproduced"), (0.1001, "partial"), (0.3, "partial"),
    (0.31, "not reproduced")])
def test_lower_is_better_thresholds(value, expected):
    assert _v(LOWER, value) == expected


def test_an_effect_inside_its_spread_is_never_reproduced():
    assert _v(EFFECT, 2.0, spread=1.5, seeds=3) == "reproduced"   # effect 2 > sd 1.5
    assert _v(EFFECT, 2.0, spread=2.5, seeds=3) == "partial"      # effect inside its spread
    assert _v(EFFECT, 2.0, spread=None, seeds=1) == "partial"     # no spread known
    assert _v(EFFECT, 2.0, spread=float("nan"), seeds=3) == "partial"
    assert _v(EFFECT, 0.5, spread=0.1, seeds=3) == "partial"      # below 1.0, above 0.0
    assert _v(EFFECT, -0.1, spread=0.01, seeds=3) == "not reproduced"


def test_no_partial_threshold_means_two_outcomes():
    c = Criterion("x", "x", reproduced=1.0)
    assert _v(c, 1.0) == "reproduced" and _v(c, 0.99) == "not reproduced"


def test_every_criterion_must_hold():
    ms = {"acc": Measured(95.0), "err": Measured(0.2)}
    assert verdict([HIGHER, LOWER], ms) == "partial"
    ms["err"] = Measured(0.5)
    assert verdict([HIGHER, LOWER], ms) == "not reproduced"
    with pytest.raises(KeyError, match="lack"):
        verdict([HIGHER, LOWER], {"acc": Measured(95.0)})
    assert worst_verdict(["reproduced", "partial"]) == "partial"


def test_bad_criteria_and_measurements_are_rejected():
    with pytest.raises(ValueError, match="looser"):
        Criterion("x", "x", reproduced=1.0, partial=2.0)
    with pytest.raises(ValueError, match="looser"):
        Criterion("x", "x", reproduced=1.0, partial=0.5, higher_is_better=False)
    with pytest.raises(ValueError, match="must be a number"):
        Criterion("x", "x", reproduced=float("nan"))
    with pytest.raises(ValueError, match="spread"):
        Measured(1.0, spread=-1.0)
    with pytest.raises(ValueError, match="at least one"):
        Measured.from_seeds([])
    m = Measured.from_seeds([1.0, 2.0, 3.0])
    assert m.value == 2.0 and m.spread == pytest.approx(1.0) and m.seeds == 3
    assert math.isnan(Measured.from_seeds([1.0, float("nan")]).value)


def test_claimspec_judges_and_skips():
    spec = ClaimSpec("gain", paper_value="+3 points", paper_dataset="CIFAR-100",
                     dataset="Fashion-MNIST", criteria=(EFFECT,), baseline="b",
                     control="c", min_seeds=3)
    claim = spec.judge(Measured.from_seeds([2.0, 2.2, 1.8]), note="n")
    assert claim.verdict == "reproduced" and claim.seeds == 3
    data = claim.to_json()
    assert data["measured"]["spread"] == pytest.approx(0.2) and data["measured"]["unit"] == \
        "points"
    assert "> its sd over seeds" in data["criterion"]["reproduced"]
    assert data["verdict"] in VERDICTS and data["baseline"] == "b" and data["control"] == "c"
    with pytest.raises(ValueError, match="min_seeds=3"):
        spec.judge(Measured(2.0))
    with pytest.raises(ValueError, match="min_seeds >= 3"):
        ClaimSpec("x", 1, "d", "d", criteria=(EFFECT,), min_seeds=1)
    with pytest.raises(ValueError, match="not_run"):
        ClaimSpec("x", 1, "d", "d")
    skipped = ClaimSpec("cifar", 95, "CIFAR-10", "—", not_run="CIFAR-10 is offline").skip()
    assert skipped.verdict == "not run" and "offline" in skipped.note
    with pytest.raises(ValueError, match="declared not run"):
        ClaimSpec("cifar", 95, "CIFAR-10", "—", not_run="offline").judge(1.0)
    multi = ClaimSpec("two", 1, "d", "d", criteria=(HIGHER, LOWER))
    with pytest.raises(ValueError, match="pass a mapping"):
        multi.judge(1.0)
    c = multi.judge({"acc": 95.0, "err": 0.05})
    assert c.verdict == "reproduced" and c.measured_value == {"acc": 95.0, "err": 0.05}
    assert c.to_json()["measured"]["labels"] == {"acc": "accuracy", "err": "error"}
