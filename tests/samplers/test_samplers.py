"""Kernels leave known targets invariant, HMC is reversible, gradient counts add up."""

import math

import numpy as np
import pytest
import torch

from reprlab.samplers import (
    adapt_step_size,
    annealed_langevin,
    annealed_langevin_algorithm,
    ess,
    from_energy,
    hmc,
    leapfrog,
    logdensity_and_grad,
    mala,
    rhat,
    sample_chain,
    summarize,
    ula,
)

COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
PREC = torch.linalg.inv(COV)


def gauss_logp(x):
    return -0.5 * torch.einsum("bi,ij,bj->b", x, PREC, x)


def exact_draws(n, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return z @ torch.linalg.cholesky(COV).T


def moment_error(x):
    """Max |error| of mean and covariance in units of their Monte-Carlo standard error."""
    n = x.shape[0]
    mean_z = (x.mean(0).abs() / (COV.diagonal().sqrt() / math.sqrt(n))).max()
    emp = torch.cov(x.T)
    se = torch.sqrt((COV**2 + torch.outer(COV.diagonal(), COV.diagonal())) / n)
    cov_z = ((emp - COV).abs() / se).max()
    return float(max(mean_z, cov_z))


@pytest.mark.parametrize(
    "make",
    [
        lambda: mala(gauss_logp, step_size=0.6),
        lambda: hmc(gauss_logp, step_size=0.45, num_integration_steps=4),
    ],
    ids=["mala", "hmc"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_kernels_leave_correlated_gaussian_invariant(make, seed):
    algo = make()
    state = algo.init(exact_draws(4000, seed))
    g = torch.Generator().manual_seed(100 + seed)
    state, _, infos = sample_chain(algo, state, 15, generator=g)
    acc = torch.stack([i.acceptance_rate for i in infos]).mean()
    assert 0.2 < acc < 0.999  # the MH correction is actually exercised
    assert moment_error(state.position) < 4.5


def test_ula_is_biased_at_same_step_so_the_invariance_test_has_power():
    algo = ula(gauss_logp, step_size=0.6)
    state = algo.init(exact_draws(4000, 0))
    state, _, _ = sample_chain(algo, state, 15, generator=torch.Generator().manual_seed(3))
    assert moment_error(state.position) > 8


def test_hmc_detailed_balance_on_tiny_target():
    """From π, one HMC step: the joint law of (x, x') is symmetric (binned counts)."""

    def logp(x):  # 1-D double well, non-Gaussian so leapfrog errors matter
        return -(x[:, 0] ** 4) / 4 + x[:, 0] ** 2 / 2

    # exact draws from π by rejection from a wide Gaussian
    g = torch.Generator().manual_seed(0)
    prop = torch.randn(200_000, 1, generator=g, dtype=torch.float64) * 1.8
    logr = logp(prop) + prop[:, 0] ** 2 / (2 * 1.8**2)
    u = torch.rand(prop.shape[0], generator=g, dtype=torch.float64).log()
    x0 = prop[u < logr - logr.max()][:30_000]
    algo = hmc(logp, step_size=0.9, num_integration_steps=3)
    s1, info = algo.step(g, algo.init(x0))
    assert 0.3 < float(info.acceptance_rate.mean()) < 0.95
    bins = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    a, b = torch.bucketize(x0[:, 0], bins), torch.bucketize(s1.position[:, 0], bins)
    counts = torch.zeros(4, 4, dtype=torch.float64)
    counts.index_put_((a, b), torch.ones_like(a, dtype=torch.float64), accumulate=True)
    iu = torch.triu_indices(4, 4, 1)
    up, lo = counts[iu[0], iu[1]], counts.T[iu[0], iu[1]]
    z = (up - lo) / (up + lo).clamp(min=1).sqrt()
    assert float(z.abs().max()) < 4.0
    # and the marginal after one step is still π: compare first-bin mass
    assert abs(float((a == 0).double().mean() - (b == 0).double().mean())) < 0.02


def test_leapfrog_is_reversible_and_nearly_conserves_energy():
    x = exact_draws(8, 5)
    r = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, g0 = logdensity_and_grad(gauss_logp, x)
    x1, r1, lp1, g1 = leapfrog(gauss_logp, x, r, g0, step_size=0.05, num_steps=20)
    x2, r2, _, _ = leapfrog(gauss_logp, x1, -r1, g1, step_size=0.05, num_steps=20)
    torch.testing.assert_close(x2, x)
    torch.testing.assert_close(-r2, r)
    h0 = -gauss_logp(x) + 0.5 * (r**2).sum(1)
    h1 = -lp1 + 0.5 * (r1**2).sum(1)
    assert float((h1 - h0).abs().max()) < 1e-2


class CountingLogp:
    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return gauss_logp(x)


@pytest.mark.parametrize(
    "make, per_step",
    [
        (lambda f: mala(f, step_size=0.3), 1),
        (lambda f: ula(f, step_size=0.3), 1),
        (lambda f: hmc(f, step_size=0.3, num_integration_steps=7), 7),
    ],
    ids=["mala", "ula", "hmc"],
)
def test_gradient_count_bookkeeping(make, per_step):
    f = CountingLogp()
    algo = make(f)
    state = algo.init(exact_draws(5, 0))
    state, _, infos = sample_chain(algo, state, 6, generator=torch.Generator().manual_seed(0))
    assert f.calls == 1 + 6 * per_step
    assert bool(torch.as_tensor(state.n_grad_evals).eq(f.calls).all())
    assert bool(torch.as_tensor(sum(i.n_grad_evals for i in infos)).eq(6 * per_step).all())


def test_annealed_langevin_counts_and_mask_and_seed():
    calls = []

    def energy(x):
        calls.append(1)
        return 0.5 * (x**2).flatten(1).sum(1)

    x0 = torch.full((16, 1, 4, 4), 3.0, dtype=torch.float64)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mask[..., :2] = 1.0
    kw = dict(step_sizes=torch.full((30,), 0.05), temperatures=torch.linspace(2.0, 1.0, 30),
              mask=mask)
    out = annealed_langevin(energy, x0, generator=torch.Generator().manual_seed(0), **kw)
    again = annealed_langevin(energy, x0, generator=torch.Generator().manual_seed(0), **kw)
    assert out.n_grad_evals == 30 and len(calls) == 60
    assert not out.samples.requires_grad
    torch.testing.assert_close(out.samples, again.samples)
    torch.testing.assert_close(out.samples[..., 2:], x0[..., 2:])  # frozen pixels untouched
    assert float((out.samples[..., :2] - 3.0).abs().mean()) > 0.5  # free pixels moved


def test_annealed_langevin_reaches_tempered_gaussian():
    """At fixed (ε, T) small ε, ULA on E = x²/2 samples N(0, T/(1-ε/2)) ≈ N(0, T)."""
    energy = lambda x: 0.5 * (x**2).sum(1)  # noqa: E731
    x0 = torch.zeros(4000, 1, dtype=torch.float64)
    out = annealed_langevin(energy, x0, step_sizes=[0.05] * 200, temperatures=[2.0] * 200,
                            generator=torch.Generator().manual_seed(0))
    var = float(out.samples.var())
    assert abs(var - 2.0 / (1 - 0.025)) < 0.15


def test_annealed_algorithm_matches_convenience_function():
    energy = lambda x: 0.5 * (x**2).sum(1)  # noqa: E731
    x0 = torch.ones(3, 2, dtype=torch.float64)
    sched = dict(step_sizes=[0.1, 0.05, 0.02], temperatures=[1.0, 0.5, 0.1])
    a = annealed_langevin(energy, x0, generator=torch.Generator().manual_seed(4), **sched)
    algo = annealed_langevin_algorithm(from_energy(energy), **sched)
    state, _, _ = sample_chain(algo, algo.init(x0), 3, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(state.position, a.samples)
    assert state.n_grad_evals == a.n_grad_evals == 3


def test_annealed_langevin_errors():
    e = lambda x: (x**2).sum(1)  # noqa: E731
    with pytest.raises(ValueError, match="equal length"):
        annealed_langevin(e, torch.zeros(2, 2), step_sizes=[0.1, 0.1], temperatures=[1.0])
    with pytest.raises(ValueError, match="mask"):
        annealed_langevin(e, torch.zeros(2, 2), step_sizes=[0.1], temperatures=[1.0],
                          mask=torch.ones(3))
    with pytest.raises(ValueError, match="shape"):
        logdensity_and_grad(lambda x: x.sum(), torch.zeros(2, 2))


def test_dual_averaging_hits_target_acceptance():
    g = torch.Generator().manual_seed(0)
    logp = lambda x: -0.5 * (x**2 / torch.linspace(0.1, 3, 10) ** 2).sum(1)  # noqa: E731
    x = torch.randn(64, 10, generator=g)
    algo0 = mala(logp, step_size=1e-3)
    state, eps, n = adapt_step_size(lambda s: mala(logp, step_size=s), algo0.init(x), 300,
                                    generator=g, initial_step_size=1e-3, target=0.6)
    assert n == 300
    _, _, infos = sample_chain(mala(logp, step_size=eps), state, 100, generator=g)
    acc = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    assert abs(acc - 0.6) < 0.1


def test_diagnostics_on_iid_and_ar1_draws():
    rng = np.random.default_rng(0)
    iid = torch.from_numpy(rng.standard_normal((1000, 4, 2)))
    e = ess(iid)
    assert e.shape == (2,) and np.all(np.abs(e / 4000 - 1) < 0.15)
    assert np.all(np.abs(rhat(iid) - 1) < 0.01)
    rho, x = 0.9, np.zeros((4000, 4))
    for t in range(1, 4000):
        x[t] = rho * x[t - 1] + math.sqrt(1 - rho**2) * rng.standard_normal(4)
    theory = 16000 * (1 - rho) / (1 + rho)
    assert abs(ess(torch.from_numpy(x))[0] / theory - 1) < 0.3
    s = summarize(iid, n_grad_evals=1000, seconds=2.0)
    assert abs(s["ess_per_grad"] - s["min_ess_bulk"] / 4000) < 1e-12
    assert s["ess_per_second"] == pytest.approx(s["min_ess_bulk"] / 2.0)
    shifted = iid.clone()
    shifted[:, 0] += 3.0
    assert rhat(shifted).min() > 1.2  # one chain off by 3σ
