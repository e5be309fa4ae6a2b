"""NUTS, jittered HMC and window adaptation: known moments, exact gradient counts, errors."""

import math

import pytest
import torch

from reprlab.mcmc.targets import neal_funnel
from reprlab.samplers import (
    hmc,
    nuts,
    sample_chain,
    window_adaptation,
)
from reprlab.samplers.adaptation import build_schedule

STD = torch.tensor([0.1, 1.0, 5.0], dtype=torch.float64)
ROT = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3),
                                  dtype=torch.float64))[0]
COV = ROT @ torch.diag(STD**2) @ ROT.T
PREC = torch.linalg.inv(COV)


def diag_logp(x):
    return -0.5 * ((x / STD) ** 2).sum(1)


def rot_logp(x):
    return -0.5 * torch.einsum("bi,ij,bj->b", x, PREC, x)


def exact(n, seed, cov):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T


def moment_error(x, cov):
    """Max |error| of the mean and covariance in units of their i.i.d. standard error."""
    n = x.shape[0]
    mean_z = (x.mean(0).abs() / (cov.diagonal().sqrt() / math.sqrt(n))).max()
    se = torch.sqrt((cov**2 + torch.outer(cov.diagonal(), cov.diagonal())) / n)
    return float(max(mean_z, ((torch.cov(x.T) - cov).abs() / se).max()))


@pytest.mark.parametrize("case", ["diag", "dense"])
def test_nuts_leaves_gaussians_invariant(case):
    """From exact draws, NUTS steps keep mean and covariance (diagonal and rotated targets)."""
    logp, cov = (diag_logp, torch.diag(STD**2)) if case == "diag" else (rot_logp, COV)
    imm = STD**2 if case == "diag" else COV
    # step sizes away from the leapfrog resonance ε = 1 of a unit Gaussian (period 6), where
    # trajectories do not U-turn and run to max_tree_depth
    algo = nuts(logp, step_size=0.6, inverse_mass_matrix=imm, step_size_jitter=0.2,
                max_tree_depth=8)
    state = algo.init(exact(3000, 0, cov))
    state, _, infos = sample_chain(algo, state, 6, generator=torch.Generator().manual_seed(1))
    assert 0.4 < float(torch.stack([i.acceptance_rate for i in infos]).mean()) < 0.99
    assert moment_error(state.position, cov) < 4.5
    # and with a wrong (identity) metric, invariance still holds, only efficiency suffers
    algo = nuts(logp, step_size=0.08, inverse_mass_matrix=1.0, max_tree_depth=5)
    state = algo.init(exact(2000, 2, cov))
    state, _, _ = sample_chain(algo, state, 2, generator=torch.Generator().manual_seed(2))
    assert moment_error(state.position, cov) < 4.5


def test_nuts_detailed_balance_on_double_well():
    """From π, one NUTS step: the joint law of (x, x') is symmetric (binned counts)."""

    def logp(x):
        return -(x[:, 0] ** 4) / 4 + x[:, 0] ** 2 / 2

    g = torch.Generator().manual_seed(0)
    prop = torch.randn(120_000, 1, generator=g, dtype=torch.float64) * 1.8
    logr = logp(prop) + prop[:, 0] ** 2 / (2 * 1.8**2)
    u = torch.rand(prop.shape[0], generator=g, dtype=torch.float64).log()
    x0 = prop[u < logr - logr.max()][:20_000]
    algo = nuts(logp, step_size=0.7, max_tree_depth=5)
    s1, _ = algo.step(g, algo.init(x0))
    bins = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    a, b = torch.bucketize(x0[:, 0], bins), torch.bucketize(s1.position[:, 0], bins)
    counts = torch.zeros(4, 4, dtype=torch.float64)
    counts.index_put_((a, b), torch.ones_like(a, dtype=torch.float64), accumulate=True)
    assert float(counts.diagonal().sum() / counts.sum()) < 0.8  # it does move between bins
    iu = torch.triu_indices(4, 4, 1)
    up, lo = counts[iu[0], iu[1]], counts.T[iu[0], iu[1]]
    assert float(((up - lo) / (up + lo).clamp(min=1).sqrt()).abs().max()) < 4.0


class RowCounter:
    """Counts the rows (chains) at which the target is evaluated."""

    def __init__(self, fn):
        self.fn, self.rows = fn, 0

    def __call__(self, x):
        self.rows += x.shape[0]
        return self.fn(x)


@pytest.mark.parametrize("make", [
    lambda f: nuts(f, step_size=0.3, inverse_mass_matrix=STD**2, max_tree_depth=6),
    lambda f: hmc(f, step_size=0.2, num_integration_steps=5, trajectory_jitter=True,
                  step_size_jitter=0.3),
], ids=["nuts", "hmc-jitter"])
def test_gradient_counts_are_exact_per_chain(make):
    f = RowCounter(diag_logp)
    algo = make(f)
    state = algo.init(exact(7, 0, torch.diag(STD**2)))
    state, _, infos = sample_chain(algo, state, 8, generator=torch.Generator().manual_seed(0))
    per_chain = state.n_grad_evals
    assert per_chain.shape == (7,) and f.rows == int(per_chain.sum())
    assert bool((per_chain == 1 + sum(i.n_grad_evals for i in infos)).all())
    assert len(set(per_chain.tolist())) > 1  # chains really spend different amounts


