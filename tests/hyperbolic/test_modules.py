import math

import pytest
import torch
from torch import nn

from reprlab.hyperbolic import ClippedHyperbolicHead, FeatureClip, HyperbolicMLR, create_classifier
from reprlab.hyperbolic.models import create_head


def test_head_shapes_and_every_parameter_gets_a_gradient():
    head = ClippedHyperbolicHead(16, 10)
    out = head(torch.randn(8, 16))
    assert out.shape == (8, 10)
    out.sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert "c=1.0" in repr(head) and "r=1.0" in repr(head)


def test_clipped_embedding_bounded_and_unclipped_reaches_boundary():
    x = torch.randn(32, 16) * 50
    clipped = ClippedHyperbolicHead(16, 3, c=1.0, r=1.0)
    unclipped = ClippedHyperbolicHead(16, 3, c=1.0, r=None)
    assert clipped.embed(x).norm(dim=-1).max() <= math.tanh(1.0) + 1e-5
    assert unclipped.embed(x).norm(dim=-1).min() > 0.999


def test_mlr_parameters_are_plain_tensors_an_optimizer_can_train():
    """A tiny separable problem: Adam on the head alone fits it."""
    torch.manual_seed(0)
    x = torch.randn(200, 2) * 0.3
    y = (x[:, 0] > 0).long()
    head = ClippedHyperbolicHead(2, 2, c=1.0, r=1.0)
    opt = torch.optim.Adam(head.parameters(), lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(x), y)
        loss.backward()
        opt.step()
    assert (head(x).argmax(-1) == y).float().mean() > 0.95


def test_bad_inputs_raise_clear_errors():
    head = ClippedHyperbolicHead(16, 10)
    with pytest.raises(ValueError, match=r"\(batch, 16\)"):
        head(torch.randn(4, 15))
    with pytest.raises(ValueError, match=r"\(batch, 16\)"):
        head(torch.randn(4, 2, 16))
    with pytest.raises(ValueError, match="curvature"):
        HyperbolicMLR(4, 2, c=-1.0)
    with pytest.raises(ValueError, match="r must be > 0"):
        FeatureClip(0.0)
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


@pytest.mark.parametrize("r", [1.0, None])
def test_fused_head_equals_eager_head(r):
    """The compiled whole-head graph (own Exp₀ and asinh forms) matches the geoopt path.

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
