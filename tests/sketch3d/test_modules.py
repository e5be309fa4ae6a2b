import pytest
import torch

from reprlab.sketch3d.modules import (
    PatchDiscriminator,
    PointCloudNet,
    SketchPSGN,
    UNetGenerator,
    psgn_point_split,
)


@pytest.mark.parametrize("size", [32, 64])
def test_networks_shapes_and_gradients(size):
    torch.manual_seed(0)
    x = torch.rand(2, 1, size, size)
    for net, out_shape in ((UNetGenerator(size, 4), (2, 1, size, size)),
                           (PointCloudNet(size, 50, 4, 16), (2, 50, 3))):
        y = net(x)
        assert y.shape == out_shape and torch.isfinite(y).all()
        y.square().mean().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None, name
        assert "image_size" in repr(net)
    g = UNetGenerator(size, 4)(x)
    assert (g >= 0).all() and (g <= 1).all()
    d = PatchDiscriminator(4)(x, g)
    assert d.ndim == 4 and d.shape[1] == 1


def test_bad_sizes():
    with pytest.raises(ValueError, match="power of two"):
        UNetGenerator(48)
    with pytest.raises(ValueError, match="expected images"):
        PointCloudNet(32, 10, 4, 8)(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="shapes differ"):
        PatchDiscriminator(4)(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 64, 64))


@pytest.mark.parametrize("size,n_points", [(16, 64), (32, 256), (64, 1024)])
def test_psgn_shapes_split_and_gradients(size, n_points):
    torch.manual_seed(0)
    net = SketchPSGN(size, n_points, width=2, hidden=16)
    grid, per_cell, n_fc = psgn_point_split(size, n_points)
    assert grid * grid * per_cell + n_fc == n_points and n_fc >= 1
    if (size, n_points) == (64, 1024):  # the official 768 + 256 split
        assert (grid, per_cell, n_fc) == (16, 3, 256)
    x = (torch.rand(2, 1, size, size) > 0.8).float()
    pts, t = net.forward_with_transform(x)
    assert pts.shape == (2, n_points, 3) and torch.isfinite(pts).all()
    # the point transform starts at the identity, so its penalty starts at 0
    assert torch.allclose(t, torch.eye(3).expand(2, 3, 3))
    assert float(net.transform_penalty(t).detach()) == 0.0
    (pts.square().mean() + net.transform_penalty(t)).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
    assert "grid=" in repr(net)


def test_psgn_without_transform_and_bad_args():
    net = SketchPSGN(32, 128, width=2, hidden=8, transform=False)
    pts, t = net.forward_with_transform(torch.zeros(1, 1, 32, 32))
    assert t is None and pts.shape == (1, 128, 3)
    assert float(net.transform_penalty(None)) == 0.0
    with pytest.raises(ValueError, match="power of two"):
        SketchPSGN(48)
    with pytest.raises(ValueError, match="n_points"):
        SketchPSGN(32, 2)
    with pytest.raises(ValueError, match="width"):
        SketchPSGN(32, 64, width=0)
    with pytest.raises(ValueError, match="expected images"):
        net(torch.zeros(1, 1, 64, 64))


def test_psgn_in_a_user_module_with_a_plain_optimizer():
    """The paper's net and the Chamfer loss inside a user's own nn.Module and torch.optim loop."""
    from reprlab.sketch3d import chamfer_distance

    class Mine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blur = torch.nn.AvgPool2d(3, 1, 1)
            self.net = SketchPSGN(32, 64, width=2, hidden=32)

        def forward(self, x):
            return self.net(self.blur(x).clamp(0, 1))

    torch.manual_seed(0)
    model = Mine()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = (torch.rand(8, 1, 32, 32) > 0.9).float()
    target = torch.rand(8, 64, 3) - 0.5
    losses = []
    for _ in range(30):
        loss = chamfer_distance(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
