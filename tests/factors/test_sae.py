"""TopK SAE baseline."""

from __future__ import annotations

import pytest
import torch

from reprlab.factors.sae import TopKSAE, topk_activation, train_topk_sae


def test_topk_activation():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-2.0, -1.0, -3.0, 0.1]])
    out = topk_activation(pre, k=2)
    assert torch.equal(out, torch.tensor([[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.1]]))
    with pytest.raises(ValueError, match="k must be"):
        topk_activation(pre, k=5)


def test_sae_learns_planted_sparse_data():
    g = torch.Generator().manual_seed(0)
    atoms = torch.randn(16, 12, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    codes = torch.zeros(600, 16)
    idx = torch.randint(0, 16, (600, 2), generator=g)
    codes.scatter_(1, idx, torch.rand(600, 2, generator=g) + 0.5)
    x = codes @ atoms
    sae0 = TopKSAE(12, 16, k=2)
    with torch.no_grad():
        base = float(((sae0(x) - x) ** 2).sum(1).mean())
    sae, info = train_topk_sae(x, n_latents=16, k=2, epochs=30, lr=3e-3, seed=0)
    with torch.no_grad():
        z = sae.encode(x)
        err = float(((sae.decode(z) - x) ** 2).sum(1).mean())
    assert err < 0.3 * base
    assert ((z > 0).sum(1) <= 2).all()
    assert torch.allclose(sae.w_dec.norm(dim=1), torch.ones(16), atol=1e-5)
    assert info["seconds"] >= 0 and "k=2" in repr(sae)
