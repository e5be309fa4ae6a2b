import numpy as np
import pytest
import trimesh
from PIL import Image

from reprlab.sketch3d.io import export_points, normalize_sketch, read_sketch_image


def _png(path, arr, mode="L"):
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(path)
    return path


def test_read_sketch_image_normalises(tmp_path):
    img = np.full((200, 300), 255, dtype=np.uint8)  # white paper
    img[50:52, 100:200] = 0  # a dark horizontal stroke
    img[50:150, 100:102] = 0  # a dark vertical stroke
    out = read_sketch_image(_png(tmp_path / "s.png", img), size=32, margin=2)
    assert out.shape == (32, 32) and set(np.unique(out)) == {0.0, 1.0}
    # the 100x100 strokes' box fills [2, 30): top row and left column are ink
    assert out[2, 2:30].all() and out[2:30, 2].all()
    assert out[:2].sum() == 0 and out[:, 30:].sum() == 0
    # the same drawing in white on black, or in colour, reads the same
    assert np.array_equal(read_sketch_image(_png(tmp_path / "i.png", 255 - img), size=32,
                                            margin=2), out)
    rgb = np.stack([img] * 3, -1)
    assert np.array_equal(read_sketch_image(_png(tmp_path / "c.png", rgb, "RGB"), size=32,
                                            margin=2), out)


def test_bad_images_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_sketch_image(tmp_path / "none.png", size=32)
    bad = tmp_path / "bad.png"
    bad.write_text("this is not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        read_sketch_image(bad, size=32)
    blank = _png(tmp_path / "blank.png", np.full((64, 64), 255))
    with pytest.raises(ValueError, match="no strokes"):
        read_sketch_image(blank, size=32)
    tiny = _png(tmp_path / "tiny.png", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="too small"):
        read_sketch_image(tiny, size=32)
    with pytest.raises(ValueError, match="2-D"):
        normalize_sketch(np.zeros((4, 4, 3)), size=32)


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
def test_export_roundtrip(tmp_path, suffix):
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, size=(100, 3))
    path = export_points(pts, tmp_path / f"cloud{suffix}")
    loaded = trimesh.load(path, process=False)
    assert np.allclose(np.asarray(loaded.vertices), pts, atol=1e-5)
    with pytest.raises(ValueError, match=r"\.ply or \.obj"):
        export_points(pts, tmp_path / "cloud.xyz")
    with pytest.raises(ValueError, match="shape"):
        export_points(pts[:, :2], tmp_path / "c.ply")


@pytest.mark.parametrize("writer", ["ply", "obj"])
def test_writers_reject_nan_and_empty(tmp_path, writer):
    from reprlab.sketch3d import write_obj, write_ply

    fn = write_ply if writer == "ply" else write_obj
    pts = np.zeros((4, 3))
    pts[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fn(pts, tmp_path / f"x.{writer}")
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((0, 3)), tmp_path / f"y.{writer}")
    assert not list(tmp_path.iterdir())  # nothing half-written
