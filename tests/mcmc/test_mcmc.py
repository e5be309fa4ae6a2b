"""Neural sampler: exact flow inverse/log-det, MALA limit, exact MH invariance, counting."""

import math

import pytest
import torch

from reprlab.data.datasets import DatasetNotFoundError
from reprlab.mcmc import GradientCouplingProposal, neural_mcmc, train_sampler
from reprlab.mcmc import functional as F
from reprlab.mcmc.targets import (
    breast_cancer_logistic,
    get_target,
    load_uci_logistic,
    neal_funnel,
)
from reprlab.samplers import langevin_log_q, logdensity_and_grad, sample_chain


@pytest.fixture(autouse=True)
def _float64():
    """Double precision for tight identities; restored after each test."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
PREC = torch.linalg.inv(COV)


def gauss_logp(x):
    return -0.5 * torch.einsum("bi,ij,bj->b", x, PREC.to(x.dtype), x)


def randomized(prop, seed, scale=0.3):
    """Give the zero-initialised output layers random weights, so the flow is non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in [*prop.net_v.outputs, *prop.net_r.outputs]:
            layer.weight.copy_(scale * torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(scale * torch.randn(layer.bias.shape, generator=g))
    return prop


def make_prop(dim, seed=0, n_blocks=2, step_size=0.5):
    prop = GradientCouplingProposal(dim, n_blocks=n_blocks, hidden=16, step_size=step_size,
                                    generator=torch.Generator().manual_seed(seed),
                                    dtype=torch.float64)
    return randomized(prop, seed + 1)


def test_coupling_half_step_inverts_and_logdet():
    g = torch.Generator().manual_seed(0)
    v, s, q, t, gr = (torch.randn(4, 6, generator=g) for _ in range(5))
    mask = torch.tensor([1.0, 0, 1, 0, 0, 1])
    fwd, ld = F.coupling_half_step(v, s, q, t, gr, mask=mask, step_size=0.3)
    back, ld_b = F.coupling_half_step(fwd, s, q, t, gr, mask=mask, step_size=0.3, reverse=True)
    torch.testing.assert_close(back, v)
    torch.testing.assert_close(ld, -ld_b)
    torch.testing.assert_close(ld, ((1 - mask) * s).sum(1))
    torch.testing.assert_close(fwd * mask, v * mask)


@pytest.mark.parametrize("seed", [0, 1])
def test_flow_inverse_and_logdet_match_autograd_jacobian(seed):
    dim = 5
    prop = make_prop(dim, seed)
    logp = lambda x: -0.5 * (x**2 / torch.arange(1.0, dim + 1)).sum(1)  # noqa: E731
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, dim, generator=g)
    v = torch.randn(1, dim, generator=g)
    z, ld, n = prop.transform(x, v, logp)
    back, ld_r, _ = prop.transform(x, z, logp, reverse=True)
    torch.testing.assert_close(back, v)
    torch.testing.assert_close(ld_r, -ld)
    jac = torch.autograd.functional.jacobian(lambda u: prop.transform(x, u, logp)[0], v)
    torch.testing.assert_close(ld[0], torch.linalg.slogdet(jac.reshape(dim, dim))[1])
    assert n == 2 * prop.n_blocks


def test_untrained_proposal_is_mala_with_step_eps_squared_over_two():
    """Zero output layers: x' = x + εv − ε²/2 ∇U, i.e. MALA with h = ε²/2 (known answer)."""
    dim, eps = 2, 0.7
    prop = GradientCouplingProposal(dim, n_blocks=3, hidden=8, step_size=eps,
                                    generator=torch.Generator().manual_seed(0))
    x = torch.randn(64, dim, generator=torch.Generator().manual_seed(1))
    out = prop.propose(x, gauss_logp, generator=torch.Generator().manual_seed(2))
    h = eps**2 / 2
    lp_x, g_x = logdensity_and_grad(gauss_logp, x)
    lp_p, g_p = logdensity_and_grad(gauss_logp, out.x_prop)
    mala_log_a = (lp_p + langevin_log_q(x, out.x_prop, g_p, step_size=h)
                  - lp_x - langevin_log_q(out.x_prop, x, g_x, step_size=h))
    torch.testing.assert_close(out.log_accept, mala_log_a)
    torch.testing.assert_close(out.entropy, torch.full((64,), F.langevin_proposal_entropy(h, dim)))
    # the move itself has the MALA mean: residual / ε is standard normal
    resid = (out.x_prop - x - h * g_x) / eps
    assert abs(float(resid.mean())) < 0.3 and abs(float(resid.std()) - 1) < 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_neural_kernel_leaves_correlated_gaussian_invariant(seed):
    prop = make_prop(2, seed, step_size=0.8)
    algo = neural_mcmc(gauss_logp, prop)
    g = torch.Generator().manual_seed(10 + seed)
    x0 = torch.randn(3000, 2, generator=g) @ torch.linalg.cholesky(COV).T
    with torch.no_grad():
        state, _, infos = sample_chain(algo, algo.init(x0), 6, generator=g)
    acc = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    assert 0.1 < acc < 0.99
    x = state.position
    n = x.shape[0]
    assert float(x.mean(0).abs().max()) < 4.5 / math.sqrt(n)
    se = torch.sqrt((COV**2 + torch.outer(COV.diagonal(), COV.diagonal())) / n)
    assert float(((torch.cov(x.T) - COV).abs() / se).max()) < 4.5


