"""The ``reproduce`` contract.

``<out>/<method>.json`` holds::

    {"method", "claims": [{"name", "paper": {"value", "dataset"},
                           "measured": {"value", "dataset"}, "verdict", "note"}],
     "config", "seconds", "figures": [{"title", "file", "caption"}]}

Figures are PNG files under ``<out>/<method>/`` so the JSON stays small; ``report.html``
embeds them as base64 so the page opens from disk with no network.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "VERDICTS",
    "Claim",
    "Figure",
    "MethodReport",
    "figure_to_png",
    "write_method_json",
    "load_method_json",
    "verdict_from_ratio",
]

VERDICTS = ("reproduced", "partial", "not reproduced")


@dataclass
class Claim:
    """One paper claim next to our measurement.

    ``paper_value`` / ``measured_value`` may be numbers, strings or small dicts (e.g. one
    value per ε). ``verdict`` is one of :data:`VERDICTS`; ``note`` says how it was measured,
    what differs from the paper (scale, data set) and why the verdict is what it is.
    """

    name: str
    paper_value: Any
    paper_dataset: str
    measured_value: Any
    measured_dataset: str
    verdict: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paper": {"value": self.paper_value, "dataset": self.paper_dataset},
            "measured": {"value": self.measured_value, "dataset": self.measured_dataset},
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass
class Figure:
    """A PNG figure produced by a method run. ``png`` holds the encoded bytes."""

    title: str
    png: bytes
    caption: str = ""


@dataclass
class MethodReport:
    """Everything ``reprlab reproduce <method>`` returns for one method."""

    method: str
    claims: list[Claim] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def add_figure(self, title: str, fig: Any, caption: str = "") -> None:
        """Render a matplotlib figure to PNG, keep it, and close it."""
        self.figures.append(Figure(title=title, png=figure_to_png(fig), caption=caption))


def figure_to_png(fig: Any, dpi: int = 90) -> bytes:
    """Encode a matplotlib figure as PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()[:60] or "figure"


def _jsonable(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_method_json(report: MethodReport, out_dir: str | Path) -> Path:
    """Write ``<out>/<method>.json`` and the figures under ``<out>/<method>/``."""
    out = Path(out_dir)
    fig_dir = out / report.method
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for i, fig in enumerate(report.figures):
        name = f"{i:02d}_{_slug(fig.title)}.png"
        (fig_dir / name).write_bytes(fig.png)
        figures.append({"title": fig.title, "file": f"{report.method}/{name}",
                        "caption": fig.caption})
    payload = {
        "method": report.method,
        "claims": [c.to_json() for c in report.claims],
        "config": report.config,
        "seconds": round(float(report.seconds), 2),
        "figures": figures,
        "tables": report.tables,
    }
    path = out / f"{report.method}.json"
    path.write_text(json.dumps(_jsonable(payload), indent=2))
    return path


def load_method_json(path: str | Path) -> dict[str, Any]:
    """Read a ``<method>.json`` and check it follows the contract."""
    data = json.loads(Path(path).read_text())
    missing = {"method", "claims", "config", "seconds"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    for claim in data["claims"]:
        for key in ("name", "paper", "measured", "verdict", "note"):
            if key not in claim:
                raise ValueError(f"{path}: claim {claim.get('name')!r} lacks {key!r}")
        if claim["verdict"] not in VERDICTS:
            raise ValueError(f"{path}: bad verdict {claim['verdict']!r}")
    return data


def verdict_from_ratio(measured: float, target: float, *, higher_is_better: bool = True,
                       tolerance: float = 0.01, partial: float = 0.05) -> str:
    """Compare a measured figure with a target.

    ``reproduced`` when within ``tolerance`` (relative) of the target or better;
    ``partial`` within ``partial``; otherwise ``not reproduced``.
    """
    if measured != measured:
        return "not reproduced"
    gap = (target - measured) if higher_is_better else (measured - target)
    rel = gap / max(abs(target), 1e-12)
    if rel <= tolerance:
        return "reproduced"
    if rel <= partial:
        return "partial"
    return "not reproduced"
