"""End-to-end smoke test of ``reproduce flows`` on a tiny config, quick and resumable."""

import dataclasses
import json

import pytest

from reprlab.flows.reproduce import QUICK_CONFIG, reproduce
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext

TINY = dataclasses.replace(
    QUICK_CONFIG, image_size=8, n_layers=(1, 1), hidden=8, datasets=("digits",), n_train=64,
    n_test=32, epochs=1, batch_size=32, n_rf=2, n_inpaint=2, inpaint_steps=2, n_mix=2,
    touched_sizes=(8, 16, 32), baseline_transforms=2)


@pytest.mark.parametrize("quick", [True, False])
def test_reproduce_tiny(tmp_path, quick):
    ctx = ReproduceContext(method="flows", quick=quick, out=tmp_path, progress=False)
    report = reproduce(ctx, TINY)
    names = [c.name for c in report.claims]
    assert any("bpd" in n for n in names) and any("Laplace" in n for n in names)
    assert any("receptive" in n for n in names) and any("O(log L)" in n for n in names)
    assert len(report.figures) >= 6
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    assert data["method"] == "flows"
    json.dumps(data)
    ckpts = sorted(p.parent.name for p in ctx.work_dir.glob("*/last.pt"))
    if quick:
        assert ckpts == []
    else:
        # the non-quick path checkpoints every model and a re-run resumes from them
        assert ckpts == ["rg_gaussian_digits", "rg_laplace_digits", "zuko_realnvp_digits"]
        again = reproduce(ctx, TINY)
        bpd = {r["model"]: r["test_bpd"] for r in report.tables["bpd"]}
        assert {r["model"]: r["test_bpd"] for r in again.tables["bpd"]} == pytest.approx(bpd)
