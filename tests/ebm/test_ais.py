"""AIS of log Z against closed forms, bits/dim, and the Gaussian baseline density."""

import math

import pytest
import torch

from reprlab.ebm import GaussianDensity, ais_betas, ais_log_partition, bits_per_dim


def _quadratic(dim=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    lam = torch.logspace(-0.5, 0.5, dim, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64, generator=g))
    a = q @ torch.diag(lam) @ q.T
    mu = torch.linspace(-1, 1, dim, dtype=torch.float64)

    def energy(x):
        d = x - mu
        return 0.5 * ((d @ a) * d).sum(1) + 3.0

    log_z = 0.5 * dim * math.log(2 * math.pi) - 0.5 * float(torch.logdet(a)) - 3.0
    return energy, log_z


def test_ais_quadratic_10d_within_one_percent():
    energy, log_z = _quadratic()
    r = ais_log_partition(energy, (256, 10), n_steps=300, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    assert abs(r.log_z - log_z) < 0.01 * abs(log_z)
    assert r.log_weights.shape == (256,) and r.samples.shape == (256, 10)
    assert 0.3 < r.acceptance <= 1 and r.ess > 50 and r.n_grad_evals == 1 + 300 * 5


def test_ais_temperature_and_images_shape():
    """exp(−E/T) of a standard Gaussian energy has log Z = D/2·log(2πT); points may be images."""
    def energy(x):
        return 0.5 * x.pow(2).flatten(1).sum(1)

    r = ais_log_partition(energy, (128, 1, 2, 3), n_steps=100, temperature=2.0,
                          ref_std=0.5, generator=torch.Generator().manual_seed(1),
                          dtype=torch.float64)
    assert abs(r.log_z - 3 * math.log(4 * math.pi)) < 0.05


def test_ais_is_deterministic_and_follows_dtype():
    energy, _ = _quadratic(3)
    a = ais_log_partition(energy, (8, 3), n_steps=10, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    b = ais_log_partition(energy, (8, 3), n_steps=10, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    assert a.log_z == b.log_z and a.samples.dtype == torch.float64


def test_ais_model_dtype():
    net = torch.nn.Linear(4, 1).double()

    def energy(x):
        return 0.5 * x.pow(2).sum(1) + 0.1 * net(x).squeeze(-1)

    r = ais_log_partition(energy, (4, 4), n_steps=5, generator=torch.Generator().manual_seed(0),
                          dtype=torch.float64)
    assert r.samples.dtype == torch.float64


@pytest.mark.parametrize("kind", ["sigmoid", "linear", "geometric"])
def test_betas(kind):
    b = ais_betas(50, kind=kind)
    assert b[0] == 0 and b[-1] == 1 and bool((b[1:] > b[:-1]).all()) and b.numel() == 51


@pytest.mark.parametrize("kw, match", [
    ({"step_size": 0.0}, "step_size"), ({"step_size": math.nan}, "step_size"),
    ({"temperature": -1.0}, "temperature"), ({"temperature": math.nan}, "temperature"),
    ({"ref_std": 0.0}, "ref_std"), ({"n_leapfrog": 0}, "n_leapfrog"),
    ({"betas": torch.tensor([0.0, 0.7, 0.5, 1.0])}, "increase"),
    ({"betas": torch.tensor([0.1, 1.0])}, "start at 0"),
    ({"ref_mean": torch.full((3,), math.nan)}, "NaN"),
])
def test_ais_bad_input(kw, match):
    energy, _ = _quadratic(3)
    with pytest.raises(ValueError, match=match):
        ais_log_partition(energy, (4, 3), n_steps=5, **kw)


def test_ais_nan_energy_fails_before_annealing():
    with pytest.raises(ValueError, match="NaN"):
        ais_log_partition(lambda x: x.sum(1) * math.nan, (4, 3), n_steps=5)


def test_bits_per_dim_formula():
    e = torch.tensor([10.0, 20.0])
    out = bits_per_dim(e, 5.0, 4)
    assert torch.allclose(out, (e.double() + 5.0) / (4 * math.log(2)) + 8)
    assert torch.allclose(bits_per_dim(e, 5.0, 4, n_levels=None), out - 8)
    with pytest.raises(ValueError, match="log_z"):
        bits_per_dim(e, math.nan, 4)
    with pytest.raises(ValueError, match="NaN"):
        bits_per_dim(torch.tensor([math.nan]), 1.0, 4)


def test_gaussian_density_matches_torch_and_ais():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 1, 2, 2, generator=g) * torch.tensor([1.0, 0.5, 2.0, 1.0]).view(1, 1, 2, 2)
    dens = GaussianDensity(noise_std=0.1).fit(x)
    mvn = torch.distributions.MultivariateNormal(dens.mean_, dens.cov_ + 0.01 * torch.eye(4,
                                                 dtype=torch.float64))
    q = torch.randn(7, 1, 2, 2, generator=g)
    assert torch.allclose(dens.log_prob(q), mvn.log_prob(q.flatten(1).double()), atol=1e-8)
    # AIS on the Gaussian's own energy recovers its normalizer: same bits/dim
    prec = torch.linalg.inv(mvn.covariance_matrix)

    def energy(z):
        d = z.flatten(1) - dens.mean_
        return 0.5 * ((d @ prec) * d).sum(1)

    r = ais_log_partition(energy, (256, 1, 2, 2), n_steps=200, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(2))
    bpd = bits_per_dim(energy(q.double()), r.log_z, 4)
    assert torch.allclose(bpd, dens.bits_per_dim(q), atol=0.02)
