"""Human-readable claim values: numbers with units and spreads, never a JSON dump."""

from __future__ import annotations

import math
from typing import Any

from reprlab.claims import Claim

__all__ = ["fmt_number", "format_value", "format_measured", "format_claim_line"]


def fmt_number(x: Any) -> str:
    """``0.9755`` → ``0.9755``; ``1234567.0`` → ``1.235e+06``; ``None`` → ``—``."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if x == 0:
            return "0"
        if 1e-3 <= abs(x) < 1e5:
            return f"{x:.4g}"
        return f"{x:.3e}"
    return str(x)


def _with_unit(text: str, unit: Any) -> str:
    return f"{text} {unit}" if isinstance(unit, str) and unit else text


def format_value(value: Any, spread: Any = None, unit: Any = "") -> str:
    """One value as text: ``97.5 ± 0.3 points``; a mapping as ``a: 1, b: 2``."""
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            s = spread.get(k) if isinstance(spread, dict) else None
            u = unit.get(k, "") if isinstance(unit, dict) else ""
            parts.append(f"{k}: {format_value(v, s, u)}")
        return ", ".join(parts)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_number(v) for v in value[:12]) + \
            (", …" if len(value) > 12 else "") + "]"
    text = fmt_number(value)
    if isinstance(spread, (int, float)) and not isinstance(spread, bool) and spread:
        text += f" ± {fmt_number(float(spread))}"
    return _with_unit(text, unit)


def format_measured(measured: dict[str, Any]) -> str:
    """The ``measured`` block of a claim's JSON as one line of text."""
    if measured.get("value") is None and not measured.get("seeds"):
        return "—"
    text = format_value(measured.get("value"), measured.get("spread"), measured.get("unit", ""))
    seeds = measured.get("seeds") or 0
    if seeds > 1:
        text += f" (mean ± sd, {seeds} seeds)"
    return text


def format_claim_line(claim: Claim) -> str:
    """``[   reproduced] name: 0.12 ± 0.01 points (paper: …)`` for the terminal."""
    measured = claim.to_json()["measured"]
    return (f"[{claim.verdict:>14}] {claim.name}: {format_measured(measured)} "
            f"(paper: {format_value(claim.paper_value)})")