def test_gradient_counts_include_those_inside_the_network():
    calls = {"grad": 0, "all": 0}

    def logp(x):
        calls["all"] += 1
        calls["grad"] += int(x.requires_grad)
        return gauss_logp(x)

    prop = make_prop(2, 0, n_blocks=3)
    algo = neural_mcmc(logp, prop)
    state = algo.init(torch.zeros(4, 2))
    assert calls == {"grad": 0, "all": 1} and state.n_grad_evals == 0
    with torch.no_grad():
        state, _, infos = sample_chain(algo, state, 5, generator=torch.Generator().manual_seed(0))
    assert calls["grad"] == 5 * 4 * 3  # 2K forward + 2K reverse per step
    assert state.n_grad_evals == 60 and all(i.n_grad_evals == 12 for i in infos)


def test_training_raises_entropy_and_keeps_acceptance():
    target = get_target("icg", dim=6)
    g = torch.Generator().manual_seed(0)
    prop = GradientCouplingProposal(6, hidden=16, step_size=0.05, generator=g)
    hist = train_sampler(prop, target.logdensity_fn, target.initial(32, g), n_iters=80,
                         generator=g, lr=1e-2, beta_rate=1.0)
    assert sum(hist.entropy[-10:]) / 10 > hist.entropy[0] + 3.0
    assert sum(hist.acceptance[-10:]) / 10 > 0.5
    assert hist.n_grad_evals == 80 * 4
    assert all(p.grad is not None for p in prop.parameters())


def test_adapt_beta_and_loss():
    assert F.adapt_beta(1.0, 1.0, target=0.9, rate=0.1) > 1.0
    assert F.adapt_beta(1.0, 0.5, target=0.9, rate=0.1) < 1.0
    assert F.adapt_beta(1e-3, 0.0, beta_min=1e-3) == 1e-3
    loss = F.entropy_loss(torch.tensor([0.5, -1.0]), torch.tensor([2.0, 4.0]), beta=0.5)
    assert float(loss) == pytest.approx(0.5 - 1.5)
    with pytest.raises(ValueError, match="beta"):
        F.entropy_loss(torch.zeros(2), torch.zeros(2), beta=-1)
    with pytest.raises(ValueError, match="dim"):
        GradientCouplingProposal(1)


def test_targets():
    g = torch.Generator().manual_seed(0)
    icg = get_target("icg")
    assert icg.dim == 50 and float(icg.std.max() / icg.std.min()) == pytest.approx(100, rel=1e-4)
    x = icg.sample(5, g)
    ref = torch.distributions.Normal(0, icg.std.double()).log_prob(x).sum(1)
    torch.testing.assert_close(icg.logdensity_fn(x) - ref, (icg.logdensity_fn(x) - ref)[:1]
                               .expand(5))
    scg = get_target("scg")
    xs = scg.sample(20000, g)
    assert float((torch.cov(xs.T.float()) - torch.tensor([[50.05, -49.95], [-49.95, 50.05]]))
                 .abs().max()) < 3.0
    f = neal_funnel(dim=5)
    xf = f.sample(20000, g)
    assert abs(float(xf[:, 0].std()) - 3.0) < 0.1
    _, grad = logdensity_and_grad(f.logdensity_fn, xf[:10])
    assert torch.isfinite(grad).all()
    mog = get_target("mog")
    assert mog.logdensity_fn(mog.sample(10, g)).shape == (10,)
    blr = breast_cancer_logistic()
    assert blr.dim == 31
    lp, gr = logdensity_and_grad(blr.logdensity_fn, torch.zeros(3, 31))
    torch.testing.assert_close(lp, torch.full((3,), 569 * math.log(0.5)), rtol=1e-5, atol=1e-4)


def test_uci_loader(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="heart.dat"):
        load_uci_logistic("heart", tmp_path)
    rows = "\n".join(" ".join(["1"] * 13 + [str(1 + i % 2)]) for i in range(6))
    rows = rows.replace("1 1 1", "2 1 3", 3)
    (tmp_path / "heart.dat").write_text(rows + "\n")
    t = load_uci_logistic("heart", tmp_path)
    assert t.dim == 14 and t.logdensity_fn(torch.zeros(2, 14)).shape == (2,)
    with pytest.raises(ValueError, match="name"):
        load_uci_logistic("iris", tmp_path)


