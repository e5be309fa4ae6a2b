import copy
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from reprlab.nets import count_params, resnet
from reprlab.rpg import (
    ParameterBank,
    RPGWeight,
    balanced_indices,
    banks,
    export,
    fan_scale,
    generate_weight,
    generated_layers,
    rpg,
    summary,
)


def _seq() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
                         nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 1), nn.Flatten())


def _small(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return resnet((4, 8), (1, 1))


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


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, float("nan"), "10"])
def test_bad_bank_sizes(bad):
    with pytest.raises(ValueError, match="num_params"):
        rpg(_small(), bad)
    with pytest.raises(ValueError, match="num_params"):
        ParameterBank(bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"share": "everything"}, "share"), ({"mode": "fan"}, "mode"), ({"signs": 1}, "signs"),
    ({"skip_first": None}, "skip_first"), ({"select": 3}, "select"),
    ({"fan_ref": 0}, "fan_ref"), ({"fan_ref": float("nan")}, "fan_ref"),
    ({"seed": 1.5}, "seed"), ({"layer_types": (nn.ReLU,)}, "layer_types"),
    ({"layer_types": ()}, "layer_types"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rpg(_small(), 10, **kwargs)


def test_bad_models():
    with pytest.raises(ValueError, match="smaller than the number of banks"):
        rpg(_small(), 2, share="layer")
    with pytest.raises(ValueError, match="no layer"):
        rpg(nn.Sequential(nn.Linear(3, 3)), 10)
    with pytest.raises(ValueError, match="nn.Module"):
        rpg("resnet", 10)
    with pytest.raises(ValueError, match="share"):
        rpg(_small(), 10, share=lambda name: 3)
    with pytest.raises(ValueError, match="rpg"):
        summary(_small())
    with pytest.raises(ValueError, match="rpg"):
        export(_small())


def test_bank_belongs_to_the_model():
    model = _small()
    before = count_params(model)
    out = rpg(model, 50)
    assert out is model
    gen = generated_layers(model)
    assert len(gen) == 5 and type(model.conv1) is nn.Conv2d  # the stem stays unshared
    generated = sum(layer.weight.numel() for _, layer, _ in gen)
    # the bank (50) is a parameter of the model, counted once; the generated weights are not
    assert count_params(model) == before - generated + 50
    bank = banks(model)["all"]
    assert any(p is bank.weight for p in model.parameters())
    keys = [k for k in model.state_dict() if k.endswith("bank.weight")]
    assert keys == ["layer1.0.conv1.parametrizations.weight.0.bank.weight"]
    assert any(k.endswith(".index") for k in model.state_dict())
    assert any(k.endswith(".sign") for k in model.state_dict())


def test_weight_is_a_real_parametrization():
    model = rpg(_small(), 40)
    conv = model.layer1[0].conv2
    assert parametrize.is_parametrized(conv, "weight")
    assert isinstance(conv.parametrizations.weight[0], RPGWeight)
    with pytest.raises(RuntimeError, match="cannot be assigned"):
        conv.weight = torch.zeros_like(conv.weight)


def test_composes_with_other_parametrizations():
    torch.manual_seed(0)
    model = rpg(nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 3)), 30,
                layer_types=(nn.Linear,), skip_first=False)
    torch.nn.utils.parametrizations.orthogonal(model[0], use_trivialization=False)
    w = model[0].weight
    torch.testing.assert_close(w @ w.T, torch.eye(6), atol=1e-5, rtol=0)
    model(torch.randn(4, 6)).sum().backward()
    assert banks(model)["all"].weight.grad.abs().sum() > 0

    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    conv_net = rpg(_small(), 40)
    conv = conv_net.layer1[0].conv1
    base = conv.weight.detach().clone()
    parametrize.register_parametrization(conv, "weight", Double())
    torch.testing.assert_close(conv.weight, 2 * base)
    # the forward pre-hook's batched gather and the stacked parametrization agree
    x = torch.randn(2, 1, 8, 8)
    conv_net.eval()
    y = conv_net(x)
    feats = conv_net.relu(conv_net.bn1(conv_net.conv1(x)))
    ref = nn.functional.conv2d(feats, 2 * base, None, 1, 1)
    torch.testing.assert_close(conv_net.layer1[0].conv1(feats), ref)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("signs", [True, False])
def test_generated_weights_match_reference_gather(signs):
    net = rpg(_small(), 37, signs=signs, seed=3)
    bank = banks(net)["all"].weight
    for _, layer, p in generated_layers(net):
        ref = bank[p.index]
        if signs:
            ref = ref * p.sign
            assert set(p.sign.unique().tolist()) <= {-1.0, 1.0}
        assert (p.sign is None) == (not signs)
        assert torch.equal(layer.weight, (ref * p.scale).reshape(p.shape))


