import math

import pytest
import torch
from torch import nn

from reprlab.hyperbolic import (
    ClippedHyperbolicHead,
    FeatureClip,
    HyperbolicMLR,
    PoincareEmbedding,
    create_classifier,
)
from reprlab.hyperbolic import functional as F
from reprlab.hyperbolic.models import create_head


def test_head_shapes_and_every_parameter_gets_a_gradient():
    head = ClippedHyperbolicHead(16, 10)
    out = head(torch.randn(8, 16))
    assert out.shape == (8, 10)
    out.sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    text = repr(head)
    assert "c=1.0" in text and "r=1.0" in text and "riemannian=True" in text


def test_clipped_embedding_bounded_and_unclipped_reaches_boundary():
    x = torch.randn(32, 16) * 50
    clipped = ClippedHyperbolicHead(16, 3, c=1.0, r=1.0)
    unclipped = ClippedHyperbolicHead(16, 3, c=1.0, r=None)
    assert clipped.embed(x).norm(dim=-1).max() <= math.tanh(1.0) + 1e-5
    assert unclipped.embed(x).norm(dim=-1).min() > 0.999


class UserNet(nn.Module):
    """A user's own network: a small conv backbone and the head on its pooled features."""

    def __init__(self, **head_kw):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6))
        self.head = ClippedHyperbolicHead(6, 3, **head_kw)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.mark.parametrize("head_kw", [{}, {"r": None}, {"riemannian": False},
                                     {"learn_c": True, "c": 0.5}])
def test_head_in_a_user_module_trains_with_plain_torch_optim(head_kw):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 3
    x = torch.randn(96, 1, 8, 8, generator=g) * 0.3 + y.view(-1, 1, 1, 1).float()
    model = UserNet(**head_kw)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    expected = {"features.0.weight", "features.4.weight", "head.mlr.p_tangent", "head.mlr.a"}
    if head_kw.get("learn_c"):
        expected.add("head.log_c")
    assert expected <= set(before)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
    for name in expected:
        assert not torch.equal(before[name], model.get_parameter(name)), f"{name} did not train"
    assert (model(x).argmax(-1) == y).float().mean() > 0.9


def test_dense_prediction_head_on_a_feature_map():
    head = ClippedHyperbolicHead(4, 3)  # dim=1: (B, D, H, W) -> (B, K, H, W)
    fmap = torch.randn(2, 4, 5, 5, requires_grad=True)
    logits = head(fmap)
    assert logits.shape == (2, 3, 5, 5)
    nn.functional.cross_entropy(logits, torch.zeros(2, 5, 5, dtype=torch.long)).backward()
    assert torch.isfinite(fmap.grad).all()
    tokens = ClippedHyperbolicHead(4, 3, dim=-1)(torch.randn(2, 7, 4))
    assert tokens.shape == (2, 7, 3)


def test_float64_head_matches_float32():
    h32 = ClippedHyperbolicHead(8, 4)
    h64 = ClippedHyperbolicHead(8, 4, dtype=torch.float64)
    h64.load_state_dict({k: v.double() for k, v in h32.state_dict().items()})
    x = torch.randn(16, 8) * 2
    assert h64(x.double()).dtype == torch.float64
    assert torch.allclose(h64(x.double()).float(), h32(x), atol=1e-4)
    with pytest.raises(ValueError, match="float64 parameters but got torch.float32"):
        h64(x)


def test_learned_curvature_is_positive_and_in_the_state_dict():
    head = ClippedHyperbolicHead(4, 2, c=0.3, learn_c=True)
    assert "log_c" in head.state_dict()
    assert torch.isclose(head.c, torch.tensor(0.3))
    fixed = ClippedHyperbolicHead(4, 2, c=0.3)
    assert "log_c" not in fixed.state_dict() and fixed.c == 0.3


