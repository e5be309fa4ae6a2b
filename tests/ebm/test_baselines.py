"""The baselines: median/Gaussian filters, tuning, nearest-neighbour fill, Wiener denoiser."""

import math

import pytest
import torch

from reprlab.ebm import GaussianDensity
from reprlab.ebm.baselines import (
    mean_fill,
    median_filter,
    nearest_neighbour_fill,
    tune_filter,
)


def test_median_filter_matches_brute_force():
    x = torch.rand(2, 1, 6, 5, generator=torch.Generator().manual_seed(0))
    out = median_filter(x, 3)
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    i, j = 2, 3
    want = pad[0, 0, i:i + 3, j:j + 3].flatten().median()
    assert torch.isclose(out[0, 0, i, j], want)
    assert torch.equal(median_filter(x, 1), x)
    with pytest.raises(ValueError, match="odd"):
        median_filter(x, 2)


def test_tune_filter_prefers_smoothing_for_smooth_images():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(3 * xx + 2 * yy)).expand(8, 1, 16, 16).clone()
    noisy = clean + 0.3 * torch.randn(clean.shape, generator=g)
    sigma, score = tune_filter("gaussian", noisy, clean)
    assert sigma >= 1.0 and math.isfinite(score)
    size, _ = tune_filter("median", noisy, clean)
    assert size >= 3


def test_nearest_neighbour_fill_recovers_a_bank_image():
    bank = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, :] = 1
    x = bank[[3, 7]].clone()
    x[..., 2:, :] = 0.0
    out = nearest_neighbour_fill(x, mask, bank)
    assert torch.equal(out, bank[[3, 7]])
    assert torch.allclose(mean_fill(x, mask, bank.mean(0))[..., 2:, :],
                          bank.mean(0)[..., 2:, :].expand(2, 1, 2, 4))


def test_wiener_is_the_gaussian_posterior_mean():
    """For Gaussian data the Wiener estimate is E[x | x + s ε]: it beats identity and shrinkage."""
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 0.2, 0.5, 2.0])
    x = torch.randn(4000, 4, generator=g) * scale
    dens = GaussianDensity().fit(x.view(-1, 1, 2, 2))
    noisy = x + 0.5 * torch.randn(x.shape, generator=g)
    est = dens.denoise(noisy.view(-1, 1, 2, 2), 0.5).view(-1, 4)
    want = noisy * scale**2 / (scale**2 + 0.25)
    assert torch.allclose(est, want, atol=0.05)


def test_conditional_mean_and_samples():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5000, 1, generator=g)
    x = torch.cat([z, 0.8 * z + 0.6 * torch.randn(5000, 1, generator=g)], 1).view(-1, 1, 1, 2)
    dens = GaussianDensity().fit(x)
    mask = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    q = torch.tensor([[1.0, 0.0]]).view(1, 1, 1, 2)
    assert abs(float(dens.conditional_mean(q, mask)[0, 0, 0, 1]) - 0.8) < 0.05
    s = dens.sample(3000, generator=g)
    assert s.shape == (3000, 1, 1, 2) and abs(float(s[..., 0].std()) - 1) < 0.05
    with pytest.raises(ValueError, match="NaN"):
        dens.log_prob(torch.full((1, 1, 1, 2), math.nan))
    with pytest.raises(ValueError, match="shape"):
        dens.log_prob(torch.zeros(1, 1, 2, 2))
