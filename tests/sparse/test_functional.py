"""Tests of the FISTA / dictionary-learning core: KKT, scikit-learn agreement, recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from reprlab.sparse import functional as F


def _problem(seed: int, dtype: torch.dtype, n: int = 30, d: int = 16, k: int = 32):
    g = torch.Generator().manual_seed(seed)
    phi = F.normalize_atoms(torch.randn(k, d, generator=g, dtype=torch.float64)).to(dtype)
    x = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype)
    return x, phi


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kkt_conditions(seed, positive, dtype):
    x, phi = _problem(seed, dtype)
    lam = 0.3
    a = F.sparse_encode(x, phi, lam=lam, positive=positive, max_iter=20000, tol=1e-10,
                        kkt_tol=1e-9)
    corr = (x - a @ phi) @ phi.T  # Φᵢᵀ(x − Φa)
    tol = 1e-8 if dtype == torch.float64 else 2e-4
    act = a != 0
    assert act.any() and (~act).any()
    # active atoms: correlation equals λ·sign(a)
    assert torch.allclose(corr[act], lam * torch.sign(a[act]), atol=tol)
    if positive:
        assert (a >= 0).all()
        assert corr[~act].max() <= lam + tol
    else:
        assert corr[~act].abs().max() <= lam + tol


@pytest.mark.parametrize("positive", [True, False])
def test_matches_sklearn_lasso(positive):
    from sklearn.linear_model import Lasso

    x, phi = _problem(3, torch.float64, n=12)
    lam = 0.2
    ours = F.sparse_encode(x, phi, lam=lam, positive=positive, max_iter=20000, tol=1e-12,
                           kkt_tol=1e-9)
    d = phi.shape[1]
    # sklearn's Lasso minimises 1/(2d)‖y − Xw‖² + α‖w‖₁, so α = λ/d
    lasso = Lasso(alpha=lam / d, fit_intercept=False, positive=positive, tol=1e-12,
                  max_iter=100000)
    ref = np.stack([lasso.fit(phi.T.numpy(), xi.numpy()).coef_ for xi in x])
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


def test_matches_sklearn_sparse_encode():
    from sklearn.decomposition import sparse_encode

    x, phi = _problem(4, torch.float64, n=10)
    ours = F.sparse_encode(x, phi, lam=0.25, max_iter=20000, tol=1e-12, kkt_tol=1e-9)
    ref = sparse_encode(x.numpy(), phi.numpy(), algorithm="lasso_cd", alpha=0.25,
                        positive=True, max_iter=100000)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


def test_identity_dictionary_is_soft_threshold():
    x = torch.tensor([[2.0, 0.1, -1.0]])
    a = F.sparse_encode(x, torch.eye(3), lam=0.5, tol=0, max_iter=50)
    assert torch.allclose(a, torch.tensor([[1.5, 0.0, 0.0]]))
    a = F.sparse_encode(x, torch.eye(3), lam=0.5, positive=False, tol=0, max_iter=50)
    assert torch.allclose(a, torch.tensor([[1.5, 0.0, -0.5]]))


def test_warm_start_and_chunking_agree():
    x, phi = _problem(5, torch.float64, n=40)
    full = F.sparse_encode(x, phi, lam=0.3, max_iter=5000, tol=1e-12, kkt_tol=1e-9)
    chunked = F.sparse_encode(x, phi, lam=0.3, max_iter=5000, tol=1e-12, chunk_size=7)
    torch.testing.assert_close(full, chunked, atol=1e-8, rtol=0)
    warm, it = F.sparse_encode(x, phi, lam=0.3, max_iter=5000, tol=1e-10, init=full,
                               return_n_iter=True)
    assert it <= 10
    torch.testing.assert_close(warm, full, atol=1e-7, rtol=0)


def test_lipschitz_constant_matches_eigvalsh():
    _, phi = _problem(6, torch.float64, k=50, d=20)
    exact = torch.linalg.eigvalsh(phi @ phi.T).max().item()
    est = F.lipschitz_constant(phi, n_iter=1000, tol=1e-12)
    assert exact <= est <= 1.02 * exact


def test_metrics():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert F.fvu(x, x) == 0.0
    assert F.fvu(x, x.mean(0, keepdim=True).expand_as(x)) == pytest.approx(1.0)
    codes = torch.tensor([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0]])
    assert F.mean_l0(codes) == pytest.approx(1.5)
    assert F.dead_fraction(codes) == pytest.approx(1 / 3)
    torch.testing.assert_close(F.atom_usage(codes), torch.tensor([1.0, 0.5, 0.0],
                                                                 dtype=torch.float64))
    phi = torch.eye(3)[:, :2]
    assert F.objective(torch.zeros(1, 2), phi, torch.zeros(1, 3), lam=1.0) == 0.0


def _planted(seed: int = 0, n: int = 4000, d: int = 30, k: int = 40):
    g = torch.Generator().manual_seed(seed)
    true = F.normalize_atoms(torch.randn(k, d, generator=g))
    idx = torch.argsort(torch.rand(n, k, generator=g), 1)[:, :3]
    codes = torch.zeros(n, k).scatter_(1, idx, torch.rand(n, 3, generator=g) + 0.5)
    return codes @ true, true


def test_recovers_planted_dictionary():
    x, true = _planted()
    state, infos = F.learn_dictionary(x, n_atoms=40, lam=0.05, n_epochs=5, batch_size=256,
                                      lr=0.6, bias_correction=True, max_iter=200,
                                      generator=torch.Generator().manual_seed(1))
    cos = state.dictionary @ true.T
    assert (cos.max(0).values > 0.95).float().mean() >= 0.9
    assert torch.allclose(state.dictionary.norm(dim=1), torch.ones(40), atol=1e-5)
    assert infos[-1].objective < 0.5 * infos[0].objective


def test_recovers_planted_dictionary_official_step():
    """The paper's update (lr 0.005-scale, no bias correction) also recovers it."""
    x, true = _planted(seed=2)
    state, _ = F.learn_dictionary(x, n_atoms=40, lam=0.05, n_epochs=10, batch_size=256,
                                  lr=0.05, max_iter=200,
                                  generator=torch.Generator().manual_seed(1))
    cos = state.dictionary @ true.T
    assert (cos.max(0).values > 0.95).float().mean() >= 0.9