def test_indices_balanced_across_layers_of_a_bank():
    net = rpg(_small(), 97)
    s = summary(net)
    hist = s.banks["all"]["usage_histogram"]
    total = s.banks["all"]["generated"]
    assert set(hist) <= {total // 97, -(-total // 97)}
    assert s.params_after == count_params(net)
    assert s.params_before == count_params(_small())
    assert "bank all" in str(s)


def test_seed_covers_bank_init_indices_and_signs():
    model = _small(0)
    state = torch.get_rng_state()
    a = rpg(model, 60, seed=4)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is not touched
    b = rpg(_small(1), 60, seed=4)  # other conv init: irrelevant, the bank replaces it
    c = rpg(_small(0), 60, seed=5)
    for key in a.state_dict():
        if "parametrizations" in key:
            assert torch.equal(a.state_dict()[key], b.state_dict()[key]), key
    assert not torch.equal(banks(a)["all"].weight, banks(c)["all"].weight)


def test_state_dict_round_trip_reproduces_outputs():
    torch.manual_seed(0)
    a = rpg(_small(), 40, seed=0)
    with torch.no_grad():
        banks(a)["all"].weight.add_(torch.randn(40))
    b = rpg(_small(7), 40, seed=123)  # different indices, signs and bank
    x = torch.randn(2, 1, 12, 12)
    a.eval(), b.eval()
    assert not torch.allclose(a(x), b(x))
    b(x)  # builds b's cached gather plan from its own indices; the load must invalidate it
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_user_module_and_plain_optim_loop_train_every_parameter():
    class Net(nn.Module):  # a user's own network
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1))
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            h = self.body(torch.relu(self.stem(x)))
            return self.head(h.mean((2, 3)))

    torch.manual_seed(0)
    net = rpg(Net(), 200, seed=1)
    expected = {"stem.weight", "stem.bias", "body.0.bias", "body.1.weight", "body.1.bias",
                "body.3.bias", "head.weight", "head.bias",
                "body.0.parametrizations.weight.0.bank.weight"}
    named = dict(net.named_parameters())
    assert set(named) == expected
    before = {k: v.detach().clone() for k, v in named.items()}
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for k, v in net.named_parameters():
        assert not torch.equal(v, before[k]), f"{k} did not train"
    # the generated weights moved with the bank
    w = net.body[0].weight
    p = net.body[0].parametrizations.weight[0]
    torch.testing.assert_close(w, generate_weight(named["body.0.parametrizations.weight.0."
                                                        "bank.weight"], p.index, p.sign,
                                                  shape=p.shape, scale=p.scale))


@pytest.mark.parametrize("layer,x", [
    (nn.Conv1d(3, 4, 3, padding=1), torch.randn(2, 3, 10)),
    (nn.Conv3d(2, 3, 3, padding=1), torch.randn(2, 2, 5, 5, 5)),
    (nn.ConvTranspose2d(3, 4, 3, stride=2), torch.randn(2, 3, 5, 5)),
    (nn.ConvTranspose1d(3, 2, 4, stride=2, groups=1), torch.randn(2, 3, 6)),
    (nn.Conv2d(4, 8, 3, groups=2), torch.randn(2, 4, 6, 6)),
    (nn.Linear(5, 7), torch.randn(3, 5)),
])
def test_other_layer_types(layer, x):
    torch.manual_seed(0)
    plain_out = layer(x)
    model = rpg(nn.Sequential(layer), 17, skip_first=False, layer_types=type(layer))
    out = model(x)
    assert out.shape == plain_out.shape and torch.isfinite(out).all()
    out.square().sum().backward()
    assert banks(model)["all"].weight.grad.abs().sum() > 0
    plain = export(model)
    torch.testing.assert_close(plain(x), out.detach())


def test_export_gives_a_plain_model_and_leaves_the_original():
    torch.manual_seed(0)
    net = rpg(_small(), 50).eval()
    x = torch.randn(2, 1, 10, 10)
    y = net(x)
    plain = export(net)
    assert not generated_layers(plain) and not plain._forward_pre_hooks
    assert count_params(plain) == count_params(_small())
    assert all(type(m) is nn.Conv2d for m in plain.modules() if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(plain(x), y, rtol=0, atol=0)
    torch.testing.assert_close(net(x), y, rtol=0, atol=0)  # the original still works
    assert count_params(net) < count_params(plain)
    same = export(net, inplace=True)
    assert same is net and not generated_layers(net)
    torch.testing.assert_close(net(x), y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="inplace"):
        export(rpg(_small(), 50), inplace="yes")


def test_bank_gradient_finite_difference():
    torch.manual_seed(0)
    net = rpg(nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Conv2d(3, 2, 3)), 11,
              skip_first=False).double()
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    bank = banks(net)["all"].weight

    def f(b):
        out = x
        for m in net:
            p = _param(m)
            if p is not None:
                w = generate_weight(b, p.index, p.sign, shape=p.shape, scale=p.scale)
                out = m._conv_forward(out, w, m.bias)
            else:
                out = m(out)
        return out.sum()

    assert torch.autograd.gradcheck(f, (bank.detach().clone().requires_grad_(),))
    # and autograd through the parametrization gives the same gradient
    (g_model,) = torch.autograd.grad(net(x).sum(), bank)
    b = bank.detach().clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(f(b), b)
    torch.testing.assert_close(g_model, g_ref)


