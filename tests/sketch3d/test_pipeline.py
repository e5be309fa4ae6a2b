import numpy as np
import pytest
import torch
from PIL import Image

import reprlab.sketch3d as s3d
from reprlab.cli import main
from reprlab.reproduce import ReproduceContext
from reprlab.sketch3d.modules import PointCloudNet, SketchPSGN
from reprlab.sketch3d.pipeline import (
    MODEL_FILE,
    Sketch3DConfig,
    build_shapes,
    draw_sketches,
    load_model,
    predict_file,
    save_model,
    train_reconstructor,
)
from reprlab.sketch3d.reproduce import CLAIMS, TINY, run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("s3d")
    ctx = ReproduceContext(method="sketch3d", config_name="tiny", config=TINY, out=out)
    return ctx, run(ctx, TINY)


def test_public_api_is_exported():
    for name in s3d.__all__:
        assert hasattr(s3d, name), name
    assert s3d.SketchPSGN is SketchPSGN and callable(s3d.predict_file)


def test_shapes_are_deterministic_and_split():
    a, b = build_shapes(TINY), build_shapes(TINY)
    n = TINY.n_per_category * len(TINY.categories)
    assert a.clean.shape == (n, 32, 32) and a.points.shape == (n, 64, 3)
    assert np.array_equal(a.clean, b.clean) and np.array_equal(a.points, b.points)
    tr, te = a.split["train"], a.split["test"]
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == n
    assert (a.clean.reshape(n, -1).sum(1) > 0).all()
    assert np.abs(a.points).max() <= 0.45 + 1e-5


def test_free_hand_test_style_differs_from_training_styles():
    """The test style is not one the standardizer or the reconstructor was trained on."""
    cfg = Sketch3DConfig()
    assert cfg.freehand_test != cfg.standardizer_train != cfg.synthesized
    assert cfg.freehand_test.mls_shift > cfg.standardizer_train.mls_shift
    assert cfg.freehand_test.extra_ctrl > cfg.standardizer_train.extra_ctrl
    assert cfg.freehand_test.overdraw > 0 == cfg.standardizer_train.overdraw
    data = build_shapes(TINY)
    rng = np.random.default_rng(0)
    free = draw_sketches(data.clean[:4], cfg.freehand_test, rng=rng, margin=TINY.margin)
    syn = draw_sketches(data.clean[:4], cfg.synthesized, rng=rng, margin=TINY.margin)
    assert free.dtype == np.uint8 and free.shape == data.clean[:4].shape
    assert (free != data.clean[:4]).any() and (free != syn).any()


def test_reproduce_emits_the_registered_claims(tiny_run):
    ctx, report = tiny_run
    assert [c.name for c in report.claims] == [c.name for c in CLAIMS]
    judged = [report.claims[0], report.claims[2]]
    for claim in judged:
        assert claim.seeds == 3 and np.isfinite(claim.measured_value)
        assert claim.spread is not None and claim.verdict != "not run"
        assert set(claim.detail) == {"edge-map net", "synthesized net",
                                     "synthesized + standardization"}
    assert [report.claims[1].verdict, report.claims[3].verdict] == ["not run", "not run"]
    assert (ctx.work_dir / MODEL_FILE).exists()
    assert "config" not in report.results and report.summary
    # a re-run with the same settings reuses the stored seeds and gives the same numbers
    again = run(ctx, TINY)
    assert again.claims[0].measured_value == report.claims[0].measured_value


def test_model_bundle_roundtrip_and_corrupt_file(tiny_run, tmp_path):
    ctx, _ = tiny_run
    model = load_model(ctx.work_dir)
    assert model.config == TINY and isinstance(model.reconstructor, SketchPSGN)
    x = torch.zeros(1, 1, 32, 32)
    assert model.reconstruct(x, standardize=False).shape == (1, 64, 3)
    copy = save_model(model, tmp_path / "m.pt")
    assert torch.equal(load_model(copy).reconstruct(x), model.reconstruct(x))
    bad = tmp_path / "bad.pt"
    bad.write_bytes((ctx.work_dir / MODEL_FILE).read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match="bad.pt") as err:
        load_model(bad)
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.pt"
    torch.save({"weights": 1}, junk)
    with pytest.raises(ValueError, match="junk.pt.*not a reprlab checkpoint"):
        load_model(junk)
    model.baseline = None
    with pytest.raises(ValueError, match="baseline"):
        model.reconstruct(x, standardize=False)