def test_sample_weights_scale_the_gradient():
    x, _ = _planted(n=256)
    st = F.init_state(F.normalize_atoms(x[:40].clone()))
    kw = dict(lam=0.05, tol=0, max_iter=50)
    # weights scale the residual in the gradient only: w = 2 is the same as lr × 2
    a, _ = F.dictionary_step(st, x, weights=torch.full((256,), 2.0), lr=0.05, **kw)
    b, _ = F.dictionary_step(st, x, lr=0.1, **kw)
    torch.testing.assert_close(a.dictionary, b.dictionary, atol=1e-5, rtol=0)
    # zero weights leave the atoms where they were
    c, _ = F.dictionary_step(st, x, weights=torch.zeros(256), lr=0.05, **kw)
    torch.testing.assert_close(c.dictionary, st.dictionary, atol=1e-6, rtol=0)


def test_dead_atoms_are_resampled():
    x, _ = _planted(n=512)
    phi0 = F.normalize_atoms(x[:8].clone())
    phi0[3] = -phi0[3].abs() - 1.0  # an atom never used with a ≥ 0 on positive-ish data
    phi0 = F.normalize_atoms(phi0)
    st = F.init_state(phi0)
    x = x.abs()
    for _ in range(4):
        st, info = F.dictionary_step(st, x[:128], lam=0.05, resample_every=4, max_iter=50)
    assert info.n_resampled >= 1
    assert torch.allclose(st.dictionary.norm(dim=1), torch.ones(8), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lam=-0.1), "lam"),
        (dict(lam=float("nan")), "lam"),
        (dict(lam=0.1, max_iter=0), "max_iter"),
        (dict(lam=0.1, tol=-1.0), "tol"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    x, phi = _problem(0, torch.float32)
    with pytest.raises(ValueError, match=match):
        F.sparse_encode(x, phi, **kwargs)


def test_bad_inputs():
    x, phi = _problem(0, torch.float32)
    with pytest.raises(ValueError, match=r"16 features.*dictionary has 8"):
        F.sparse_encode(x, phi[:, :8], lam=0.1)
    with pytest.raises(ValueError, match="2-D"):
        F.sparse_encode(x[0], phi, lam=0.1)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        F.sparse_encode(bad, phi, lam=0.1)
    with pytest.raises(ValueError, match="dtype"):
        F.sparse_encode(x.double(), phi, lam=0.1)
    with pytest.raises(ValueError, match="init"):
        F.sparse_encode(x, phi, lam=0.1, init=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="weights"):
        F.dictionary_step(F.init_state(phi), x, lam=0.1, weights=torch.ones(3))


@pytest.mark.parametrize("positive", [True, False])
def test_working_set_solver_matches_dense(positive):
    g = torch.Generator().manual_seed(7)
    phi = F.normalize_atoms(torch.randn(120, 20, generator=g, dtype=torch.float64))
    x = torch.randn(40, 20, generator=g, dtype=torch.float64)
    lam = 0.4
    dense = F.sparse_encode(x, phi, lam=lam, positive=positive, max_iter=20000, tol=1e-12,
                            kkt_tol=1e-9)
    ws = F.sparse_encode(x, phi, lam=lam, positive=positive, max_iter=20000, tol=1e-12,
                         working_set=4, kkt_tol=1e-9)
    torch.testing.assert_close(ws, dense, atol=1e-6, rtol=0)
    # KKT holds over all atoms, not only the working sets
    corr = (x - ws @ phi) @ phi.T
    off = ws == 0
    assert (corr[off] if positive else corr[off].abs()).max() <= lam * (1 + 1e-6)


def test_working_set_warm_start_and_errors():
    x, phi = _problem(8, torch.float64, n=10)
    a = F.sparse_encode(x, phi, lam=0.3, max_iter=5000, tol=1e-12, kkt_tol=1e-9)
    b = F.sparse_encode(x, phi, lam=0.3, max_iter=5000, tol=1e-12, working_set=8, init=a)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="working_set"):
        F.sparse_encode(x, phi, lam=0.3, working_set=-1)