def _param(m):
    if parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight[0]
    return None


def test_gradients_reach_the_bank_exactly():
    torch.manual_seed(0)
    net = rpg(_small(), 64, seed=1)
    bank = banks(net)["all"].weight
    gen = generated_layers(net)
    (grad,) = torch.autograd.grad(sum(layer.weight.sum() for _, layer, _ in gen), bank)
    expect = torch.zeros_like(bank)
    for _, _, p in gen:
        expect.index_add_(0, p.index, p.sign * p.scale)
    torch.testing.assert_close(grad, expect)


def test_float64_and_deepcopy():
    net = rpg(_small(), 30).double()
    p = net.layer1[0].conv1.parametrizations.weight[0]
    assert p.index.dtype == torch.int64 and p.sign.dtype == torch.float64
    assert banks(net)["all"].weight.dtype == torch.float64
    assert net(torch.zeros(1, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64
    twin = copy.deepcopy(net)
    assert banks(twin)["all"] is not banks(net)["all"]
    assert twin.layer2[0].conv1.parametrizations.weight[0].bank_module is banks(twin)["all"]
    built64 = rpg(_small().double(), 30)
    assert banks(built64)["all"].weight.dtype == torch.float64


def test_bank_larger_than_network():
    model = _small()
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
    net = rpg(_small(), 500, share=share)
    assert len(banks(net)) == n_banks
    assert sum(b.num_params for b in banks(net).values()) == 500
    assert sum(b["layers"] for b in summary(net).banks.values()) == 5
    assert count_params(net) == count_params(_small()) - sum(
        layer.weight.numel() for _, layer, _ in generated_layers(net)) + 500


def test_plain_sequential_and_custom_share():
    net = rpg(_seq(), 25, share=lambda name: "even" if int(name) % 4 == 0 else "odd",
              skip_first=False)
    assert set(banks(net)) == {"even", "odd"}
    assert net(torch.randn(2, 1, 9, 9)).shape == (2, 5 * 4 * 4)


def test_second_call_generates_the_rest_only():
    net = rpg(_small(), 30, select=lambda n, m: n.startswith("layer1"))
    n1 = len(generated_layers(net))
    rpg(net, 40, skip_first=False, select=lambda n, m: n.startswith("layer2"))
    assert len(generated_layers(net)) == n1 + 3 and len(banks(net)) == 2
    assert len(net._forward_pre_hooks) == 1  # one batched-gather hook
    assert torch.isfinite(net(torch.randn(2, 1, 8, 8))).all()


def test_fan_scale_gives_kaiming_std():
    net = rpg(nn.Sequential(nn.Conv2d(64, 128, 3), nn.Conv2d(64, 64, 3)), 100_000,
              skip_first=False)
    w = net[1].weight
    assert abs(float(w.detach().std()) - math.sqrt(2 / (64 * 9))) < 0.05 * math.sqrt(2 / (64 * 9))
    assert fan_scale((64, 64, 3, 3), fan_ref=128 * 9) == pytest.approx(math.sqrt(2))
    fixed = rpg(nn.Sequential(nn.Conv2d(64, 128, 3), nn.Conv2d(64, 64, 3)), 1000,
                skip_first=False, fan_ref=512 * 9)
    assert banks(fixed)["all"].fan_ref == 512 * 9


def test_batched_generation_matches_per_layer_path():
    torch.manual_seed(0)
    net = rpg(_small(), 70, share="stage", seed=2)
    for _, layer, p in generated_layers(net):  # make the unsigned path part of the check too
        if layer.out_channels == 4:
            p.sign = None
    x = torch.randn(3, 1, 10, 10)
    params = [b.weight for b in banks(net).values()]
    out_batched = net(x)  # the pre-hook gathers once per bank
    grads_b = torch.autograd.grad(out_batched.square().sum(), params)
    hook = dict(net._forward_pre_hooks)
    net._forward_pre_hooks.clear()
    out_layer = net(x)  # per-layer path
    net._forward_pre_hooks.update(hook)
    grads_l = torch.autograd.grad(out_layer.square().sum(), params)
    torch.testing.assert_close(out_batched, out_layer)
    for a, b in zip(grads_b, grads_l, strict=True):
        torch.testing.assert_close(a, b)
    assert all(p._stash is None for _, _, p in generated_layers(net))


def test_stash_cleared_after_a_failing_forward():
    net = rpg(_small(), 40)
    with pytest.raises(RuntimeError):
        net(torch.randn(2, 3, 8, 8))  # wrong channel count
    assert all(p._stash is None for _, _, p in generated_layers(net))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda():
    net = rpg(_small(), 50).cuda()
    out = net(torch.randn(2, 1, 8, 8, device="cuda"))
    out.sum().backward()
    assert banks(net)["all"].weight.grad.is_cuda
    cpu = rpg(_small(), 50)
    cpu.load_state_dict({k: v.cpu() for k, v in net.state_dict().items()})
