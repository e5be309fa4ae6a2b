"""Sampling and inpainting: known answers on Gaussians, and a 2-D toy trained end to end."""

import pytest
import torch

from reprlab.ebm import MLPEnergy, annealing_schedule, dsm_loss, noise_levels
from reprlab.ebm.evaluation import half_mask
from reprlab.ebm.sampling import inpaint, sample

MU = torch.tensor([1.0, -1.0])
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
PREC = torch.linalg.inv(COV)


def gauss_energy(x):
    d = x - MU
    return 0.5 * (d @ PREC * d).sum(-1)


def flat_schedule(k=400, eps=0.02):
    return torch.full((k,), eps), torch.ones(k)


def test_sample_gaussian_moments():
    g = torch.Generator().manual_seed(0)
    out = sample(gauss_energy, (4000, 2), schedule=flat_schedule(), sigma0=0.0 + 1e-8,
                 generator=g)
    assert out.n_grad_evals == 401
    x = out.samples
    assert torch.allclose(x.mean(0), MU, atol=0.08)
    # ULA at ε = 0.02 inflates the covariance by O(ε): a loose tolerance
    assert torch.allclose(torch.cov(x.T), COV, atol=0.12)


def test_denoising_jump_is_applied():
    g = torch.Generator().manual_seed(0)
    out = sample(gauss_energy, (16, 2), schedule=flat_schedule(5), sigma0=0.1, generator=g)
    want = out.langevin - 0.01 * (out.langevin - MU) @ PREC
    assert torch.allclose(out.samples, want, atol=1e-5)


def test_inpaint_conditional_gaussian():
    """x₁ observed, x₂ free: Langevin on x₂ alone samples
    p(x₂ | x₁) = N(μ₂ + ρ(x₁ − μ₁), 1 − ρ²)."""
    n = 4000
    x = torch.zeros(n, 2)
    x[:, 0] = 2.0
    mask = torch.tensor([[0.0, 1.0]])
    g = torch.Generator().manual_seed(1)
    out = inpaint(gauss_energy, x, mask, schedule=flat_schedule(), sigma0=1e-8,
                  observed_noise=0.0, generator=g)
    assert torch.equal(out.samples[:, 0], x[:, 0])  # observed pixels never move
    x2 = out.samples[:, 1]
    assert abs(float(x2.mean()) - (-1.0 + 0.8 * 1.0)) < 0.05
    assert abs(float(x2.var()) - 0.36) < 0.06


def test_inpaint_images_keep_observed_pixels():
    def energy(z):
        return 0.5 * (z - 0.5).pow(2).flatten(1).sum(1)

    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = half_mask(tuple(x.shape))
    sch = annealing_schedule(n_warm=5, n_anneal=10, n_cool=3)
    out = inpaint(energy, x, mask, schedule=sch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.samples[..., :4, :], x[..., :4, :])
    assert not torch.equal(out.samples[..., 4:, :], x[..., 4:, :])
    assert out.n_grad_evals == 19
    with pytest.raises(ValueError, match="broadcast"):
        inpaint(energy, x, torch.ones(2, 1, 8, 8), schedule=sch)


