"""Smoke test: the lie reproduction runs end to end on a tiny config."""

from __future__ import annotations

from dataclasses import replace

from reprlab.lie.reproduce import run, tiny_config
from reprlab.registry import list_methods
from reprlab.report import VERDICTS


def test_reproduce_tiny(tmp_path):
    assert "lie" in list_methods()
    # all three controlled data sets and the reflection sweep of the full config, tiny
    cfg = replace(tiny_config(), experiments=("translate", "rotate", "rotate_scale"),
                  rotation_multiplicity=2, reflect_every=1, epochs=2)
    report = run(cfg, work_dir=tmp_path)
    assert len(report.claims) == 3
    assert all(c.verdict in VERDICTS for c in report.claims)
    assert set(report.claims[0].measured_value) == {"translate", "rotate", "rotate_scale"}
    assert len(report.figures) == 8
    assert (tmp_path / "rotate_scale" / "lie.pt").exists()  # checkpoints for resume
