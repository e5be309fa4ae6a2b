import math

import pytest
import torch

from reprlab.hyperbolic import functional as F

DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-10)]


def _ball_points(n, d, c, dtype, seed, scale=0.7):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=g, dtype=dtype)
    radius = torch.rand(n, 1, generator=g, dtype=dtype) * scale / math.sqrt(c)
    return u / u.norm(dim=-1, keepdim=True) * radius


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("c", [0.1, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_gyrovector_identities(dtype, tol, c, seed):
    x = _ball_points(16, 5, c, dtype, seed)
    y = _ball_points(16, 5, c, dtype, seed + 10)
    zero = torch.zeros_like(x)
    assert torch.allclose(F.mobius_add(zero, x, c=c), x, atol=tol)
    assert torch.allclose(F.mobius_add(x, zero, c=c), x, atol=tol)
    assert torch.allclose(F.mobius_add(-x, x, c=c), zero, atol=tol)
    # left cancellation: −x ⊕ (x ⊕ y) = y
    assert torch.allclose(F.mobius_add(-x, F.mobius_add(x, y, c=c), c=c), y, atol=100 * tol)
    # Exp₀ and Log₀ are inverse; Exp₀ has the tanh closed form
    assert torch.allclose(F.expmap0(F.logmap0(x, c=c), c=c), x, atol=10 * tol)
    u = torch.randn(16, 5, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    n = u.norm(dim=-1, keepdim=True)
    sc = math.sqrt(c)
    assert torch.allclose(F.expmap0(u, c=c), torch.tanh(sc * n) * u / (sc * n), atol=tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("c", [0.5, 1.0])
def test_distance_equals_arcosh_closed_form(dtype, tol, c):
    x = _ball_points(32, 4, c, dtype, 3)
    y = _ball_points(32, 4, c, dtype, 4)
    # d_c(x, y) = (1/√c) arcosh(1 + 2c‖x−y‖² / ((1−c‖x‖²)(1−c‖y‖²)))
    arg = 1 + 2 * c * (x - y).pow(2).sum(-1) / (
        (1 - c * x.pow(2).sum(-1)) * (1 - c * y.pow(2).sum(-1)))
    expected = torch.acosh(arg) / math.sqrt(c)
    assert torch.allclose(F.poincare_dist(x, y, c=c), expected, rtol=1e3 * tol, atol=1e3 * tol)
    assert torch.allclose(F.origin_distance(x, c=c),
                          F.poincare_dist(torch.zeros_like(x), x, c=c), atol=1e2 * tol)


def test_clip_features():
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = F.clip_features(x, r=1.0)
    assert torch.allclose(out[0], torch.tensor([0.6, 0.8]), atol=1e-5)
    assert torch.equal(out[1], x[1]) and torch.equal(out[2], x[2])
    with pytest.raises(ValueError, match="r must be > 0"):
        F.clip_features(x, r=0.0)


def test_embedding_stays_inside_margin():
    x = torch.randn(64, 8) * 1e3
    for c in (0.1, 1.0):
        z = F.hyperbolic_embed(x, c=c)
        assert (z.norm(dim=-1) <= (1 - 1e-5) / math.sqrt(c) + 1e-6).all()
        zc = F.hyperbolic_embed(x, c=c, r=1.0)
        assert torch.allclose(zc.norm(dim=-1),
                              torch.full((64,), math.tanh(math.sqrt(c)) / math.sqrt(c)),
                              atol=1e-4)


def _mlr_reference(x, p, a, c):
    """Ganea et al. Eq. 25 with an explicit Möbius sum per class (B, K, D)."""
    w = F.mobius_add(-p.unsqueeze(0), x.unsqueeze(1), c=c)  # (B, K, D)
    a_norm = a.norm(dim=-1)
    lam = 2 / (1 - c * p.pow(2).sum(-1))
    inner = (w * a).sum(-1)
    sc = math.sqrt(c)
    return lam * a_norm / sc * torch.asinh(
        2 * sc * inner / ((1 - c * w.pow(2).sum(-1)) * a_norm))


@pytest.mark.parametrize("c", [0.1, 1.0])
def test_mlr_matches_explicit_mobius_form(c):
    x = _ball_points(20, 6, c, torch.float64, 0, scale=0.95)
    p = _ball_points(7, 6, c, torch.float64, 1, scale=0.9)
    a = torch.randn(7, 6, dtype=torch.float64)
    out = F.hyperbolic_mlr(x, p, a, c=c)
    assert out.shape == (20, 7)
    assert torch.allclose(out, _mlr_reference(x, p, a, c), rtol=1e-9, atol=1e-9)


def test_mlr_euclidean_limit():
    """As c → 0 the logits tend to 4⟨x − p_k, a_k⟩ (λ₀ = 2, asinh(t) ≈ t)."""
    c = 1e-6
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 4, generator=g, dtype=torch.float64)
    p = torch.randn(3, 4, generator=g, dtype=torch.float64)
    a = torch.randn(3, 4, generator=g, dtype=torch.float64)
    expected = 4 * ((x.unsqueeze(1) - p.unsqueeze(0)) * a).sum(-1)
    assert torch.allclose(F.hyperbolic_mlr(x, p, a, c=c), expected, rtol=1e-4, atol=1e-4)


def test_mlr_gradcheck_float64():
    c = 1.0
    x = _ball_points(4, 3, c, torch.float64, 5).requires_grad_()
    p = _ball_points(3, 3, c, torch.float64, 6).requires_grad_()
    a = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, p, a: F.hyperbolic_mlr(x, p, a, c=c), (x, p, a))
    u = (torch.randn(4, 3, dtype=torch.float64) * 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda u: F.hyperbolic_embed(u, c=c, r=1.0), (u,))


@pytest.mark.parametrize("c", [0.1, 1.0])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_no_nan_for_huge_float32_features(c, clip):
    feats = (torch.randn(256, 16) * 1e3).requires_grad_()
    g = torch.Generator().manual_seed(1)
    p = (torch.randn(10, 16, generator=g) * 0.01).requires_grad_()
    a = torch.randn(10, 16, generator=g).requires_grad_()
    logits = F.hyperbolic_mlr(F.hyperbolic_embed(feats, c=c, r=clip), p, a, c=c)
    torch.nn.functional.cross_entropy(logits, torch.arange(256) % 10).backward()
    for t in (logits, feats.grad, p.grad, a.grad):
        assert torch.isfinite(t).all()


def test_fused_path_equals_eager_forward_and_backward():
    x = _ball_points(64, 8, 1.0, torch.float32, 0).requires_grad_()
    p = _ball_points(5, 8, 1.0, torch.float32, 1).requires_grad_()
    a = torch.randn(5, 8, requires_grad=True)
    outs = []
    for fused in (False, True):
        logits = F.hyperbolic_mlr(x, p, a, c=1.0, fused=fused)
        grads = torch.autograd.grad(logits.pow(2).sum(), (x, p, a))
        outs.append((logits, *grads))
    for eager, fused in zip(*outs):
        assert torch.allclose(eager, fused, atol=1e-4, rtol=1e-4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="curvature"):
        F.expmap0(torch.zeros(2, 3), c=0.0)
    with pytest.raises(ValueError, match=r"expected x \(B, D\)"):
        F.hyperbolic_mlr(torch.zeros(2, 3), torch.zeros(4, 2), torch.zeros(4, 2), c=1.0)