def test_nuts_is_deterministic_given_the_generator_and_runs_without_graphs():
    algo = nuts(rot_logp, step_size=0.5, inverse_mass_matrix=COV)
    x0 = exact(5, 1, COV)
    runs = [sample_chain(algo, algo.init(x0), 5, generator=torch.Generator().manual_seed(9))
            for _ in range(2)]
    torch.testing.assert_close(runs[0][1], runs[1][1])
    assert not runs[0][1].requires_grad and not runs[0][0].logdensity_grad.requires_grad


def test_window_adaptation_schedule_is_stans():
    s = build_schedule(1000)
    assert len(s) == 1000 and s[:75] == [(0, False)] * 75 and s[-50:] == [(0, False)] * 50
    ends = [i for i, (_, end) in enumerate(s) if end]
    assert ends == [99, 149, 249, 449, 949]  # windows of 25, 50, 100, 200, 500
    assert build_schedule(10) == [(0, False)] * 10
    small = build_schedule(100)  # 15 % / 75 % / 10 %
    assert small[:15] == [(0, False)] * 15 and small[-10:] == [(0, False)] * 10
    with pytest.raises(ValueError, match="num_steps"):
        build_schedule(-1)


def test_window_adaptation_dense_learns_the_covariance_and_nuts_gets_the_moments():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(32, 3, generator=g, dtype=torch.float64)
    warm = window_adaptation(nuts, rot_logp, is_mass_matrix_diagonal=False, max_tree_depth=4)
    (state, params), info = warm.run(x0, 150, generator=g)
    imm = params["inverse_mass_matrix"]
    assert imm.shape == (3, 3)
    # the metric whitens the target: M⁻¹·Σ⁻¹ ≈ I
    eig = torch.linalg.eigvals(imm @ PREC).real
    assert float(eig.min()) > 0.5 and float(eig.max()) < 2.0
    assert info.step_size.shape == (150,) and info.n_grad_evals.shape == (32,)
    algo = nuts(rot_logp, **params)
    state, draws, infos = sample_chain(algo, state, 100, generator=g)
    acc = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    assert 0.65 < acc < 0.95
    flat = draws.reshape(-1, 3)
    torch.testing.assert_close(torch.cov(flat.T), COV, rtol=0.2, atol=0.05 * 25)
    assert float(flat.mean(0).abs().max()) < 0.5


def test_window_adaptation_diag_on_hmc_with_jitter():
    g = torch.Generator().manual_seed(1)
    warm = window_adaptation(hmc, diag_logp, num_integration_steps=4, trajectory_jitter=True)
    (state, params), _ = warm.run(exact(128, 4, torch.diag(STD**2)), 150, generator=g)
    assert params["num_integration_steps"] == 4 and params["trajectory_jitter"] is True
    ratio = params["inverse_mass_matrix"] / STD**2
    assert float(ratio.min()) > 0.6 and float(ratio.max()) < 1.6
    state, draws, _ = sample_chain(hmc(diag_logp, **params), state, 100, generator=g)
    var = draws.reshape(-1, 3).var(0) / STD**2
    assert float((var - 1).abs().max()) < 0.2


def test_funnel_marginal_of_v():
    """Neal's funnel: v ~ N(0, 3²) whatever the other coordinates; NUTS after adaptation."""
    target = neal_funnel(dim=3)
    g = torch.Generator().manual_seed(0)
    x0 = target.sample(64, g).double()
    # a depth cap keeps the lockstep cost down; NUTS stays an exact kernel with it
    warm = window_adaptation(nuts, target.logdensity_fn, max_tree_depth=4)
    (state, params), _ = warm.run(x0, 100, generator=g)
    state, draws, _ = sample_chain(nuts(target.logdensity_fn, **params), state, 100,
                                   generator=g)
    v = draws[..., 0].reshape(-1)
    assert abs(float(v.mean())) < 0.4
    assert 2.6 < float(v.std()) < 3.3


def test_bad_inputs_fail_at_init_or_first_step():
    algo = nuts(diag_logp, step_size=0.5)
    bad = torch.zeros(3, 3, dtype=torch.float64)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="chain 1"):
        algo.init(bad)
    with pytest.raises(ValueError, match="log density is finite"):
        nuts(lambda x: torch.full(x.shape[:1], float("nan"), dtype=x.dtype),
             step_size=0.5).init(torch.zeros(2, 3))
    for eps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="step_size"):
            nuts(diag_logp, step_size=eps)
        with pytest.raises(ValueError, match="step_size"):
            hmc(diag_logp, step_size=eps, num_integration_steps=3)
    g = torch.Generator().manual_seed(0)
    state = algo.init(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive definite"):
        nuts(diag_logp, step_size=0.5, inverse_mass_matrix=-torch.eye(3)).step(g, state)
    with pytest.raises(ValueError, match="shape"):
        nuts(diag_logp, step_size=0.5, inverse_mass_matrix=torch.ones(4)).step(g, state)
    with pytest.raises(ValueError, match="per"):
        nuts(diag_logp, step_size=torch.ones(5)).step(g, state)
    with pytest.raises(ValueError, match="max_tree_depth"):
        nuts(diag_logp, step_size=0.5, max_tree_depth=0)
    with pytest.raises(ValueError, match="target_acceptance_rate"):
        window_adaptation(nuts, diag_logp, target_acceptance_rate=float("nan"))
    with pytest.raises(ValueError, match="num_integration_steps"):
        hmc(diag_logp, step_size=0.1, num_integration_steps=0)
