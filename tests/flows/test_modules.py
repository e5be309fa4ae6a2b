"""RGFlow / RNVPBlock / zuko baseline: invertibility, exact log-det, locality, identity init."""

import pytest
import torch

from reprlab.flows import functional as RF
from reprlab.flows.baseline import ZukoRealNVP, count_parameters, zuko_realnvp_matching
from reprlab.flows.modules import RGFlow, RNVPBlock


def _perturbed(flow: torch.nn.Module, seed: int, scale: float = 0.3) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def _tiny(size=8, channels=1, prior="laplace", dtype=torch.float64):
    return RGFlow(size, channels, n_layers=1, hidden=8, n_resblocks=1, n_mlp=1, prior=prior,
                  dtype=dtype)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 16)])
def test_exact_invertibility(seed, channels, size):
    flow = _perturbed(_tiny(size, channels, dtype=torch.float32), seed).eval()
    torch.manual_seed(seed)
    y = torch.randn(2, channels, size, size)
    with torch.no_grad():
        z, ld = flow(y)
        yr, ild = flow.inverse(z)
    assert (yr - y).abs().max() < 1e-5
    assert torch.allclose(ld, -ild, atol=1e-4)
    x = torch.rand(2, channels, size, size)
    with torch.no_grad():
        assert (flow.decode(flow.encode(x)) - ((x * 255 + 0.5) / 256)).abs().max() < 1e-5


@pytest.mark.parametrize("channels", [1, 2])
def test_logdet_matches_bruteforce_jacobian(channels):
    flow = _perturbed(_tiny(8, channels), seed=3)
    y = torch.randn(1, channels, 8, 8, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v.view_as(y))[0].flatten(),
                                             y.flatten())
    sign, logabs = torch.linalg.slogdet(jac)
    assert sign != 0
    assert torch.allclose(flow(y)[1][0], logabs, atol=1e-8)


def test_block_with_zero_weights_is_identity():
    block = RNVPBlock(2, 4, n_layers=2, hidden=16, n_resblocks=2, n_mlp=2)
    x = torch.randn(5, 2, 4, 4)
    z, ld = block(x)  # fresh init: zero final scale
    assert torch.equal(z, x) and torch.equal(ld, torch.zeros(5))
    _perturbed(block, 0)
    assert not torch.allclose(block(x)[0], x)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
    z, ld = block(x)
    assert torch.equal(z, x) and torch.equal(ld, torch.zeros(5))
    assert torch.equal(block.inverse(x)[0], x)


def test_level0_receptive_field_confined_to_its_patch():
    size = 16
    flow = _perturbed(_tiny(size), seed=1)
    z = torch.randn(1, size, size, dtype=torch.float64)
    lm = flow.levels
    pos0 = [(0, 5, 6), (0, 1, 1)]
    pos1 = [(0, 2, 4)]
    assert all(lm[i, j] == 0 for _, i, j in pos0) and lm[2, 4] == 1
    cols = RF.jacobian_columns(lambda v: flow.inverse(v)[0], z, pos0 + pos1).abs()[:, 0]
    for k, (_, i, j) in enumerate(pos0):
        seed = torch.zeros(size, size, dtype=torch.bool)
        seed[i, j] = True
        allowed = RF.structural_receptive_field(flow.layout, size, seed)
        assert cols[k][~allowed].max() == 0  # exactly zero outside its level-0 patches
        assert (cols[k][allowed] > 0).float().mean() > 0.9
        assert allowed.sum() == 64
    assert (cols[-1] > 0).sum() > 64  # a level-1 latent sees more


def test_level_read_write_and_sample():
    flow = _tiny(16, 2, dtype=torch.float32)
    z = torch.randn(3, 2, 16, 16)
    for h in range(flow.n_levels):
        v = flow.get_level(z, h)
        assert v.shape == (3, 2, int(flow.level_mask(h).sum()))
        z2 = flow.set_level(z, h, torch.zeros_like(v))
        assert torch.equal(flow.get_level(z2, h), torch.zeros_like(v))
        other = ~flow.level_mask(h)
        assert torch.equal(z2[:, :, other], z[:, :, other])
    with pytest.raises(ValueError, match="level"):
        flow.level_mask(flow.n_levels)
    g = torch.Generator().manual_seed(0)
    s = flow.sample(4, temperature=0.5, generator=g)
    assert s.shape == (4, 2, 16, 16) and torch.isfinite(s).all()
    assert s.min() >= 0 and s.max() <= 1


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="power of two"):
        RGFlow(28, 1)
    with pytest.raises(ValueError, match="smaller"):
        RGFlow(2, 1)
    with pytest.raises(ValueError, match="prior"):
        RGFlow(8, 1, prior="cauchy")
    flow = _tiny(8, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        flow(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="n_layers"):
        RGFlow(16, 1, n_layers=(1, 2))


def test_every_parameter_gets_a_gradient_and_bpd_finite():
    flow = _perturbed(_tiny(8, dtype=torch.float32), 0, scale=0.05)
    x = torch.rand(4, 1, 8, 8)
    bpd = flow.bits_per_dim(x)
    assert bpd.shape == (4,) and torch.isfinite(bpd).all()
    bpd.mean().backward()
    for name, p in flow.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_laplace_and_gaussian_bpd_known_at_identity():
    # a fresh flow is the identity: bpd equals the prior's on the logit-space data
    x = torch.rand(3, 1, 8, 8)
    y, ld = RF.logit_preprocess(x, dequantize=False)
    for prior in ("laplace", "gaussian"):
        flow = _tiny(8, prior=prior, dtype=torch.float32)
        want = RF.bits_per_dim(RF.prior_log_prob(y, prior=prior), ld, num_dims=64)
        assert torch.allclose(flow.bits_per_dim(x, dequantize=False), want, atol=1e-5)


def test_zuko_baseline_matches_parameter_count_and_inverts():
    rg = RGFlow(16, 1, n_layers=(2, 2, 2), hidden=64, n_resblocks=1, n_mlp=1)
    base = zuko_realnvp_matching((1, 16, 16), count_parameters(rg), transforms=4)
    assert isinstance(base, ZukoRealNVP)
    assert abs(count_parameters(base) - count_parameters(rg)) < 0.05 * count_parameters(rg)
    x = torch.rand(3, 1, 16, 16)
    bpd = base.bits_per_dim(x)
    assert bpd.shape == (3,) and torch.isfinite(bpd).all()
    with torch.no_grad():
        assert (base.decode(base.encode(x)) - (x * 255 + 0.5) / 256).abs().max() < 1e-4


def test_grad_checkpoint_gives_same_gradients():
    x = torch.rand(2, 1, 8, 8)
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        flow = RGFlow(8, 1, n_layers=1, hidden=8, n_resblocks=1, n_mlp=1, grad_checkpoint=ckpt)
        _perturbed(flow, 0, scale=0.1)
        flow.bits_per_dim(x, dequantize=False).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in flow.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
