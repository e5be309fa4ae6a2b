import numpy as np
import pytest
import trimesh

from reprlab.sketch3d.render import dilate, rasterize, render_contours, view_basis


@pytest.mark.parametrize("az,el", [(0, 0), (45, 30), (130, -20), (10, 90)])
def test_view_basis_orthonormal(az, el):
    b = view_basis(az, el)
    assert np.allclose(b @ b.T, np.eye(3), atol=1e-9)


def test_cube_front_view_is_a_square_outline():
    cube = trimesh.creation.box(extents=[1, 1, 1])
    size, margin = 32, 4
    img = render_contours(cube, azimuth=0, elevation=0, size=size, margin=margin)
    inner = slice(margin, size - margin)
    # the outline is the border of the [margin, size - margin) square ...
    assert img[margin, inner].all() and img[size - margin - 1, inner].all()
    assert img[inner, margin].all() and img[inner, size - margin - 1].all()
    # ... with nothing inside (one flat face) and nothing outside
    assert img[margin + 1:size - margin - 1, margin + 1:size - margin - 1].sum() == 0
    outside = img.copy()
    outside[inner, inner] = 0
    assert outside.sum() == 0


def test_cube_corner_view_has_the_three_inner_edges():
    cube = trimesh.creation.box(extents=[1, 1, 1])
    size = 64
    img = render_contours(cube, azimuth=45, elevation=35.264, size=size, margin=4)
    r = rasterize(cube, azimuth=45, elevation=35.264, size=size, margin=4)
    # the near corner projects to the centre: three creases meet there
    c = size // 2
    assert img[c - 2:c + 2, c - 2:c + 2].sum() > 0
    # the three visible faces are covered but their centres carry no ink
    faces = np.unique(r.face[r.mask])
    assert len(np.unique(np.round(cube.face_normals[faces], 6), axis=0)) == 3
    for dy, dx in ((-12, 0), (8, -10), (8, 10)):
        assert r.mask[c + dy, c + dx]
        assert img[c + dy - 1:c + dy + 2, c + dx - 1:c + dx + 2].sum() == 0
    # ink forms the hexagon silhouette + a vertical edge below the centre
    assert img[c + 4:c + 20, c - 1:c + 2].sum() >= 14


def test_depth_discontinuity_between_separate_boxes():
    near = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    near.apply_translation([0.5, 0, 0])
    far = trimesh.creation.box(extents=[0.2, 1.0, 1.0])
    far.apply_translation([-0.5, 0, 0])
    scene = trimesh.util.concatenate([near, far])
    img = render_contours(scene, azimuth=0, elevation=0, size=64, margin=4)
    # the small near box's outline appears inside the big far face
    assert img[32, 26:38].sum() >= 2 and img[26:38, 32].sum() >= 2


def test_dilate_and_errors():
    x = np.zeros((7, 7))
    x[3, 3] = 1
    assert dilate(x, 1).sum() == 9
    cube = trimesh.creation.box(extents=[1, 1, 1])
    with pytest.raises(ValueError, match="size"):
        render_contours(cube, azimuth=0, elevation=0, size=4)
    with pytest.raises(ValueError, match="line_width"):
        render_contours(cube, azimuth=0, elevation=0, size=32, line_width=0)
