import pytest
import torch

from reprlab.sketch3d.modules import PatchDiscriminator, PointCloudNet, UNetGenerator


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