def test_proposal_init_is_deterministic_given_the_generator():
    """Two proposals from equally seeded generators are identical (no global RNG used)."""
    a = GradientCouplingProposal(6, hidden=8, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(123)  # the global RNG must not matter
    b = GradientCouplingProposal(6, hidden=8, generator=torch.Generator().manual_seed(3))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)
    c = GradientCouplingProposal(6, hidden=8, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a.net_v.trunk[0].weight, c.net_v.trunk[0].weight)


def test_sampling_kernel_builds_no_graph_and_rejects_bad_starts():
    logp = lambda x: -0.5 * (x**2).sum(1)  # noqa: E731
    prop = GradientCouplingProposal(4, hidden=8, generator=torch.Generator().manual_seed(0))
    algo = neural_mcmc(logp, prop)
    g = torch.Generator().manual_seed(1)
    state, info = algo.step(g, algo.init(torch.zeros(3, 4)))
    assert not state.position.requires_grad and not state.energy.requires_grad
    assert not info.entropy.requires_grad and all(p.grad is None for p in prop.parameters())
    bad = torch.zeros(3, 4)
    bad[2, 0] = float("nan")
    with pytest.raises(ValueError, match="chain 2"):
        algo.init(bad)
    with pytest.raises(ValueError, match="log density is finite"):
        neural_mcmc(lambda x: x.sum(1) * float("nan"), prop).init(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="step_size"):
        GradientCouplingProposal(4, step_size=float("nan"))
    with pytest.raises(ValueError, match="n_iters"):
        train_sampler(prop, logp, torch.zeros(2, 4), n_iters=0, generator=g)
    with pytest.raises(ValueError, match="lr"):
        train_sampler(prop, logp, torch.zeros(2, 4), n_iters=1, generator=g, lr=float("nan"))


def test_user_module_target_and_plain_optim_training_loop():
    """A user's nn.Module energy as the target; the proposal trained by a plain torch.optim
    loop on its exact log-acceptance and entropy; then NUTS and the neural kernel sample it."""
    from torch import nn

    from reprlab.samplers import nuts, window_adaptation

    class Energy(nn.Module):  # a user's quadratic-plus-quartic energy with parameters
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor([0.5, 1.0, 2.0]))

        def forward(self, x):
            return 0.5 * (x / self.scale).pow(2).sum(1) + 0.05 * x.pow(4).sum(1)

    energy = Energy()
    logp = lambda x: -energy(x)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    prop = GradientCouplingProposal(3, hidden=16, step_size=0.3, generator=g)
    opt = torch.optim.Adam(prop.parameters(), lr=5e-3)
    x = torch.randn(64, 3, generator=g)
    for _ in range(15):
        out = prop.propose(x, logp, generator=g, create_graph=True)
        loss = F.entropy_loss(out.log_accept.clamp(max=0), out.entropy_surrogate, beta=0.01)
        opt.zero_grad()
        loss.backward()
        opt.step()
        x = torch.where((torch.rand(64, 1, generator=g) < out.log_accept.detach().exp()
                         .clamp(max=1)[:, None]), out.x_prop.detach(), x)
    assert all(p.grad is not None for p in prop.parameters() if p.requires_grad)
    assert energy.scale.grad is None or torch.isfinite(energy.scale.grad).all()
    state, draws, infos = sample_chain(neural_mcmc(logp, prop), neural_mcmc(logp, prop).init(x),
                                       20, generator=g)
    assert torch.isfinite(draws).all()
    (st, params), _ = window_adaptation(nuts, logp, max_tree_depth=4).run(x[:8], 40,
                                                                           generator=g)
    st, draws, _ = sample_chain(nuts(logp, **params), st, 10, generator=g)
    assert torch.isfinite(draws).all() and not draws.requires_grad


@pytest.mark.parametrize("name", ["icg", "roticg", "scg", "funnel", "blr"])
def test_closed_form_gradients_equal_autograd(name):
    """The targets' value_and_grad (used by the samplers) is autograd's answer, also where
    the funnel's clamp is active (|y| > 25) and for large logistic margins."""
    from reprlab.mcmc.targets import get_target
    from reprlab.samplers.base import logdensity_and_grad

    target = get_target(name)
    assert hasattr(target.logdensity_fn, "value_and_grad")
    x = torch.randn(7, target.dim, generator=torch.Generator().manual_seed(1)).double()
    if name == "funnel":
        x[0, 0], x[1, 0] = 30.0, -27.0
    if name == "blr":
        x[0] *= 20.0
    fast_logp, fast_grad = logdensity_and_grad(target.logdensity_fn, x)
    xr = x.clone().requires_grad_(True)
    logp = target.logdensity_fn(xr)
    (grad,) = torch.autograd.grad(logp.sum(), xr)
    assert torch.allclose(fast_logp, logp.detach(), rtol=1e-10, atol=1e-10)
    assert torch.allclose(fast_grad, grad, rtol=1e-8, atol=1e-8)