def test_geoopt_manifold_parameter_with_riemannian_adam():
    """The docs' recipe: class offsets as a geoopt ManifoldParameter on the ball."""
    geoopt = pytest.importorskip("geoopt")
    torch.manual_seed(0)
    ball = geoopt.PoincareBall(c=1.0)
    p = geoopt.ManifoldParameter(ball.expmap0(torch.randn(3, 2) * 0.1), manifold=ball)
    a = nn.Parameter(torch.randn(3, 2))
    embed = PoincareEmbedding(c=1.0, r=1.0, riemannian=True)
    x = torch.randn(90, 2)
    y = torch.arange(90) % 3
    x = x * 0.2 + torch.tensor([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]])[y]
    opt = geoopt.optim.RiemannianAdam([p, a], lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        logits = F.hyperbolic_mlr(embed(x), p, a * (1 - p.pow(2).sum(-1, keepdim=True)),
                                  c=1.0)
        nn.functional.cross_entropy(logits, y).backward()
        opt.step()
    assert p.norm(dim=-1).max() < 1.0
    assert (logits.argmax(-1) == y).float().mean() > 0.9


def test_bad_arguments_raise_clear_errors():
    head = ClippedHyperbolicHead(16, 10)
    with pytest.raises(ValueError, match="16 features at dim=1"):
        head(torch.randn(4, 15))
    with pytest.raises(ValueError, match="16 features at dim=1"):
        head(torch.randn(4, 2, 16))
    with pytest.raises(ValueError, match=r"shape \(batch, 16, \*\)"):
        head(torch.randn(16))
    with pytest.raises(ValueError, match="floating-point"):
        head(torch.ones(4, 16, dtype=torch.long))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="curvature c must be a finite number > 0"):
            HyperbolicMLR(4, 2, c=bad)
        with pytest.raises(ValueError, match="clipping radius r must be a finite number"):
            ClippedHyperbolicHead(4, 2, r=bad)
        with pytest.raises(ValueError, match="clipping radius"):
            FeatureClip(bad)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="in_features must be an int >= 1"):
            ClippedHyperbolicHead(bad, 2)
        with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
            HyperbolicMLR(4, bad)
    with pytest.raises(TypeError, match="riemannian"):
        ClippedHyperbolicHead(4, 2, riemannian="yes")
    with pytest.raises(TypeError, match="dim"):
        ClippedHyperbolicHead(4, 2, dim=1.0)
    with pytest.raises(ValueError, match="outside the Poincaré ball"):
        HyperbolicMLR(2, 3)(torch.tensor([[0.9, 0.9]]))
    with pytest.raises(ValueError, match="unknown head"):
        create_head("spherical", 4, 2)


@pytest.mark.parametrize("kind", ["euclidean", "hyperbolic", "clipped"])
def test_classifier_variants(kind):
    model = create_classifier(kind, feat_dim=32)
    out = model(torch.rand(4, 1, 28, 28))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.rand(4, 1, 32, 32))


def test_state_dict_round_trip():
    a, b = ClippedHyperbolicHead(8, 3), ClippedHyperbolicHead(8, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 8)
    assert torch.equal(a(x), b(x))


@pytest.mark.slow
@pytest.mark.parametrize("r", [1.0, None])
def test_fused_head_equals_eager_head(r):
    """The compiled graph (plain-op asinh, detach-trick rescaling) matches the eager one.

    float64: at the boundary (unclipped, large features) float32 rounding of ‖z‖ is
    amplified by 1/(1 − c‖z‖²) ≈ 1e5, so both paths are only comparable in double.
    """
    eager = ClippedHyperbolicHead(12, 5, r=r, dtype=torch.float64)
    fused = ClippedHyperbolicHead(12, 5, r=r, fused=True, dtype=torch.float64)
    fused.load_state_dict(eager.state_dict())
    x = torch.randn(32, 12, dtype=torch.float64) * 3
    outs = []
    for head in (eager, fused):
        xi = x.clone().requires_grad_()
        logits = head(xi)
        logits.pow(2).mean().backward()
        outs.append((logits, xi.grad, head.mlr.p_tangent.grad, head.mlr.a.grad))
    for e, f in zip(*outs):
        assert torch.allclose(e, f, rtol=1e-8, atol=1e-8)
