import json

from reprlab.hyperbolic.reproduce import HyperbolicConfig, run
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext


def test_reproduce_end_to_end_tiny(tmp_path):
    cfg = HyperbolicConfig(mnist_train=300, fashion_train=300, test=200, epochs=2,
                           batch_size=64, feat_dim=16, attack_samples=40, eps=(0.1, 0.3),
                           pgd_steps=2, diag_samples=64)
    ctx = ReproduceContext(method="hyperbolic", quick=True, out=tmp_path, progress=False)
    report = run(ctx, cfg)
    assert len(report.claims) == 5 and len(report.figures) == 2
    path = write_method_json(report, tmp_path)
    data = load_method_json(path)
    measured = data["claims"][0]["measured"]["value"]
    assert 0 <= measured["clipped HNN"] <= 100 and 0 <= measured["ENN"] <= 100
    hist = data["config"]["histories"]["mnist"]
    assert len(hist["clipped"]) == 2 and "z_norm_mean" in hist["clipped"][0]
    assert "z_norm_mean" not in hist["euclidean"][0]
    assert (tmp_path / "hyperbolic" / "work" / "mnist-clipped" / "last.pt").exists()
    assert json.dumps(data)  # serialisable


def test_full_run_resumes_from_its_checkpoints(tmp_path):
    """Without --quick every model checkpoints; a re-run continues (here: nothing left to
    train) and reports the same figures."""
    cfg = HyperbolicConfig(mnist_train=200, fashion_train=200, test=100, epochs=1,
                           batch_size=64, feat_dim=8, attack_samples=20, eps=(0.1,),
                           pgd_steps=1, diag_samples=32)
    ctx = ReproduceContext(method="hyperbolic", quick=False, out=tmp_path, progress=False)
    first = run(ctx, cfg)
    ckpt = tmp_path / "hyperbolic" / "work" / "fashion-clipped" / "last.pt"
    stamp = ckpt.stat().st_mtime_ns
    second = run(ctx, cfg)
    assert ckpt.stat().st_mtime_ns == stamp  # nothing retrained
    assert second.tables["test accuracy"] == first.tables["test accuracy"]
    assert second.config["histories"] == first.config["histories"]
