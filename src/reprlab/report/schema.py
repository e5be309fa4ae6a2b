"""The ``reproduce`` contract.

``<out>/<method>.json`` holds::

    {"method", "config_name", "seed", "summary",
     "claims": [{"name", "paper": {"value", "dataset"},
                 "measured": {"value", "dataset", "spread", "seeds"},
                 "criterion": {"reproduced", "partial"}, "baseline", "control",
                 "verdict": "reproduced" | "partial" | "not reproduced" | "not run", "note"}],
     "config", "results", "seconds", "figures": [{"title", "file", "caption"}], "tables"}

``config`` holds the settings the run was given, ``results`` what it measured beyond the
claims. Figures are PNG files under ``<out>/<method>/`` so the JSON stays small;
``report.html`` embeds them as base64 so the page opens from disk with no network.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab.checkpoint import atomic_write_bytes, atomic_write_text
from reprlab.claims import VERDICTS, Claim

__all__ = [
    "VERDICTS",
    "Claim",
    "Figure",
    "MethodReport",
    "figure_to_png",
    "write_method_json",
    "load_method_json",
]


@dataclass
class Figure:
    """A PNG figure produced by a method run. ``png`` holds the encoded bytes."""

    title: str
    png: bytes
    caption: str = ""


@dataclass
class MethodReport:
    """Everything ``reprlab reproduce <method>`` returns for one method.

    ``summary`` is one line on what the run showed (the report's top table); ``results``
    holds measurements beyond the claims; ``tables`` maps a title to rows (dicts).
    """

    method: str
    claims: list[Claim] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0
    config_name: str = ""
    seed: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def add(self, claim: Claim) -> Claim:
        """Append a judged claim (from :meth:`reprlab.claims.ClaimSpec.judge` or ``.skip``)."""
        if not isinstance(claim, Claim):
            raise TypeError(f"add() takes a Claim, got {type(claim).__name__}")
        self.claims.append(claim)
        return claim

    def verdict_counts(self) -> dict[str, int]:
        """Claims per verdict, every verdict present (zero counts included)."""
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def add_figure(self, title: str, fig: Any, caption: str = "") -> None:
        """Render a matplotlib figure to PNG, keep it, and close it."""
        self.figures.append(Figure(title=title, png=figure_to_png(fig), caption=caption))


def figure_to_png(fig: Any, dpi: int = 90) -> bytes:
    """Encode a matplotlib figure as PNG bytes and close it."""
    from reprlab.report.plots import plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()[:60] or "figure"


def _jsonable(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into plain JSON values (NaN/Inf become null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_method_json(report: MethodReport, out_dir: str | Path) -> Path:
    """Write ``<out>/<method>.json`` and the figures under ``<out>/<method>/``, atomically."""
    out = Path(out_dir)
    fig_dir = out / report.method
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for i, fig in enumerate(report.figures):
        name = f"{i:02d}_{_slug(fig.title)}.png"
        atomic_write_bytes(fig_dir / name, fig.png)
        figures.append({"title": fig.title, "file": f"{report.method}/{name}",
                        "caption": fig.caption})
    payload = {
        "method": report.method,
        "config_name": report.config_name,
        "seed": report.seed,
        "summary": report.summary,
        "claims": [c.to_json() for c in report.claims],
        "config": report.config,
        "results": report.results,
        "seconds": round(float(report.seconds), 2),
        "figures": figures,
        "tables": report.tables,
    }
    path = out / f"{report.method}.json"
    atomic_write_text(path, json.dumps(_jsonable(payload), indent=2, allow_nan=False))
    return path


def load_method_json(path: str | Path) -> dict[str, Any]:
    """Read a ``<method>.json`` and check it follows the contract.

    Raises ``ValueError`` naming the file for unreadable JSON, missing keys or a bad verdict.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable method report ({err}); rerun "
                         f"`reprlab reproduce {path.stem} --out {path.parent}`") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a method report must be a JSON object")
    missing = {"method", "claims", "config", "results", "seconds"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    for claim in data["claims"]:
        if not isinstance(claim, dict):
            raise ValueError(f"{path}: a claim must be an object, got {claim!r}")
        for key in ("name", "paper", "measured", "criterion", "verdict", "note"):
            if key not in claim:
                raise ValueError(f"{path}: claim {claim.get('name')!r} lacks {key!r}")
        for key in ("value", "dataset", "spread", "seeds"):
            if key not in claim["measured"]:
                raise ValueError(f"{path}: claim {claim['name']!r}: measured lacks {key!r}")
        if claim["verdict"] not in VERDICTS:
            raise ValueError(f"{path}: claim {claim['name']!r} has bad verdict "
                             f"{claim['verdict']!r}; expected one of {VERDICTS}")
    return data
