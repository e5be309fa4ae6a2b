import numpy as np
import pytest
import trimesh

from reprlab.sketch3d.shapes import (
    CATEGORIES,
    EXTENT,
    generate_shapes,
    load_mesh_folder,
    make_shape,
    sample_points,
    split_indices,
)


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_shapes_are_normalised(category):
    mesh = make_shape(category, np.random.default_rng(0))
    lo, hi = mesh.bounds
    assert np.allclose((lo + hi) / 2, 0, atol=1e-9)
    assert np.max(hi - lo) == pytest.approx(EXTENT)
    assert len(mesh.faces) < 400  # small enough for the CPU rasterizer


def test_generate_is_seeded_and_interleaved():
    m1, l1 = generate_shapes(2, seed=3)
    m2, _ = generate_shapes(2, seed=3)
    assert l1[:5] == list(CATEGORIES) and len(m1) == 10
    assert all(np.allclose(a.vertices, b.vertices) for a, b in zip(m1, m2, strict=True))
    with pytest.raises(ValueError, match="category"):
        make_shape("sofa", np.random.default_rng(0))


def test_sample_points_lie_on_the_surface():
    box = trimesh.creation.box(extents=[1, 2, 3])
    pts = sample_points(box, 500, rng=np.random.default_rng(0))
    assert pts.shape == (500, 3) and pts.dtype == np.float32
    # every point is on one of the six faces
    on_face = np.isclose(np.abs(pts), [0.5, 1.0, 1.5], atol=1e-5).any(1)
    assert on_face.all()
    # area-uniform: the two 2x3 faces (x = +-0.5) hold 12/22 of the area
    frac = np.isclose(np.abs(pts[:, 0]), 0.5, atol=1e-5).mean()
    assert abs(frac - 12 / 22) < 0.07


def test_load_mesh_folder(tmp_path):
    for cat in ("02691156", "03001627"):
        d = tmp_path / cat / "model1" / "models"
        d.mkdir(parents=True)
        trimesh.creation.box(extents=[1, 2, 3]).export(d / "model_normalized.obj")
    meshes, labels = load_mesh_folder(tmp_path)
    assert labels == ["02691156", "03001627"]
    lo, hi = meshes[0].bounds
    assert np.max(hi - lo) == pytest.approx(EXTENT)
    # y-up (ShapeNet) is turned z-up: the 2-long y side becomes z (scaled by EXTENT/3)
    assert (hi - lo)[2] == pytest.approx(2 * EXTENT / 3)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mesh_folder(tmp_path / "missing")
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no mesh files"):
        load_mesh_folder(tmp_path / "empty")


def test_split_indices_partition():
    s = split_indices(50, seed=1)
    allidx = np.concatenate([s["train"], s["val"], s["test"]])
    assert sorted(allidx.tolist()) == list(range(50)) and len(s["train"]) == 40
    with pytest.raises(ValueError, match="fractions"):
        split_indices(10, fractions=(0.5, 0.5, 0.5))
