"""Claims declared before they are measured, and the one function that judges them.

A method declares each paper claim as a :class:`ClaimSpec` at import time, before any run:
the paper's figure and data set, what we measure, the baseline it is compared with, the
control that would pass by chance, and one or more :class:`Criterion` thresholds. After the
run the method hands its measurements to :meth:`ClaimSpec.judge`, which calls
:func:`verdict` — the only place in reprlab where a verdict is decided::

    ACC_GAP = Criterion("acc_gap", "clipped − ENN test accuracy", unit="points",
                        reproduced=-0.5, partial=-2.0)
    ON_PAR = ClaimSpec("on par with ENN on MNIST", paper_value="99.08 vs 99.05",
                       paper_dataset="MNIST", dataset="MNIST 5k/2k", criteria=(ACC_GAP,),
                       baseline="ENN: same backbone, linear head", control="...",
                       min_seeds=3)
    claim = ON_PAR.judge(Measured.from_seeds([-0.1, 0.3, 0.2]))

Rules of :func:`verdict` (every criterion of a claim must hold; the claim's verdict is the
worst of its criteria's):

* ``reproduced`` when the mean is on the good side of ``reproduced`` **and**, for a criterion
  with a ``null`` (the value meaning "no effect", e.g. 0 for a difference), the effect
  ``|mean − null|`` exceeds its run-to-run spread (one sd over seeds): an effect inside its
  spread is at most ``partial``;
* ``partial`` when the mean is on the good side of ``partial``;
* ``not reproduced`` otherwise, or when the measurement is NaN;
* ``not run`` when the claim could not be measured here (data or hardware out of reach); it
  is counted apart from failures.

A criterion with a ``null`` needs a spread, so its claim must run ``min_seeds >= 3`` seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "VERDICTS",
    "Criterion",
    "ClaimSpec",
    "Measured",
    "Claim",
    "verdict",
    "worst_verdict",
]

#: Verdicts, best first. ``not run`` is not a failure: the claim was not measured here.
VERDICTS = ("reproduced", "partial", "not reproduced", "not run")
_RANK = {"reproduced": 0, "partial": 1, "not reproduced": 2}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True)
class Measured:
    """A measurement: the mean over seeds, its spread (sample sd) and the per-seed values.

    Build it with :meth:`from_seeds` (mean ± sd of ≥ 1 values) or directly for a single run
    (``Measured(0.93)``). ``detail`` holds per-setting values the report shows as a table.
    """

    value: float
    spread: float | None = None
    seeds: int = 1
    values: tuple[float, ...] = ()
    detail: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not _is_number(self.value):
            raise TypeError(f"Measured.value must be a number, got {self.value!r}")
        if self.spread is not None and not (self.spread >= 0 or math.isnan(self.spread)):
            raise ValueError(f"Measured.spread must be >= 0, got {self.spread}")
        if not self.seeds >= 1:
            raise ValueError(f"Measured.seeds must be >= 1, got {self.seeds}")

    @classmethod
    def from_seeds(cls, values: Sequence[float], *,
                   detail: Mapping[str, Any] | None = None) -> Measured:
        """Mean and sample standard deviation (``ddof=1``; 0 for one value) of ``values``."""
        vals = tuple(float(v) for v in values)
        if not vals:
            raise ValueError("Measured.from_seeds needs at least one value, got none")
        if any(math.isnan(v) for v in vals):
            return cls(float("nan"), float("nan"), len(vals), vals, detail)
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return cls(statistics.fmean(vals), sd, len(vals), vals, detail)


@dataclass(frozen=True)
class Criterion:
    """One threshold on one metric.

    ``key`` names the metric in :meth:`ClaimSpec.judge`'s measurements; ``metric`` says what it
    is in words. ``reproduced`` / ``partial`` are thresholds on the metric (``partial`` may be
    ``None``: no partial verdict). ``higher_is_better`` gives the direction. ``null`` is the
    no-effect value: when set, "reproduced" also needs ``|mean − null| > spread``.
    """

    key: str
    metric: str
    reproduced: float
    partial: float | None = None
    higher_is_better: bool = True
    null: float | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if not _is_number(self.reproduced) or math.isnan(self.reproduced):
            raise ValueError(f"criterion {self.key!r}: reproduced threshold must be a number, "
                             f"got {self.reproduced!r}")
        if self.partial is not None:
            if not _is_number(self.partial) or math.isnan(self.partial):
                raise ValueError(f"criterion {self.key!r}: partial threshold must be a number "
                                 f"or None, got {self.partial!r}")
            looser = (self.partial <= self.reproduced if self.higher_is_better
                      else self.partial >= self.reproduced)
            if not looser:
                raise ValueError(f"criterion {self.key!r}: the partial threshold "
                                 f"{self.partial} must be looser than reproduced "
                                 f"{self.reproduced}")

    def _passes(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.higher_is_better else value <= threshold

    def verdict(self, measured: Measured) -> str:
        """This criterion's verdict for ``measured`` (see the module docstring)."""
        v = measured.value
        if math.isnan(v):
            return "not reproduced"
        if self._passes(v, self.reproduced):
            if self.null is None:
                return "reproduced"
            spread = measured.spread
            if spread is not None and not math.isnan(spread) and abs(v - self.null) > spread:
                return "reproduced"
            return "partial"  # the effect is within its run-to-run spread
        if self.partial is not None and self._passes(v, self.partial):
            return "partial"
        return "not reproduced"

    def describe(self, threshold: float) -> str:
        op = "≥" if self.higher_is_better else "≤"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.metric} {op} {threshold:g}{unit}"

    def texts(self) -> tuple[str, str]:
        """(reproduced, partial) criterion texts printed in the report."""
        rep = self.describe(self.reproduced)
        if self.null is not None:
            rep += f", and |effect − {self.null:g}| > its sd over seeds"
        part = self.describe(self.partial) if self.partial is not None else "—"
        return rep, part


