"""The `word_factors` tiny config end to end, called directly, checked against the
registered claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprlab.registry import Method
from reprlab.reproduce import ReproduceContext, check_claims
from reprlab.word_factors import reproduce as R


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").is_file(),
                    reason="Debian wordnet-base not installed")
def test_tiny_run_emits_registered_claims(tmp_path):
    ctx = ReproduceContext(method="word_factors", config_name="tiny", config=R.TINY,
                           out=tmp_path)
    report = R.run(ctx, R.TINY)
    method = Method(name="word_factors", run=R.run, summary="", paper="", claims=R.CLAIMS,
                    configs={"tiny": R.TINY})
    check_claims(method, report)
    assert all(c.seeds >= 3 for c in report.claims)
    assert report.results["questions"] > 0 and report.figures
    analogy = next(c for c in report.claims if "analogy" in c.name)
    assert set(analogy.measured_value) == {"gain", "vs_control", "p"}


def test_configs():
    assert R.FULL.n_factors == 1000 and R.FULL.lam == 0.5  # the paper's setting
    assert R.QUICK.n_seeds >= 3 and R.TINY.n_seeds >= 3
