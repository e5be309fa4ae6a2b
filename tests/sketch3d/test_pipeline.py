import numpy as np
import pytest
import torch
from PIL import Image

from reprlab.cli import main
from reprlab.reproduce import ReproduceContext
from reprlab.sketch3d.modules import PointCloudNet
from reprlab.sketch3d.pipeline import (
    MODEL_FILE,
    Sketch3DConfig,
    build_dataset,
    load_model,
    train_reconstructor,
)
from reprlab.sketch3d.reproduce import run

TINY = Sketch3DConfig(n_per_category=4, image_size=32, n_points=64, freehand_variants=1,
                      ngf=4, ndf=4, std_epochs=1, std_batch=8, width=4, hidden=32,
                      rec_epochs=2, rec_batch=8)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("s3d")
    ctx = ReproduceContext(method="sketch3d", quick=True, out=out, progress=False)
    return ctx, run(ctx, TINY)


def test_dataset_is_cached_and_consistent(tiny_run):
    ctx, _ = tiny_run
    data = build_dataset(TINY, cache_dir=ctx.work_dir)
    assert len(list(ctx.work_dir.glob("data_*.npz"))) == 1
    n = 4 * len(TINY.categories)
    assert data.clean.shape == (n, 32, 32) and data.points.shape == (n, 64, 3)
    assert data.freehand_train.shape == (n, 1, 32, 32)
    assert (data.clean.reshape(n, -1).sum(1) > 0).all()
    assert np.abs(data.points).max() <= 0.45 + 1e-5


def test_reproduce_end_to_end(tiny_run):
    ctx, report = tiny_run
    assert report.method == "sketch3d" and len(report.claims) == 3
    for claim in report.claims[:2]:
        vals = claim.measured_value
        assert set(vals) >= {"synthetic", "free-hand", "free-hand + standardization",
                             "synthetic + standardization"}
        assert all(np.isfinite(vals[k]) for k in vals if k != "gap closed" and vals[k])
    assert report.claims[2].verdict == "not reproduced"
    assert len(report.figures) == 2 and report.tables["per_category"]
    assert (ctx.work_dir / MODEL_FILE).exists()
    # a re-run resumes from the finished checkpoints and gives the same numbers
    again = run(ctx, TINY)
    assert again.claims[0].measured_value == report.claims[0].measured_value


def test_cli_predict(tiny_run, tmp_path, capsys):
    ctx, _ = tiny_run
    model = load_model(ctx.work_dir)
    assert model.config == TINY
    data = build_dataset(TINY, cache_dir=ctx.work_dir)
    png = tmp_path / "sketch.png"
    Image.fromarray(((1 - data.freehand[0]) * 255).astype(np.uint8)).save(png)
    out = tmp_path / "shape.ply"
    assert main(["sketch3d", "predict", str(png), "--out", str(out),
                 "--work-dir", str(ctx.work_dir)]) == 0
    text = out.read_text()
    assert "element vertex 64" in text and len(text.strip().splitlines()) == 8 + 64
    obj = tmp_path / "shape.obj"
    assert main(["sketch3d", "predict", str(png), "--out", str(obj), "--no-standardize",
                 "--checkpoint", str(ctx.work_dir / MODEL_FILE)]) == 0
    assert obj.read_text().count("\nv ") == 64


def test_cli_errors(tmp_path, capsys):
    png = tmp_path / "s.png"
    Image.fromarray(np.full((32, 32), 255, dtype=np.uint8)).save(png)
    assert main(["sketch3d", "predict", str(png), "--out", str(tmp_path / "x.ply"),
                 "--work-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no trained sketch3d model" in err and "reprlab reproduce sketch3d" in err
    assert main(["sketch3d", "predict", str(png), "--out", str(tmp_path / "x.stl")]) == 2
    assert ".ply or .obj" in capsys.readouterr().err
    assert main(["sketch3d"]) == 1


def test_reconstructor_loss_decreases():
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 32, 32) > 0.9).float()
    pts = torch.rand(16, 64, 3) - 0.5
    net = PointCloudNet(32, 64, 4, 32)
    rows = train_reconstructor(net, x, pts, epochs=8, batch_size=8, lr=3e-3, progress=False)
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"]


def test_model_without_baseline_refuses_unstandardized(tiny_run):
    ctx, _ = tiny_run
    model = load_model(ctx.work_dir)
    x = torch.zeros(1, 1, 32, 32)
    assert model.reconstruct(x, standardize=False).shape == (1, 64, 3)
    model.baseline = None
    with pytest.raises(ValueError, match="baseline"):
        model.reconstruct(x, standardize=False)
