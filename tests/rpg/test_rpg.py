import copy
import math

import pytest
import torch
from torch import nn

from reprlab.rpg import (
    ParameterBank,
    RPGConv2d,
    balanced_indices,
    count_params,
    fan_scale,
    generate_weight,
    resnet,
    rpg,
    summary,
)


def _seq() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
                         nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 1), nn.Flatten())


@pytest.mark.parametrize("n,total", [(4, 10), (7, 7), (5, 3), (10, 1000), (1, 9)])
def test_balanced_indices_tiling(n, total):
    idx = balanced_indices(n, total, generator=torch.Generator().manual_seed(1))
    assert idx.shape == (total,) and idx.dtype == torch.int64
    counts = torch.bincount(idx, minlength=n)
    assert counts.sum() == total
    assert counts.min() >= total // n and counts.max() <= -(-total // n)


def test_balanced_indices_is_shuffled_and_seeded():
    a = balanced_indices(100, 1000, generator=torch.Generator().manual_seed(0))
    b = balanced_indices(100, 1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.arange(100).repeat(10))


@pytest.mark.parametrize("bad", [0, -3, 1.5, True])
def test_bad_bank_sizes(bad):
    with pytest.raises(ValueError, match="num_params"):
        rpg(resnet((4, 8), (1, 1)), bad)
    with pytest.raises(ValueError, match="num_params"):
        ParameterBank(bad)


def test_bad_arguments():
    with pytest.raises(ValueError, match="share"):
        rpg(resnet((4, 8), (1, 1)), 10, share="everything")
    with pytest.raises(ValueError, match="smaller than the number of banks"):
        rpg(resnet((4, 8), (1, 1)), 2, share="layer")
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        rpg(nn.Sequential(nn.Linear(3, 3)), 10)
    with pytest.raises(ValueError, match="mode"):
        rpg(resnet((4, 8), (1, 1)), 10, mode="fan")


@pytest.mark.parametrize("signs", [True, False])
def test_generated_weights_match_reference_gather(signs):
    net = rpg(resnet((4, 8), (1, 1)), 37, signs=signs, seed=3)
    bank = net.banks["all"].weight
    for m in net.modules():
        if isinstance(m, RPGConv2d):
            ref = bank[m.index]
            if signs:
                ref = ref * m.sign
            ref = (ref * m.scale).reshape(m.weight_shape)
            assert torch.equal(m.weight, ref)
            assert (m.sign is None) == (not signs)
            if signs:
                assert set(m.sign.unique().tolist()) <= {-1.0, 1.0}


def test_stem_classifier_and_bn_stay_unshared():
    model = resnet((4, 8), (1, 1))
    net = rpg(model, 50)
    assert type(net.model.conv1) is nn.Conv2d
    assert isinstance(net.model.layer1[0].conv1, RPGConv2d)
    assert isinstance(net.model.layer2[0].downsample[0], RPGConv2d)
    assert type(net.model.fc) is nn.Linear
    assert net.model.bn1.weight.requires_grad


def test_indices_balanced_across_layers_of_a_bank():
    net = rpg(resnet((4, 8), (1, 1)), 97)
    s = summary(net)
    hist = s.banks["all"]["usage_histogram"]
    total = s.banks["all"]["generated"]
    assert set(hist) <= {total // 97, -(-total // 97)}
    assert s.params_after == count_params(net)
    assert s.params_before == count_params(resnet((4, 8), (1, 1)))
    assert "bank all" in str(s)


def test_gradients_reach_the_bank_exactly():
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 64, seed=1)
    net(torch.randn(3, 1, 12, 12)).square().sum().backward()
    bank = net.banks["all"].weight
    assert bank.grad is not None and bank.grad.abs().sum() > 0
    assert net.model.conv1.weight.grad is not None  # the unshared stem trains too
    # d(sum of all generated weights)/d(bank) = scatter-add of sign * scale
    convs = [m for m in net.modules() if isinstance(m, RPGConv2d)]
    (grad,) = torch.autograd.grad(sum(m.weight.sum() for m in convs), bank)
    expect = torch.zeros_like(bank)
    for m in convs:
        expect.index_add_(0, m.index, m.sign * m.scale)
    torch.testing.assert_close(grad, expect)


def test_bank_gradient_finite_difference():
    torch.manual_seed(0)
    net = rpg(nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Conv2d(3, 2, 3)), 11,
              skip_first=False).double()
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    bank = net.banks["all"].weight
    assert torch.autograd.gradcheck(lambda b: _with_bank(net, b, x), (bank.detach().clone()
                                                                     .requires_grad_(),))