# ----------------------------------------------------------------------------- certificates
def test_issue_case_is_certified():
    """K = 1024, d = 128, dense codes (L0 ≈ 120), λ = 0.005, working_set=4: the old solver
    returned codes violating KKT by up to 2.3λ. Every row is now certified."""
    g = torch.Generator().manual_seed(0)
    phi = F.normalize_atoms(torch.randn(1024, 128, generator=g, dtype=torch.float64))
    x = torch.randn(6, 128, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    lam = 0.005
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.CertificateWarning)
        a = F.sparse_encode(x, phi, lam=lam, working_set=4, kkt_tol=1e-6)
    assert F.mean_l0(a) > 60
    assert float(F.kkt_violation(x, phi, a, lam=lam).max()) <= 1e-6 * lam + 1e-12
    assert float(F.duality_gap(x, phi, a, lam=lam).max()) < 1e-8
    dense = F.sparse_encode(x, phi, lam=lam, working_set=0, kkt_tol=1e-6, max_iter=20000)
    torch.testing.assert_close(a, dense, atol=1e-6, rtol=0)


@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_default_call_is_certified(positive, dtype):
    g = torch.Generator().manual_seed(1)
    phi = F.normalize_atoms(torch.randn(300, 40, generator=g, dtype=torch.float64)).to(dtype)
    x = torch.randn(64, 40, generator=g, dtype=torch.float64).to(dtype)
    lam = 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.CertificateWarning)
        a = F.sparse_encode(x, phi, lam=lam, positive=positive)  # auto working sets
    v = F.kkt_violation(x.double(), phi.double(), a.double(), lam=lam, positive=positive)
    slack = 1e-3 * lam + (2e-4 if dtype == torch.float32 else 1e-10)
    assert float(v.max()) <= slack
    # a KKT residual of kkt_tol·λ bounds the relative suboptimality by about kkt_tol
    gap = F.duality_gap(x, phi, a, lam=lam, positive=positive)
    primal = 0.5 * ((x - a @ phi) ** 2).sum(1) + lam * a.abs().sum(1)
    assert float((gap / primal.double()).max()) < 2e-3


