"""TopK SAE baseline."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from reprlab.factors.sae import (
    TopKSAE,
    evaluate_codes,
    export_saelens,
    import_saelens,
    sae_from_dictionary,
    topk_activation,
    train_topk_sae,
)


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


def _planted(n: int = 600, k_atoms: int = 16, d: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    atoms = torch.randn(k_atoms, d, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    codes = torch.zeros(n, k_atoms)
    idx = torch.randint(0, k_atoms, (n, 2), generator=g)
    codes.scatter_(1, idx, torch.rand(n, 2, generator=g) + 0.5)
    return codes @ atoms


def test_auxk_trains_dead_latents_and_heldout_eval():
    """Latents dead at the end barely move without AuxK (gradient only while they fired);
    with AuxK their pre-activations reconstruct the residual, so they move more."""
    x = _planted(800)
    train, held = x[:600], x[600:]
    init = TopKSAE(12, 48, k=1)
    init.reset_parameters(generator=torch.Generator().manual_seed(0))
    off, _ = train_topk_sae(train, n_latents=48, k=1, epochs=2, lr=3e-3, seed=0, aux_k=0,
                            dead_steps=1)
    on, info = train_topk_sae(train, n_latents=48, k=1, epochs=2, lr=3e-3, seed=0, aux_k=24,
                              dead_steps=1)
    with torch.no_grad():
        never = (off.encode(train) > 0).sum(0) == 0
    assert never.any()
    moved_off = (off.w_enc.detach() - init.w_enc)[:, never].abs().max()
    moved_on = (on.w_enc.detach() - init.w_enc)[:, never].abs().max()
    assert float(moved_on) > float(moved_off)
    assert 0 <= info["dead_fraction_train"] <= 1 and info["final_loss"] > 0
    with torch.no_grad():
        z = on.encode(held)
        m = evaluate_codes(held, z, on.decode(z))
    assert 0 <= m["FVU"] < 1.5 and m["L0"] <= 1 and 0 <= m["dead_fraction"] <= 1
    with pytest.raises(ValueError, match="aux_k"):
        train_topk_sae(train, n_latents=8, k=2, aux_k=9)
    bad = train.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train_topk_sae(bad, n_latents=8, k=2)


def test_saelens_export_import_roundtrip(tmp_path):
    x = _planted(200)
    sae, _ = train_topk_sae(x, n_latents=16, k=2, epochs=2, seed=0)
    d = export_saelens(sae, tmp_path / "sae", metadata={"model": "toy"})
    cfg = json.loads((d / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and (cfg["d_in"], cfg["d_sae"], cfg["k"]) == (12, 16, 2)
    back = import_saelens(d)
    with torch.no_grad():
        assert torch.allclose(back(x), sae(x), atol=1e-6)
    # a sparse-coding dictionary travels as the decoder of a TopK SAE
    phi = torch.nn.functional.normalize(torch.randn(16, 12), dim=1)
    s2 = import_saelens(export_saelens(sae_from_dictionary(phi, k=3), tmp_path / "dict"))
    assert torch.equal(s2.w_dec.detach(), phi)
    cfg["architecture"] = "jumprelu"
    (d / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="jumprelu"):
        import_saelens(d)
    with pytest.raises(FileNotFoundError, match="cfg.json"):
        import_saelens(tmp_path / "missing")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sae_lens") is None, reason="sae-lens not installed")
def test_sae_lens_loads_our_export_and_we_load_theirs(tmp_path):
    from sae_lens import SAE, TopKSAEConfig
    from sae_lens import TopKSAE as LensTopK

    x = _planted(100)
    sae, _ = train_topk_sae(x, n_latents=16, k=2, epochs=2, seed=0)
    lens = SAE.load_from_disk(str(export_saelens(sae, tmp_path / "ours")))
    with torch.no_grad():
        assert torch.allclose(lens.encode(x), sae.encode(x), atol=1e-5)
        assert torch.allclose(lens.decode(lens.encode(x)), sae(x), atol=1e-5)
    theirs = LensTopK(TopKSAEConfig(d_in=12, d_sae=16, k=3, dtype="float32", device="cpu"))
    theirs.save_model(str(tmp_path / "theirs"))
    ours = import_saelens(tmp_path / "theirs")
    with torch.no_grad():
        assert torch.allclose(ours.encode(x), theirs.encode(x), atol=1e-5)