def _with_bank(net, b, x):
    out = x
    for m in net.model:
        if isinstance(m, RPGConv2d):
            w = generate_weight(b, m.index, m.sign, shape=m.weight_shape, scale=m.scale)
            out = m._conv_forward(out, w, m.bias)
        else:
            out = m(out)
    return out.sum()


def test_state_dict_round_trip_reproduces_outputs():
    torch.manual_seed(0)
    a = rpg(resnet((4, 8), (1, 1)), 40, seed=0)
    with torch.no_grad():
        a.banks["all"].weight.add_(torch.randn(40))
    b = rpg(resnet((4, 8), (1, 1)), 40, seed=123)  # different indices and signs
    x = torch.randn(2, 1, 12, 12)
    a.eval(), b.eval()
    assert not torch.allclose(a(x), b(x))
    keys = a.state_dict().keys()
    assert any(k.endswith(".index") for k in keys) and any(k.endswith(".sign") for k in keys)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_to_dtype_and_deepcopy_keep_bank_shared():
    net = rpg(resnet((4, 8), (1, 1)), 30).double()
    conv = net.model.layer1[0].conv1
    assert conv.index.dtype == torch.int64 and conv.sign.dtype == torch.float64
    assert net(torch.zeros(1, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64
    twin = copy.deepcopy(net)
    assert twin.model.layer1[0].conv1.bank is twin.banks["all"]
    assert twin.model.layer1[0].conv1.bank is not net.banks["all"]


def test_bank_larger_than_network():
    model = resnet((4, 8), (1, 1))
    shared = count_params(model, convs_only=True) - model.conv1.weight.numel()
    net = rpg(model, 3 * shared)
    s = summary(net)
    assert s.banks["all"]["unused"] == 2 * shared
    assert s.banks["all"]["usage_histogram"] == {0: 2 * shared, 1: shared}
    out = net(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("share,n_banks", [("model", 1), ("stage", 2), ("block", 2),
                                           ("layer", 5)])
def test_sharing_granularities(share, n_banks):
    net = rpg(resnet((4, 8), (1, 1)), 500, share=share)
    assert len(net.banks) == n_banks
    assert sum(b.num_params for b in net.banks.values()) == 500
    s = summary(net)
    assert sum(b["layers"] for b in s.banks.values()) == 5


def test_plain_sequential_and_custom_share():
    net = rpg(_seq(), 25, share=lambda name: "even" if int(name) % 4 == 0 else "odd",
              skip_first=False)
    assert set(net.banks) == {"even", "odd"}
    assert net(torch.randn(2, 1, 9, 9)).shape == (2, 5 * 4 * 4)


def test_fan_scale_gives_kaiming_std():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    net = rpg(nn.Sequential(nn.Conv2d(64, 128, 3), conv), 100_000, skip_first=False)
    w = net.model[1].weight
    assert abs(float(w.detach().std()) - math.sqrt(2 / (64 * 9))) < 0.05 * math.sqrt(2 / (64 * 9))
    assert fan_scale((64, 64, 3, 3), fan_ref=128 * 9) == pytest.approx(math.sqrt(2))


def test_training_reduces_loss():
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 60)
    x, y = torch.randn(32, 1, 10, 10), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_batched_generation_matches_per_layer_path():
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 70, share="stage", seed=2)
    for m in net.modules():  # make the unsigned path part of the check too
        if isinstance(m, RPGConv2d) and m.out_channels == 4:
            m.sign = None
    x = torch.randn(3, 1, 10, 10)
    out_batched = net(x)  # RPGNetwork.forward gathers once per bank
    grads_b = torch.autograd.grad(out_batched.square().sum(), list(net.banks.parameters()))
    out_layer = net.model(x)  # per-layer property path
    grads_l = torch.autograd.grad(out_layer.square().sum(), list(net.banks.parameters()))
    torch.testing.assert_close(out_batched, out_layer)
    for a, b in zip(grads_b, grads_l, strict=True):
        torch.testing.assert_close(a, b)
    assert all(m._generated is None for m in net.modules() if isinstance(m, RPGConv2d))


def test_gather_plan_cache_follows_state_dict_loads():
    torch.manual_seed(0)
    a = rpg(resnet((4, 8), (1, 1)), 40, seed=0).eval()
    b = rpg(resnet((4, 8), (1, 1)), 40, seed=9).eval()
    x = torch.randn(2, 1, 8, 8)
    b(x)  # builds b's cached plan from its own indices
    b.load_state_dict(a.state_dict())  # in-place buffer copies must invalidate it
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
