"""Tests of the MDSM math: the Gaussian sign test, loss bookkeeping, schedule, denoiser."""

import math

import pytest
import torch
from torch import nn

from reprlab.ebm import (
    annealing_schedule,
    denoise,
    dsm_loss,
    energy_and_grad,
    gaussian_blur,
    noise_levels,
)


class QuadraticEnergy(nn.Module):
    """E(x) = ½ (x − m)ᵀ L Lᵀ (x − m): a Gaussian model with free mean and precision."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(dim))
        self.L = nn.Parameter(torch.eye(dim))

    def precision(self) -> torch.Tensor:
        return self.L @ self.L.T

    def forward(self, x):
        d = (x - self.m) @ self.L
        return 0.5 * d.pow(2).sum(-1)


MU = torch.tensor([1.0, -2.0])
COV = torch.tensor([[0.5, 0.3], [0.3, 0.4]])


def _gaussian_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return MU + torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(COV).T


def _fit(energy, x, sigmas, steps=600, lr=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(energy.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (1024,), generator=g)
        loss = dsm_loss(energy, x[idx], sigmas=sigmas, sigma0=0.1, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return energy


def test_gaussian_sign_and_value():
    """Single scale σ = σ₀: the optimum is the score of the σ₀-smoothed data,
    ∇E(x) = (Σ + σ₀² I)⁻¹ (x − μ); a sign slip would give −that (or diverge)."""
    x = _gaussian_data(20000, 0)
    energy = _fit(QuadraticEnergy(2), x, sigmas=0.1)
    target_prec = torch.linalg.inv(COV + 0.01 * torch.eye(2))
    pts = torch.randn(64, 2, generator=torch.Generator().manual_seed(1)) + MU
    _, grad = energy_and_grad(energy, pts)
    want = (pts - MU) @ target_prec.T
    rel = (grad - want).norm() / want.norm()
    assert rel < 0.1, rel
    # the learned gradient points away from the data mean: −∇E is the score
    assert ((grad * (pts - MU)).sum(-1) > 0).float().mean() > 0.95


def test_analytic_energy_beats_flipped_sign():
    x = _gaussian_data(20000, 2)
    prec = torch.linalg.inv(COV + 0.01 * torch.eye(2))

    def good(z):
        return 0.5 * ((z - MU) @ prec * (z - MU)).sum(-1)

    def flipped(z):
        return -good(z)

    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    l_good = dsm_loss(good, x, sigmas=0.1, noise=noise)
    l_bad = dsm_loss(flipped, x, sigmas=0.1, noise=noise)
    l_flat = dsm_loss(lambda z: 0.0 * z.sum(-1), x, sigmas=0.1, noise=noise)
    # the loss is dominated by the irreducible ‖ε‖²/σ₀⁴; the excess over a flat energy
    # is −E‖∇E‖² at the optimum and +3E‖∇E‖² for the flipped sign
    assert l_good < l_flat < l_bad
    ratio = (l_bad - l_flat) / (l_flat - l_good)
    assert 2.0 < ratio < 4.5, ratio


def test_multiscale_gaussian_closed_form():
    """Multi-scale (official linear σ spread in [0.05, 1.2]) with a quadratic energy: least
    squares gives m = μ and A = σ₀⁻² (h Σ + I)⁻¹ with h = mean(σ⁻²) (the 1/σ² weighting makes
    every scale's cross term equal); this reduces to (Σ + σ₀² I)⁻¹ when all σ = σ₀."""
    x = _gaussian_data(20000, 3)
    sig = noise_levels(1024, sigma_min=0.05, sigma_max=1.2)
    energy = _fit(QuadraticEnergy(2), x, sigmas=sig, steps=600)
    h = sig.pow(-2).mean()
    want = torch.linalg.inv(h * COV + torch.eye(2)) / 0.01
    got = energy.precision().detach()
    assert torch.allclose(energy.m.detach(), MU, atol=0.05)
    assert (got - want).norm() / want.norm() < 0.15


def test_dsm_loss_matches_formula():
    x = torch.randn(5, 3)
    noise = torch.randn(5, 3)
    sig = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    a = torch.tensor([1.0, 2.0, 3.0])

    def energy(z):
        return 0.5 * (a * z * z).sum(-1)

    xn = x + sig[:, None] * noise
    want = ((x - xn) / 0.01 + a * xn).pow(2).sum(-1) / sig**2
    got = dsm_loss(energy, x, sigmas=sig, sigma0=0.1, noise=noise, reduction="none")
    assert torch.allclose(got, want, rtol=1e-5)
    assert torch.isclose(dsm_loss(energy, x, sigmas=sig, noise=noise), want.mean(), rtol=1e-5)
    assert torch.isclose(dsm_loss(energy, x, sigmas=sig, noise=noise, reduction="sum"),
                         want.sum(), rtol=1e-5)


def test_dsm_loss_gradients_reach_parameters():
    lin = nn.Linear(3, 1)
    loss = dsm_loss(lambda z: lin(z).pow(2).squeeze(-1), torch.randn(4, 3), sigmas=0.3)
    loss.backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()
    assert lin.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [{"sigmas": -1.0}, {"sigmas": torch.ones(3)},
                                 {"sigmas": 0.1, "sigma0": 0.0},
                                 {"sigmas": 0.1, "reduction": "max"}])
