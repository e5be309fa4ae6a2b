"""Smoke test: the lie reproduction runs end to end on a tiny config."""

from __future__ import annotations

from reprlab.lie.reproduce import run, tiny_config
from reprlab.registry import list_methods
from reprlab.report import VERDICTS


def test_reproduce_tiny(tmp_path):
    assert "lie" in list_methods()
    report = run(tiny_config(), work_dir=tmp_path)
    assert len(report.claims) == 3
    assert all(c.verdict in VERDICTS for c in report.claims)
    assert report.figures
    assert (tmp_path / "translate" / "lie.pt").exists()  # checkpoints for resume
