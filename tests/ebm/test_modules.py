"""EnergyNet / MLPEnergy: shapes, padding, gradients to every parameter, input checks."""

import pytest
import torch

from reprlab.ebm import EnergyNet, MLPEnergy, QuadraticHead, ResidualBlock, dsm_loss


@pytest.mark.parametrize("extra_blocks", [0, 1])
def test_energynet_shapes_and_grads(extra_blocks):
    torch.manual_seed(0)
    net = EnergyNet(1, 4, image_size=28, extra_blocks=extra_blocks)
    assert net.padded_size == 32
    x = torch.rand(3, 1, 28, 28)
    e = net(x)
    assert e.shape == (3,) and torch.isfinite(e).all()
    loss = dsm_loss(net, x, sigmas=torch.tensor([0.1, 0.5, 1.0]))
    loss.backward()
    for name, p in net.named_parameters():
        if name == "head.lq.bias":  # a constant energy offset: no effect on ∇ₓE, no gradient
            assert p.grad is None
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    n_blocks = 3 * (1 + extra_blocks)
    assert len(net.blocks) == n_blocks
    assert "extra_blocks" in repr(net)


def test_energynet_rgb_32_no_padding():
    net = EnergyNet(3, 4, image_size=32, extra_blocks=2)
    assert net.padded_size == 32
    assert net(torch.rand(2, 3, 32, 32)).shape == (2,)


def test_energynet_rejects_wrong_shape():
    net = EnergyNet(1, 4, image_size=28)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        net(torch.rand(2, 1, 32, 32))


def test_quadratic_head_formula():
    head = QuadraticHead(5)
    h = torch.randn(4, 5)
    want = (head.l1(h) * head.l2(h) + head.lq(h * h)).squeeze(-1)
    assert torch.allclose(head(h), want)


def test_residual_block_down_halves():
    blk = ResidualBlock(4, 8, down=True)
    assert blk(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)
    assert ResidualBlock(4, 4)(torch.randn(2, 4, 8, 8)).shape == (2, 4, 8, 8)


def test_reset_parameters_reinitialises():
    net = MLPEnergy(2, 16, 2)
    before = [p.detach().clone() for p in net.parameters()]
    net.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_mlp_energy_and_errors():
    net = MLPEnergy(2, 8, 2)
    assert net(torch.randn(5, 2)).shape == (5,)
    with pytest.raises(ValueError):
        net(torch.randn(5, 3))
    with pytest.raises(ValueError, match="act"):
        MLPEnergy(2, 8, 2, act_layer="nope")
