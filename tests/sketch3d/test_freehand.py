import numpy as np
import pytest
import trimesh

from reprlab.sketch3d.freehand import FreehandConfig, mls_rigid, simulate_freehand
from reprlab.sketch3d.render import render_contours


def test_mls_identity_translation_rotation():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 10, size=(50, 2))
    p = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    assert np.allclose(mls_rigid(pts, p, p), pts, atol=1e-9)
    assert np.allclose(mls_rigid(pts, p, p + [3.0, -2.0]), pts + [3.0, -2.0], atol=1e-9)
    th = 0.3
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    assert np.allclose(mls_rigid(pts, p, p @ rot.T), pts @ rot.T, atol=1e-8)
    # handles are interpolated: a control point maps onto its target
    q = p + rng.normal(0, 1, size=p.shape)
    assert np.allclose(mls_rigid(p, p, q), q, atol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        mls_rigid(pts, p, q[:3])


def _sketch(size=64):
    box = trimesh.creation.box(extents=[1, 0.6, 0.4])
    return render_contours(box, azimuth=40, elevation=25, size=size, margin=2)


def test_freehand_keeps_strokes_inside_canvas():
    img = _sketch()
    strong = FreehandConfig(mls_shift=0.2, affine_deg=20, affine_shift=0.2, jitter=0.03,
                            thickness=(1, 2), margin=4)
    for seed in range(10):
        out = simulate_freehand(img, rng=np.random.default_rng(seed), config=strong)
        assert out.shape == img.shape and out.sum() > 0.3 * img.sum()
        assert set(np.unique(out)) <= {0.0, 1.0}
        # a 2-pixel line may grow one pixel into the 4-pixel margin, never further
        assert out[:3].sum() == 0 and out[-3:].sum() == 0
        assert out[:, :3].sum() == 0 and out[:, -3:].sum() == 0
        # the drawing is re-framed, not clipped: its longest side spans the canvas
        ys, xs = np.nonzero(out)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) >= 64 - 2 * 4 - 1


def test_freehand_is_seeded_and_differs_from_clean():
    img = _sketch()
    a = simulate_freehand(img, rng=np.random.default_rng(3))
    b = simulate_freehand(img, rng=np.random.default_rng(3))
    c = simulate_freehand(img, rng=np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a - img).sum() > 0


def test_freehand_rejects_bad_input():
    with pytest.raises(ValueError, match="no ink"):
        simulate_freehand(np.zeros((32, 32)), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="square"):
        simulate_freehand(np.zeros((32, 16)), rng=np.random.default_rng(0))
