"""End-to-end smoke test of ``reproduce ebm`` on a tiny config, and the registry hook."""

import dataclasses
import json

from reprlab.ebm.reproduce import QUICK_CONFIG, run
from reprlab.registry import get_method
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext

TINY = dataclasses.replace(
    QUICK_CONFIG, train_size=200, channels=2, epochs=1, max_steps_per_epoch=2, batch_size=32,
    schedule_scale=100, n_samples=40, n_inpaint=4, n_reference=100, feature_epochs=1,
    feature_steps=3, denoise_sigmas=(0.1, 0.5))


def test_registered():
    m = get_method("ebm")
    assert m.paper == "arXiv:1910.07762"


def test_reproduce_tiny(tmp_path):
    ctx = ReproduceContext(method="ebm", quick=True, out=tmp_path, progress=False)
    report = run(ctx, TINY)
    names = [c.name for c in report.claims]
    assert names[0].startswith("CIFAR-10") and report.claims[0].verdict == "not reproduced"
    assert any(n.startswith("sample quality (mnist)") for n in names)
    assert any(n.startswith("inpainting") for n in names)
    assert any(n.startswith("single-step denoising") for n in names)
    fd = next(c for c in report.claims if c.name.startswith("sample quality")).measured_value
    assert fd["train_images"] < fd["blurred_noise"]  # the baselines are ordered sensibly
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    assert len(data["figures"]) >= 4
    json.dumps(data)
    # checkpoint written into work_dir; a re-run resumes (no extra training)
    assert (ctx.work_dir / "quick" / "mnist" / "mdsm" / "last.pt").exists()
    assert (ctx.work_dir / "quick" / "mnist" / "feature_net.pt").exists()