def worst_verdict(verdicts: Sequence[str]) -> str:
    """The worst of several verdicts ("reproduced" only if all are)."""
    ranked = [v for v in verdicts if v in _RANK]
    if not ranked:
        raise ValueError(f"no judged verdicts among {list(verdicts)}")
    return max(ranked, key=_RANK.__getitem__)


def verdict(criteria: Sequence[Criterion], measurements: Mapping[str, Measured]) -> str:
    """The one verdict function: every criterion judged, the worst verdict wins."""
    if not criteria:
        raise ValueError("a claim needs at least one criterion")
    missing = [c.key for c in criteria if c.key not in measurements]
    if missing:
        raise KeyError(f"measurements lack {missing}; got {sorted(measurements)}")
    return worst_verdict([c.verdict(measurements[c.key]) for c in criteria])


@dataclass
class Claim:
    """One judged claim, as written to ``<method>.json`` (see :meth:`to_json`)."""

    name: str
    paper_value: Any
    paper_dataset: str
    measured_value: Any
    measured_dataset: str
    verdict: str
    note: str = ""
    spread: Any = None
    seeds: int = 0
    criterion: dict[str, str] = field(default_factory=dict)
    baseline: str = ""
    control: str = ""
    detail: Any = None
    unit: Any = ""
    labels: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        measured: dict[str, Any] = {"value": self.measured_value,
                                    "dataset": self.measured_dataset,
                                    "spread": self.spread, "seeds": self.seeds}
        if self.unit:
            measured["unit"] = self.unit
        if self.labels:
            measured["labels"] = self.labels
        if self.detail is not None:
            measured["detail"] = self.detail
        return {
            "name": self.name,
            "paper": {"value": self.paper_value, "dataset": self.paper_dataset},
            "measured": measured,
            "criterion": self.criterion,
            "baseline": self.baseline,
            "control": self.control,
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass(frozen=True)
class ClaimSpec:
    """A paper claim, declared in code before the run.

    Parameters
    ----------
    name : the claim in a few words (unique within a method; the report's row title).
    paper_value, paper_dataset : the paper's figure and the data set it was measured on.
    dataset : what we measure on (may be refined at judge time, e.g. with sizes).
    criteria : the thresholds (all must hold); empty only for a claim that is never run here.
    baseline : what the method is compared with, and how that baseline was tuned.
    control : the control that would pass by chance (random dictionary, shuffled labels, …).
    min_seeds : seeds the measurement must cover; ≥ 3 where any criterion has a ``null``.
    not_run : when set, the claim cannot be measured here and this is the reason.
    """

    name: str
    paper_value: Any
    paper_dataset: str
    dataset: str
    criteria: tuple[Criterion, ...] = ()
    baseline: str = "—"
    control: str = "—"
    min_seeds: int = 1
    not_run: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a ClaimSpec needs a name")
        if self.not_run is None and not self.criteria:
            raise ValueError(f"claim {self.name!r}: give criteria, or not_run=<reason>")
        keys = [c.key for c in self.criteria]
        if len(set(keys)) != len(keys):
            raise ValueError(f"claim {self.name!r}: criterion keys repeat: {keys}")
        if any(c.null is not None for c in self.criteria) and self.min_seeds < 3:
            raise ValueError(f"claim {self.name!r}: a criterion against a no-effect value "
                             f"needs min_seeds >= 3 (a spread), got {self.min_seeds}")

    def criterion_texts(self) -> dict[str, str]:
        if not self.criteria:
            return {"reproduced": "—", "partial": "—"}
        texts = [c.texts() for c in self.criteria]
        return {"reproduced": "; ".join(t[0] for t in texts),
                "partial": "; ".join(t[1] for t in texts if t[1] != "—") or "—"}

    def _base(self, verdict_: str, value: Any, spread: Any, seeds: int, note: str,
              dataset: str | None, detail: Any) -> Claim:
        if len(self.criteria) == 1:
            unit: Any = self.criteria[0].unit
            labels = None
        else:
            unit = {c.key: c.unit for c in self.criteria if c.unit}
            labels = {c.key: c.metric for c in self.criteria}
        return Claim(name=self.name, paper_value=self.paper_value,
                     paper_dataset=self.paper_dataset, measured_value=value,
                     measured_dataset=dataset or self.dataset, verdict=verdict_, note=note,
                     spread=spread, seeds=seeds, criterion=self.criterion_texts(),
                     baseline=self.baseline, control=self.control, detail=detail,
                     unit=unit, labels=labels)

    def judge(self, measured: Measured | float | Mapping[str, Measured | float], *,
              note: str = "", dataset: str | None = None, detail: Any = None) -> Claim:
        """The judged :class:`Claim` for ``measured``.

        ``measured`` is a :class:`Measured` (or a number, one run) for a one-criterion claim,
        or a mapping from criterion key to :class:`Measured` for several criteria.
        """
        if self.not_run is not None:
            raise ValueError(f"claim {self.name!r} is declared not run ({self.not_run}); "
                             "emit it with .skip()")
        if isinstance(measured, Mapping):
            ms = {k: v if isinstance(v, Measured) else Measured(float(v))
                  for k, v in measured.items()}
        else:
            if len(self.criteria) != 1:
                raise ValueError(f"claim {self.name!r} has {len(self.criteria)} criteria; "
                                 "pass a mapping {key: Measured}")
            m = measured if isinstance(measured, Measured) else Measured(float(measured))
            ms = {self.criteria[0].key: m}
        for key, m in ms.items():
            if m.seeds < self.min_seeds:
                raise ValueError(f"claim {self.name!r}: {key} was measured over {m.seeds} "
                                 f"seed(s); the spec needs min_seeds={self.min_seeds}")
        v = verdict(self.criteria, ms)
        if len(self.criteria) == 1:
            m = ms[self.criteria[0].key]
            value, spread, seeds = m.value, m.spread, m.seeds
            detail = detail if detail is not None else m.detail
        else:
            keys = [c.key for c in self.criteria]
            value = {k: ms[k].value for k in keys}
            spread = {k: ms[k].spread for k in keys}
            seeds = min(ms[k].seeds for k in keys)
        return self._base(v, value, spread, seeds, note, dataset, detail)

    def skip(self, reason: str | None = None, *, note: str = "") -> Claim:
        """The claim as "not run", with its reason (data or hardware out of reach)."""
        why = reason or self.not_run
        if not why:
            raise ValueError(f"claim {self.name!r}: a not-run claim needs its reason")
        return self._base("not run", None, None, 0, note or f"not run: {why}", None, None)
