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
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="r must be a finite number > 0"):
            F.clip_features(x, r=bad)


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


def _head_reference(x, pt, a, c, r, riemannian):
    """The head through geoopt's maps and the explicit Möbius form (float64)."""
    if r is not None:
        x = x * torch.clamp(r / (x.norm(dim=-1, keepdim=True) + 1e-5), max=1.0)
    z = F.project(F.expmap0(x, c=c), c=c)
    if riemannian:
        z = F.riemannian_grad(z, c=c)
    p = F.project(F.expmap0(pt, c=c), c=c)
    return _mlr_reference(z, p, a * (1 - c * p.pow(2).sum(-1, keepdim=True)), c)


@pytest.mark.parametrize("c", [0.1, 1.0])
@pytest.mark.parametrize("r", [None, 1.0, 2.3])
@pytest.mark.parametrize("riemannian", [False, True])
def test_head_closed_form_matches_reference_forward_and_backward(c, r, riemannian):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(24, 6, generator=g, dtype=torch.float64) * 0.8).requires_grad_()
    pt = (torch.randn(5, 6, generator=g, dtype=torch.float64) * 0.5).requires_grad_()
    a = torch.randn(5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.linspace(-1, 1, 5, dtype=torch.float64)
    outs = []
    for fn in (lambda: _head_reference(x, pt, a, c, r, riemannian),
               lambda: F.clipped_hyperbolic_logits(x, pt, a, c=c, r=r, riemannian=riemannian)):
        logits = fn()
        outs.append((logits, *torch.autograd.grad((logits * w).pow(2).sum(), (x, pt, a))))
    for ref, ours in zip(*outs):
        assert torch.allclose(ours, ref, rtol=1e-8, atol=1e-9)


def test_head_gradcheck_float64():
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(6, 3, generator=g, dtype=torch.float64) * 2).requires_grad_()
    pt = (torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5).requires_grad_()
    a = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    for r in (None, 1.0):
        assert torch.autograd.gradcheck(
            lambda x, pt, a, r=r: F.clipped_hyperbolic_logits(x, pt, a, c=1.0, r=r,
                                                         riemannian=False), (x, pt, a))


def test_riemannian_grad_is_identity_forward_and_rescales_backward():
    z = F.hyperbolic_embed(torch.randn(10, 4, dtype=torch.float64) * 2, c=0.5)
    z = z.detach().requires_grad_()
    out = F.riemannian_grad(z, c=0.5)
    assert torch.equal(out, z)
    g = torch.randn_like(z)
    (grad,) = torch.autograd.grad(out, z, g)
    scale = (1 - 0.5 * z.detach().pow(2).sum(-1, keepdim=True)).pow(2) / 4
    assert torch.allclose(grad, g * scale)
    # the head's embedding gradient carries the same factor on top of plain autograd
    x = (torch.randn(8, 4, dtype=torch.float64) * 3).requires_grad_()
    plain = F.hyperbolic_embed(x, c=1.0, r=None)
    zz = plain.detach()
    (g_plain,) = torch.autograd.grad(plain, x, zz, retain_graph=True)
    riem = F.hyperbolic_embed(x, c=1.0, r=None, riemannian=True)
    assert torch.equal(riem, plain)
    (g_riem,) = torch.autograd.grad(riem, x, zz)
    s = (1 - zz.pow(2).sum(-1, keepdim=True)).pow(2) / 4
    (g_expected,) = torch.autograd.grad(plain, x, zz * s)
    assert torch.allclose(g_riem, g_expected) and g_riem.abs().max() < g_plain.abs().max()


def test_unclipped_riemannian_gradient_vanishes_at_the_boundary():
    """The paper's mechanism: features far out put z at the margin, where (1 − ‖z‖²)²/4 ≈ 1e-10."""
    x = (torch.randn(32, 8) * 20).requires_grad_()
    pt, a = torch.randn(4, 8) * 0.1, torch.randn(4, 8)
    grads = {}
    for r in (None, 1.0):
        logits = F.clipped_hyperbolic_logits(x, pt, a, c=1.0, r=r, riemannian=True)
        (grads[r],) = torch.autograd.grad(logits.sum(), x)
    assert grads[None].norm() < 1e-6 * grads[1.0].norm()