def test_uncertifiable_rows_warn_with_the_worst_violation():
    x, phi = _problem(2, torch.float64, n=20, k=64)
    with pytest.warns(F.CertificateWarning, match=r"worst violation .*\*lam"):
        F.sparse_encode(x, phi, lam=0.01, max_iter=1, kkt_tol=1e-12, working_set=0)


def test_kkt_violation_and_gap_detect_bad_codes():
    x, phi = _problem(3, torch.float64, n=8)
    a = F.sparse_encode(x, phi, lam=0.3, kkt_tol=1e-9)
    assert float(F.kkt_violation(x, phi, a, lam=0.3).max()) < 1e-8
    assert float(F.duality_gap(x, phi, a, lam=0.3).max()) < 1e-10
    zero = torch.zeros_like(a)
    assert float(F.kkt_violation(x, phi, zero, lam=0.3).min()) > 0
    assert float(F.duality_gap(x, phi, zero, lam=0.3).min()) > 0
    with pytest.raises(ValueError, match="codes must have shape"):
        F.kkt_violation(x, phi, a[:, :3], lam=0.3)


@pytest.mark.parametrize("shape", [(2000, 384), (50, 20), (20, 50), (300, 3)])
def test_lipschitz_constant_is_a_certified_upper_bound(shape):
    g = torch.Generator().manual_seed(shape[0])
    phi = torch.randn(*shape, generator=g, dtype=torch.float64)
    exact = torch.linalg.matrix_norm(phi, ord=2).item() ** 2
    for n_iter in (1, 3, 100):  # even a bad power-iteration estimate gives an upper bound
        lo, up = F.lipschitz_constant(phi, n_iter=n_iter, return_bounds=True)
        assert lo <= exact * (1 + 1e-12) and exact <= up
    assert F.lipschitz_constant(phi) <= 1.01 * exact
    assert F.lipschitz_constant(torch.zeros(3, 4)) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(chunk_size=-1), "chunk_size"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(working_set="big"), "working_set"),
        (dict(kkt_tol=float("nan")), "kkt_tol"),
        (dict(step=-1.0), "step"),
        (dict(step=float("nan")), "step"),
        (dict(check_every=0), "check_every"),
        (dict(max_iter=2.5), "max_iter"),
        (dict(positive="yes"), "positive"),
    ],
)
def test_bad_encode_arguments(kwargs, match):
    x, phi = _problem(0, torch.float32)
    with pytest.raises(ValueError, match=match):
        F.sparse_encode(x, phi, lam=0.1, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lr=-0.1), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(n_epochs=-1), "n_epochs"),
        (dict(n_epochs=0), "n_epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(lam=float("nan")), "lam"),
        (dict(eps=0.0), "eps"),
        (dict(history=0), "history"),
        (dict(resample_every=-2), "resample_every"),
        (dict(max_steps=-1), "max_steps"),
        (dict(n_atoms=0), "n_atoms"),
        (dict(weighting="x"), "weighting"),
    ],
)
def test_bad_learning_arguments(kwargs, match):
    x, _ = _problem(0, torch.float32)
    kw = dict(n_atoms=8, lam=0.1, max_steps=1) | kwargs
    with pytest.raises(ValueError, match=match):
        F.learn_dictionary(x, **kw)