def test_dsm_loss_validates(bad):
    with pytest.raises(ValueError):
        dsm_loss(lambda z: z.sum(-1), torch.randn(4, 2), **bad)


def test_noise_levels():
    lin = noise_levels(4, sigma_min=0.1, sigma_max=0.4)
    assert torch.allclose(lin, torch.tensor([0.1, 0.2, 0.3, 0.4]))
    exp = noise_levels(3, sigma_min=0.1, sigma_max=10.0, spacing="exp")
    assert torch.allclose(exp, torch.tensor([0.1, 1.0, 10.0]))
    with pytest.raises(ValueError, match="spacing"):
        noise_levels(3, sigma_min=0.1, sigma_max=1, spacing="cos")
    with pytest.raises(ValueError, match="sigma_min"):
        noise_levels(3, sigma_min=2, sigma_max=1)


def test_annealing_schedule_matches_official():
    steps, temps = annealing_schedule(dtype=torch.float64)
    assert steps.shape == temps.shape == (2700,)
    assert torch.allclose(steps, torch.full((2700,), 0.5 * 0.02**2, dtype=torch.float64))
    assert (temps[:500] == 100).all()
    # geometric decay: T_k = 100 exp(-k ln(100)/2000)
    k = torch.tensor([0, 1000, 1999], dtype=torch.float64)
    assert torch.allclose(temps[500 + k.long()], 100 * torch.exp(-k * math.log(100) / 2000))
    assert temps[2500] == 1.0 and temps[-1] == 0.0
    assert (temps[1:] <= temps[:-1]).all()
    # the generic step sqrt(2 eps T) equals the official noise scale s sqrt(T)
    assert torch.allclose((2 * steps * temps).sqrt(), 0.02 * temps.sqrt())
    _, lin = annealing_schedule(kind="lin", n_warm=0, n_anneal=3, n_cool=0, t_max=3, t_min=1)
    assert torch.allclose(lin, torch.tensor([3.0, 2.0, 1.0]))


def test_denoise_is_tweedie_for_gaussian():
    """For data N(μ, s²) smoothed by σ₀, E = (x−μ)²/(2(s²+σ₀²)) and the jump gives the
    posterior mean E[x | x̃] = μ + s²/(s²+σ₀²)(x̃−μ)."""
    s2, mu = 0.3, 0.5

    def energy(z):
        return ((z - mu) ** 2).sum(-1) / (2 * (s2 + 0.01))

    xt = torch.randn(10, 1)
    got = denoise(energy, xt, sigma0=0.1)
    want = mu + s2 / (s2 + 0.01) * (xt - mu)
    assert torch.allclose(got, want, atol=1e-6)
    mask = torch.zeros(10, 1)
    assert torch.equal(denoise(energy, xt, mask=mask), xt)


def test_energy_and_grad_checks_shape():
    with pytest.raises(ValueError, match="energy_fn must return"):
        energy_and_grad(lambda z: z, torch.randn(3, 2))


def test_gaussian_blur_preserves_mean_and_smooths():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = gaussian_blur(x, sigma=1.5)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(), x.mean(), atol=0.02)
    assert y.var() < 0.5 * x.var()
