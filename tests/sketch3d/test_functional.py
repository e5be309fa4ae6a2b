import pytest
import torch

from reprlab.sketch3d.functional import (
    chamfer_distance,
    chamfer_distance_bruteforce,
    chamfer_distance_chunked,
    pix2pix_discriminator_loss,
    pix2pix_generator_loss,
    voxel_iou,
    voxelize_points,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("squared", [True, False])
def test_chamfer_matches_bruteforce(seed, dtype, squared):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 17, 3, generator=g, dtype=dtype) - 0.5
    b = torch.rand(2, 23, 3, generator=g, dtype=dtype) - 0.5
    ref = chamfer_distance_bruteforce(a, b, squared=squared).to(dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    got = chamfer_distance(a, b, squared=squared, reduction="none")
    assert torch.allclose(got, ref, atol=tol, rtol=tol)
    got_c = chamfer_distance_chunked(a, b, chunk=5, squared=squared, reduction="none")
    assert torch.allclose(got_c, ref, atol=tol, rtol=tol)
    assert torch.allclose(chamfer_distance(a, b, squared=squared), ref.mean(), atol=tol)


def test_chamfer_zero_for_identical_and_permuted_clouds():
    a = torch.rand(3, 64, 3)
    assert float(chamfer_distance(a, a)) == 0.0
    perm = a[:, torch.randperm(64)]
    assert float(chamfer_distance(a, perm)) <= 1e-12
    assert float(chamfer_distance_chunked(a, perm, chunk=7)) <= 1e-12


def test_chamfer_symmetric_and_known_value():
    a = torch.zeros(1, 1, 3)
    b = torch.tensor([[[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]])
    # a->b: 1; b->a: mean(1, 4) = 2.5
    assert float(chamfer_distance(a, b)) == pytest.approx(3.5)
    assert float(chamfer_distance(b, a)) == pytest.approx(3.5)


def test_chamfer_gradients_finite():
    a = torch.rand(2, 32, 3, requires_grad=True)
    b = torch.rand(2, 40, 3)
    chamfer_distance(a, b).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_chamfer_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        chamfer_distance(torch.rand(2, 5, 2), torch.rand(2, 5, 3))
    with pytest.raises(ValueError, match="batch"):
        chamfer_distance(torch.rand(2, 5, 3), torch.rand(3, 5, 3))
    with pytest.raises(ValueError, match="reduction"):
        chamfer_distance(torch.rand(2, 5, 3), torch.rand(2, 5, 3), reduction="max")
    with pytest.raises(ValueError, match="chunk"):
        chamfer_distance_chunked(torch.rand(2, 5, 3), torch.rand(2, 5, 3), chunk=0)


def test_voxel_iou():
    a = torch.rand(2, 500, 3) - 0.5
    assert torch.allclose(voxel_iou(a, a), torch.ones(2))
    far = torch.full((2, 10, 3), -0.45)
    near = torch.full((2, 10, 3), 0.45)
    assert torch.allclose(voxel_iou(far, near), torch.zeros(2))
    grid = voxelize_points(torch.tensor([[[0.0, 0.0, 0.0]]]), resolution=4)
    assert grid.sum() == 1 and grid[0, 2, 2, 2]


def test_pix2pix_losses():
    logits = torch.zeros(2, 1, 3, 3)
    total, gan, l1 = pix2pix_generator_loss(logits, torch.ones(2, 1, 4, 4),
                                            torch.zeros(2, 1, 4, 4), lambda_l1=100.0)
    assert float(gan) == pytest.approx(0.6931, abs=1e-4)
    assert float(l1) == pytest.approx(1.0)
    assert float(total) == pytest.approx(100.6931, abs=1e-3)
    d = pix2pix_discriminator_loss(torch.full((1, 1, 2, 2), 20.0), torch.full((1, 1, 2, 2), -20.0))
    assert float(d) < 1e-6
    with pytest.raises(ValueError, match="shapes differ"):
        pix2pix_generator_loss(logits, torch.ones(1, 1, 4, 4), torch.ones(2, 1, 4, 4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_metrics_reject_non_finite_points(bad):
    a = torch.rand(2, 8, 3)
    b = torch.rand(2, 8, 3)
    a[1, 3, 0] = bad
    for fn in (chamfer_distance, chamfer_distance_chunked, voxel_iou):
        with pytest.raises(ValueError, match="NaN or infinite"):
            fn(a, b)
        with pytest.raises(ValueError, match="NaN or infinite"):
            fn(b, a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        voxelize_points(a)


def test_metrics_reject_empty_clouds():
    full = torch.rand(2, 8, 3)
    for empty in (torch.rand(2, 0, 3), torch.rand(0, 8, 3)):
        for fn in (chamfer_distance, voxel_iou):
            with pytest.raises(ValueError, match="empty"):
                fn(empty, full if empty.shape[0] else full[:0])
        with pytest.raises(ValueError, match="empty"):
            voxelize_points(empty)
    with pytest.raises(ValueError, match="batch sizes differ"):
        voxel_iou(torch.rand(2, 5, 3), torch.rand(3, 5, 3))