def test_bad_learning_inputs():
    x, phi = _problem(0, torch.float32)
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        F.learn_dictionary(bad, n_atoms=4, lam=0.1)
    with pytest.raises(ValueError, match="2-D"):
        F.learn_dictionary(x[0], n_atoms=4, lam=0.1)
    with pytest.raises(ValueError, match="2-D"):
        F.learn_dictionary(x[None], n_atoms=4, lam=0.1)
    with pytest.raises(ValueError, match="lr"):
        F.dictionary_step(F.init_state(phi), x, lam=0.1, lr=-1.0)
    with pytest.raises(ValueError, match="init must have shape"):
        F.learn_dictionary(x, n_atoms=4, lam=0.1, init=torch.zeros(3, 16))


# ----------------------------------------------------------------------------- compiled path
def _coherent(seed: int, n: int = 48, k: int = 400, d: int = 24):
    """Coherent atoms (a shared direction plus noise, pairwise |cos| up to ~0.9): supports
    lie far down the initial correlation ranking, so rows need several working-set rounds."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, d, generator=g, dtype=torch.float64)
    phi = F.normalize_atoms(base + 0.6 * torch.randn(k, d, generator=g, dtype=torch.float64))
    x = torch.randn(n, d, generator=g, dtype=torch.float64) + 2 * base
    return x / x.norm(dim=1, keepdim=True), phi


@pytest.mark.parametrize("positive", [True, False])
def test_compiled_path_equals_the_torch_solver(positive, monkeypatch):
    """The per-row compiled coordinate descent and the batched torch solver (numba absent)
    certify the same conditions, so they return the same codes."""
    x, phi = _coherent(3)
    lam = 0.02
    kw = dict(lam=lam, positive=positive, max_iter=20000, tol=1e-12, kkt_tol=1e-9)
    fast, n_sweeps = F.sparse_encode(x, phi, return_n_iter=True, **kw)
    assert F.mean_l0(fast) > 5 and n_sweeps > 0
    monkeypatch.setattr(F, "_compiled", lambda: None)
    slow = F.sparse_encode(x, phi, **kw)
    dense = F.sparse_encode(x, phi, working_set=0, **kw)
    torch.testing.assert_close(fast, slow, atol=1e-7, rtol=0)
    torch.testing.assert_close(fast, dense, atol=1e-7, rtol=0)
    assert float(F.kkt_violation(x, phi, fast, lam=lam, positive=positive).max()) <= \
        1e-9 * lam + 1e-12


def test_compiled_rows_left_uncertified_are_finished_by_the_torch_solver(monkeypatch):
    """With one working-set round the compiled solver cannot certify every row; those rows
    are handed, warm, to the torch solver, and every returned row is certified."""
    from reprlab.sparse import _cd

    x, phi = _coherent(4)
    lam = 0.02
    seen = {}
    encode = _cd.encode_rows

    def spy(*args, **kwargs):
        viol, ok, sweeps = encode(*args, **kwargs)
        seen["uncertified"] = int((~ok).sum())
        return viol, ok, sweeps

    monkeypatch.setattr(_cd, "encode_rows", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", F.CertificateWarning)
        a = F.sparse_encode(x, phi, lam=lam, max_rounds=1, max_iter=20000, kkt_tol=1e-6)
    assert seen["uncertified"] > 0
    assert float(F.kkt_violation(x, phi, a, lam=lam).max()) <= 1e-6 * lam + 1e-12


def test_compiled_path_is_independent_of_threads_and_chunks():
    """Rows are solved independently: on the same correlations and Gram matrix the kernel's
    codes are bitwise equal on 1 or 2 threads; through sparse_encode (whose GEMMs may round
    differently by thread count and chunk) they agree to the certificate's accuracy."""
    from reprlab.sparse import _cd

    x, phi = _coherent(5, n=64)
    x32, phi32 = x.float(), phi.float()
    corr = (x32 @ phi32.T).numpy()
    gram = (phi32 @ phi32.T).numpy()
    outs = []
    for threads in (1, 2):
        out = np.empty_like(corr)
        _, ok, _ = _cd.encode_rows(corr, gram, None, out, lam=0.03, positive=True, size=32,
                                   max_sweeps=500, max_rounds=20, kkt_tol=1e-3,
                                   floor_unit=F._FLOOR_ULPS * float(np.finfo(np.float32).eps),
                                   gmax=1.0, threads=threads)
        assert ok.all()
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])
    full = F.sparse_encode(x32, phi32, lam=0.03)
    chunked = F.sparse_encode(x32, phi32, lam=0.03, chunk_size=5)
    assert full.dtype == torch.float32
    torch.testing.assert_close(full, chunked, atol=1e-4, rtol=0)
    torch.testing.assert_close(full, torch.from_numpy(outs[0]), atol=1e-4, rtol=0)