def test_mdsm_on_two_gaussians_toy():
    """Train an MLP energy by MDSM on a 2-mode mixture, sample by annealed Langevin with the
    official schedule shape: both modes are found and the samples sit on them."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    data = centers[torch.randint(0, 2, (4000,), generator=g)] + 0.2 * torch.randn(4000, 2,
                                                                               generator=g)
    net = MLPEnergy(2, 64, 2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, betas=(0.9, 0.95))
    sig = noise_levels(256, sigma_min=0.1, sigma_max=3.0, spacing="exp")
    for _ in range(400):
        idx = torch.randint(0, 4000, (256,), generator=g)
        loss = dsm_loss(net, data[idx], sigmas=sig, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in net.parameters():
        p.requires_grad_(False)
    sch = annealing_schedule(n_warm=50, n_anneal=200, n_cool=20, step_size=0.02 * 10**0.5)
    out = sample(net, (400, 2), schedule=sch, init_mean=0.0, init_std=3.0, generator=g)
    d = torch.cdist(out.samples, centers).min(1).values
    assert (d < 0.6).float().mean() > 0.85
    frac_right = (out.samples[:, 0] > 0).float().mean()
    assert 0.2 < frac_right < 0.8


# ---- dtype / device / generator / bad input (issue 14, item 5-7)
import math  # noqa: E402

from reprlab.ebm import EnergyNet, ais_log_partition, denoise  # noqa: E402
from reprlab.ebm.sampling import make_generator  # noqa: E402


def _double_net():
    torch.manual_seed(0)
    return EnergyNet(1, 2, image_size=8, extra_blocks=0, dtype=torch.float64).eval() \
        .requires_grad_(False)


def test_float64_energy_samples_inpaints_denoises_in_float64():
    net = _double_net()
    sch = annealing_schedule(n_warm=2, n_anneal=3, n_cool=2)
    g = torch.Generator().manual_seed(0)
    out = sample(net, (3, 1, 8, 8), schedule=sch, generator=g)
    assert out.samples.dtype == torch.float64 and out.langevin.dtype == torch.float64
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    filled = inpaint(net, x, half_mask(tuple(x.shape)), schedule=sch, generator=g)
    assert filled.samples.dtype == torch.float64
    assert denoise(net, x).dtype == torch.float64
    r = ais_log_partition(net, (2, 1, 8, 8), n_steps=3, generator=g)
    assert r.samples.dtype == torch.float64
    with pytest.raises(ValueError, match="dtype"):
        inpaint(net, x.float(), half_mask(tuple(x.shape)), schedule=sch, generator=g)


def test_same_generator_same_samples():
    sch = annealing_schedule(n_warm=2, n_anneal=5, n_cool=2)
    a = sample(gauss_energy, (5, 2), schedule=sch, generator=make_generator("cpu", 3))
    b = sample(gauss_energy, (5, 2), schedule=sch, generator=make_generator("cpu", 3))
    assert torch.equal(a.samples, b.samples)
    x = torch.zeros(5, 2)
    m = torch.tensor([[0.0, 1.0]])
    c = inpaint(gauss_energy, x, m, schedule=sch, generator=make_generator("cpu", 4))
    d = inpaint(gauss_energy, x, m, schedule=sch, generator=make_generator("cpu", 4))
    assert torch.equal(c.samples, d.samples)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_bad_schedules_fail_before_sampling(bad):
    with pytest.raises(ValueError, match="step_size"):
        sample(gauss_energy, (2, 2), schedule=(torch.tensor([0.1, bad]), torch.ones(2)))
    if bad != 0.0:
        with pytest.raises(ValueError, match="temperatures"):
            sample(gauss_energy, (2, 2), schedule=(torch.full((2,), 0.1),
                                                   torch.tensor([1.0, bad])))
        with pytest.raises(ValueError, match="t_min|t_max|step_size"):
            annealing_schedule(t_min=bad)


def test_nan_images_and_bad_arguments():
    x = torch.zeros(2, 2)
    x[0, 1] = math.nan
    m = torch.tensor([[0.0, 1.0]])
    sch = flat_schedule(3)
    with pytest.raises(ValueError, match="NaN"):
        inpaint(gauss_energy, x, m, schedule=sch)
    with pytest.raises(ValueError, match="NaN"):
        denoise(gauss_energy, x)
    with pytest.raises(ValueError, match="observed_noise"):
        inpaint(gauss_energy, torch.zeros(2, 2), m, schedule=sch, observed_noise=math.nan)
    with pytest.raises(ValueError, match="sigma0"):
        sample(gauss_energy, (2, 2), schedule=sch, sigma0=math.nan)
    with pytest.raises(ValueError, match="init_std"):
        sample(gauss_energy, (2, 2), schedule=sch, init_std=0.0)
    with pytest.raises(ValueError, match="NaN/Inf"):  # NaN energy: first step, not a NaN run
        sample(lambda z: z.sum(1) * math.nan, (2, 2), schedule=sch)
    with pytest.raises(ValueError, match="device"):
        sample(gauss_energy, (2, 2), schedule=sch, device="meta",
               generator=torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_energy_samples_on_cuda():
    net = EnergyNet(1, 2, image_size=8, extra_blocks=0, device="cuda").eval() \
        .requires_grad_(False)
    sch = annealing_schedule(n_warm=2, n_anneal=3, n_cool=2)
    g = make_generator("cuda", 0)
    out = sample(net, (3, 1, 8, 8), schedule=sch, generator=g)
    assert out.samples.device.type == "cuda"
    x = torch.rand(3, 1, 8, 8, device="cuda")
    assert inpaint(net, x, half_mask(tuple(x.shape)), schedule=sch,
                   generator=g).samples.device.type == "cuda"
    assert ais_log_partition(net, (2, 1, 8, 8), n_steps=3, generator=g).samples.is_cuda
    with pytest.raises(ValueError, match="device"):
        sample(net, (3, 1, 8, 8), schedule=sch, generator=torch.Generator())


def test_user_module_with_plain_torch_optim_loop():
    """A user-written energy module, trained by dsm_loss in a plain Adam loop, then sampled,
    inpainted and normalized by AIS through the public API."""
    class UserEnergy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Softplus(),
                                            torch.nn.Linear(32, 1))

        def forward(self, x):
            return self.body(x).squeeze(-1) + 0.05 * x.pow(2).sum(1)

    g = torch.Generator().manual_seed(0)
    data = MU + torch.randn(2000, 2, generator=g) @ torch.linalg.cholesky(COV).T
    torch.manual_seed(0)
    net = UserEnergy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sig = noise_levels(256, sigma_min=0.1, sigma_max=1.0, spacing="exp")
    for _ in range(150):
        idx = torch.randint(0, 2000, (256,), generator=g)
        loss = dsm_loss(net, data[idx], sigmas=sig, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval().requires_grad_(False)
    out = sample(net, (500, 2), schedule=flat_schedule(200, 0.02), generator=g)
    assert (out.samples.mean(0) - MU).abs().max() < 0.3
    r = ais_log_partition(net, (64, 2), n_steps=100, generator=g)
    assert math.isfinite(r.log_z)