@pytest.mark.parametrize("dim", [1, -1])
def test_dense_inputs_with_dim(dim):
    """(B, D, H, W) features give (B, K, H, W) logits equal to the per-pixel (N, D) ones."""
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    if dim == -1:
        x = x.movedim(1, -1)  # (B, H, W, D)
    pt, a = torch.randn(5, 6, dtype=torch.float64) * 0.3, torch.randn(5, 6, dtype=torch.float64)
    out = F.clipped_hyperbolic_logits(x, pt, a, c=1.0, r=1.0, dim=dim)
    flat = x.movedim(dim, -1).reshape(-1, 6)
    expected = F.clipped_hyperbolic_logits(flat, pt, a, c=1.0, r=1.0)
    if dim == 1:
        assert out.shape == (2, 5, 3, 4)
        assert torch.allclose(out.movedim(1, -1).reshape(-1, 5), expected)
    else:
        assert out.shape == (2, 3, 4, 5)
        assert torch.allclose(out.reshape(-1, 5), expected)
    z = F.hyperbolic_embed(x, c=1.0, r=1.0, dim=dim)
    assert z.shape == x.shape and (z.norm(dim=dim) <= math.tanh(1) + 1e-6).all()


def test_tensor_curvature_gets_a_gradient():
    c = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, 4, dtype=torch.float64)
    pt, a = torch.randn(3, 4, dtype=torch.float64) * 0.3, torch.randn(3, 4, dtype=torch.float64)
    logits = F.clipped_hyperbolic_logits(x, pt, a, c=c, r=1.0)
    assert torch.allclose(logits, F.clipped_hyperbolic_logits(x, pt, a, c=0.7, r=1.0))
    (grad,) = torch.autograd.grad(logits.pow(2).sum(), c)
    assert torch.isfinite(grad) and grad != 0


@pytest.mark.slow
def test_fused_path_equals_eager_forward_and_backward():
    x = (torch.randn(64, 8) * 3).requires_grad_()
    p = (torch.randn(5, 8) * 0.3).requires_grad_()
    a = torch.randn(5, 8, requires_grad=True)
    outs = []
    for fused in (False, True):
        logits = F.clipped_hyperbolic_logits(x, p, a, c=1.0, r=1.0, fused=fused)
        grads = torch.autograd.grad(logits.pow(2).sum(), (x, p, a))
        outs.append((logits, *grads))
    for eager, fused in zip(*outs):
        assert torch.allclose(eager, fused, atol=1e-4, rtol=1e-4)


def test_bad_inputs():
    x = torch.zeros(2, 3)
    for bad in (0.0, -1.0, float("nan"), float("inf"), torch.tensor([1.0, 2.0])):
        with pytest.raises(ValueError, match="curvature"):
            F.expmap0(x, c=bad)
    with pytest.raises(TypeError, match="curvature"):
        F.expmap0(x, c="1")
    with pytest.raises(ValueError, match="features along dim"):
        F.hyperbolic_mlr(x, torch.zeros(4, 2), torch.zeros(4, 2), c=1.0)
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        F.hyperbolic_mlr(x, torch.zeros(4, 3), torch.zeros(5, 3), c=1.0)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        F.hyperbolic_embed(x, c=1.0, dim=2)
    with pytest.raises(ValueError, match="dtype"):
        F.hyperbolic_mlr(x, torch.zeros(4, 3, dtype=torch.float64),
                         torch.zeros(4, 3, dtype=torch.float64), c=1.0)
    with pytest.raises(ValueError, match="eps"):
        F.project(x, c=1.0, eps=float("nan"))
    with pytest.raises(TypeError, match="riemannian"):
        F.clipped_hyperbolic_logits(x, torch.zeros(4, 3), torch.zeros(4, 3), c=1.0,
                                    riemannian=1)


def test_points_outside_the_ball_are_rejected():
    inside = torch.full((2, 2), 0.3)
    outside = torch.tensor([[0.3, 0.3], [0.9, 0.9]])  # norm 1.27 > 1
    nan = torch.tensor([[0.1, float("nan")]])
    for fn in (lambda y: F.poincare_dist(inside, y, c=1.0),
               lambda y: F.origin_distance(y, c=1.0),
               lambda y: F.mobius_add(y, inside, c=1.0),
               lambda y: F.logmap0(y, c=1.0),
               lambda y: F.conformal_factor(y, c=1.0),
               lambda y: F.hyperbolic_mlr(y, torch.zeros(3, 2), torch.ones(3, 2), c=1.0)):
        fn(inside)
        with pytest.raises(ValueError, match="outside the Poincaré ball"):
            fn(outside)
        with pytest.raises(ValueError, match="NaN"):
            fn(nan)
    # a smaller ball for larger curvature: norm 0.6 is outside radius 1/√4 = 0.5
    with pytest.raises(ValueError, match="radius 1/√c = 0.5"):
        F.origin_distance(torch.tensor([[0.6, 0.0]]), c=4.0)
    with pytest.raises(ValueError, match="outside"):
        F.hyperbolic_mlr(inside, torch.full((3, 2), 0.9), torch.ones(3, 2), c=1.0)