def test_precompile_runs():
    """setup.sh compiles the kernels ahead of time with this call."""
    from reprlab.sparse import _cd

    _cd.precompile()


def _encode_in_child(queue) -> None:
    torch.set_num_threads(1)  # as PyTorch DataLoader workers do
    x, phi = _coherent(6, n=16)
    a = F.sparse_encode(x.float(), phi.float(), lam=0.05)
    queue.put(float(F.kkt_violation(x, phi, a.double(), lam=0.05).max()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_after_the_thread_pool_started_still_encodes():
    """GNU OpenMP's pool does not survive fork (numba terminates such a child): a process
    forked after the kernel ran uses the torch solver, and its codes are certified."""
    import multiprocessing as mp

    from reprlab.sparse import _cd

    x, phi = _coherent(6, n=16)
    F.sparse_encode(x.float(), phi.float(), lam=0.05)  # starts the pool in this process
    assert _cd.usable()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_encode_in_child, args=(queue,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert queue.get(timeout=5) <= 1e-3 * 0.05 + 2e-4


def test_parameter_dictionary_in_a_plain_training_loop():
    """A user's nn.Module holds the dictionary as a Parameter and trains it with torch.optim:
    sparse_encode accepts it (both solvers), returns detached codes, and the objective at
    the codes gives the envelope gradient −(x − aΦ)ᵀa / N that lowers the loss."""

    class Coder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(8)
            self.phi = torch.nn.Parameter(F.normalize_atoms(torch.randn(200, 24, generator=g)))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            codes = F.sparse_encode(x, self.phi, lam=0.3)
            return codes, codes @ self.phi

    g = torch.Generator().manual_seed(9)
    x = torch.randn(64, 24, generator=g)
    model = Coder()
    codes, _ = model(x)
    assert not codes.requires_grad
    dense = F.sparse_encode(x, model.phi.detach(), lam=0.3, working_set=0, max_iter=5000)
    # both certified: equal objectives (codes of ill-conditioned rows may differ within the
    # certificate's tolerance)
    ours = F.objective(x, model.phi.detach(), codes, lam=0.3)
    assert abs(ours - F.objective(x, model.phi.detach(), dense, lam=0.3)) <= 1e-3 * ours
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        codes, x_hat = model(x)
        loss = 0.5 * ((x - x_hat) ** 2).sum(1).mean() + 0.3 * codes.sum(1).mean()
        loss.backward()
        expected = -((x - codes @ model.phi.detach()).T @ codes).T / x.shape[0]
        torch.testing.assert_close(model.phi.grad, expected, atol=1e-6, rtol=1e-5)
        opt.step()
        with torch.no_grad():
            model.phi.copy_(F.normalize_atoms(model.phi))
        losses.append(float(loss))
    assert losses[-1] < losses[0]