def test_cli_predict(tiny_run, tmp_path):
    ctx, _ = tiny_run
    data = build_shapes(TINY)
    png = tmp_path / "sketch.png"
    Image.fromarray(((1 - data.clean[0]) * 255).astype(np.uint8)).save(png)
    out = tmp_path / "shape.ply"
    assert main(["sketch3d", "predict", str(png), "--out", str(out),
                 "--work-dir", str(ctx.work_dir)]) == 0
    text = out.read_text()
    assert "element vertex 64" in text and len(text.strip().splitlines()) == 8 + 64
    obj = tmp_path / "shape.obj"
    assert main(["sketch3d", "predict", str(png), "--out", str(obj), "--no-standardize",
                 "--checkpoint", str(ctx.work_dir / MODEL_FILE)]) == 0
    assert obj.read_text().count("\nv ") == 64


def test_predict_needs_an_explicit_model_and_writes_nowhere_else(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.chdir(tmp_path)
    png = tmp_path / "s.png"
    Image.fromarray(np.full((32, 32), 255, dtype=np.uint8)).save(png)
    with pytest.raises(ValueError, match="exactly one of checkpoint"):
        predict_file(png, tmp_path / "x.ply")
    assert main(["sketch3d", "predict", str(png), "--out", str(tmp_path / "x.ply"),
                 "--work-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no trained sketch3d model" in err and "reprlab reproduce sketch3d" in err
    with pytest.raises(SystemExit):  # argparse: one of --checkpoint / --work-dir required
        main(["sketch3d", "predict", str(png), "--out", str(tmp_path / "x.ply")])
    assert main(["sketch3d", "predict", str(png), "--out", str(tmp_path / "x.stl"),
                 "--work-dir", str(tmp_path)]) == 2
    assert ".ply or .obj" in capsys.readouterr().err
    assert main(["sketch3d"]) == 1
    assert not (tmp_path / "reprlab-out").exists()


@pytest.mark.parametrize("arch", [SketchPSGN, PointCloudNet])
def test_reconstructor_loss_decreases(arch):
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 32, 32) > 0.9).float()
    pts = torch.rand(16, 64, 3) - 0.5
    net = arch(32, 64, 4, 32)
    rows = train_reconstructor(net, x, pts, epochs=8, batch_size=8, lr=3e-3)
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"]


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        Sketch3DConfig(image_size=48)
    with pytest.raises(ValueError, match="arch"):
        Sketch3DConfig(arch="transformer")
    with pytest.raises(ValueError, match="rec_lr"):
        Sketch3DConfig(rec_lr=float("nan"))
    with pytest.raises(ValueError, match="categories"):
        Sketch3DConfig(categories=("sofa",))
    with pytest.raises(ValueError, match="n_seeds"):
        Sketch3DConfig(n_seeds=0)


def test_worker_pool_gives_the_in_process_numbers(tiny_run, tmp_path):
    """Seeds' jobs in 2 spawned workers (any config but tiny) match the in-process run."""
    from reprlab.sketch3d import reproduce as rep

    if rep._workers() < 2:
        pytest.skip("needs 2 usable cores")
    _, report = tiny_run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ctx1 = ReproduceContext(method="sketch3d", config_name="tiny", config=TINY,
                                out=tmp_path / "a")
        inproc = run(ctx1, TINY)
    finally:
        torch.set_num_threads(threads)
    ctx2 = ReproduceContext(method="sketch3d", config_name="pool", config=TINY,
                            out=tmp_path / "b")
    pooled = run(ctx2, TINY)
    assert pooled.results["seconds"]["workers"] == 2
    a = inproc.results["per_seed_cd_free_hand"]
    b = pooled.results["per_seed_cd_free_hand"]
    for name in a:
        assert np.allclose(a[name], b[name], rtol=1e-3), name
    assert (ctx2.work_dir / MODEL_FILE).exists()
