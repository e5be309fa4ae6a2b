"""``reproduce ebm`` on the tiny config: the registered claims, the JSON contract, and
checkpoints keyed on the settings (a seed-1 run never reuses a seed-0 model)."""

import json

import pytest
import torch

import reprlab.ebm.reproduce as R
from reprlab.checkpoint import load_checkpoint
from reprlab.claims import ClaimSpec
from reprlab.data import load_dataset
from reprlab.registry import _METHODS
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext, check_claims

# registry discovery imports every method's module; while others are being converted, read
# the entry this module registered directly
_METHOD = _METHODS["ebm"]


def _ctx(out, seed=0, cfg=R.TINY):
    return ReproduceContext(method="ebm", config_name="tiny", config=cfg, out=out, seed=seed)


def _has_mnist():
    try:
        load_dataset("mnist", "test")
        load_dataset("mnist", "train")
    except FileNotFoundError:
        return False
    return True


def test_registered_claims_are_specs_declared_up_front():
    m = _METHOD
    assert m.paper == "arXiv:1910.07762"
    assert m.claims == R.CLAIMS and all(isinstance(c, ClaimSpec) for c in m.claims)
    assert set(m.configs) >= {"tiny", "quick", "full"}
    effect = [c for c in R.CLAIMS if any(k.null is not None for k in c.criteria)]
    assert effect and all(c.min_seeds >= 3 for c in effect)
    assert R.QUICK.n_seeds >= 3 and R.TINY.n_seeds >= 3


@pytest.mark.skipif(not _has_mnist(), reason="MNIST not installed")
def test_reproduce_tiny(tmp_path):
    ctx = _ctx(tmp_path)
    report = R.run(ctx, R.TINY)
    check_claims(_METHOD, report)
    verdicts = {c.name: c.verdict for c in report.claims}
    assert verdicts[R.CIFAR.name] == "not run"
    den = next(c for c in report.claims if c.name == R.DENOISE.name)
    assert den.seeds == 3 and isinstance(den.measured_value, float) and den.detail
    assert report.summary and "per_seed" in report.results
    data = load_method_json(write_method_json(report, tmp_path))
    assert len(data["figures"]) >= 4
    json.dumps(data)
    assert (ctx.work_dir / "energy-seed0.pt").exists()


@pytest.mark.skipif(not _has_mnist(), reason="MNIST not installed")
def test_checkpoint_keyed_on_seed(tmp_path, monkeypatch):
    """The same folder, another seed: the energy is retrained, never reused."""
    calls = []
    real = R.train_mdsm

    def counting(*a, **k):
        calls.append(k.get("seed"))
        return real(*a, **k)

    monkeypatch.setattr(R, "train_mdsm", counting)
    train = load_dataset("mnist", "train").subset(64, seed=0)
    ctx0 = _ctx(tmp_path, seed=0)
    a, _ = R._train(R.TINY, train, 0, ctx0)
    R._train(R.TINY, train, 0, _ctx(tmp_path, seed=0))
    assert len(calls) == 1  # same settings: resumed from the store
    ctx1 = _ctx(tmp_path, seed=1)
    assert ctx1.work_dir == ctx0.work_dir
    R._train(R.TINY, train, 0, ctx1)
    assert len(calls) == 2  # other run seed: fresh
    saved = load_checkpoint(ctx1.work_dir / "energy-seed0.pt", settings=ctx1.store._settings(
        {"train": train.name, "n_train": len(train)}), version=ctx1.version)
    assert saved is not None
    other = R.replace(R.TINY, lr=2e-3)
    R._train(other, train, 0, _ctx(tmp_path, seed=1, cfg=other))
    assert len(calls) == 3  # changed config: fresh
    for p in a.parameters():
        assert not p.requires_grad
    assert isinstance(a(torch.zeros(1, 1, 28, 28)), torch.Tensor)


def test_config_validation():
    with pytest.raises(ValueError, match="sample_seeds"):
        R.replace(R.TINY, sample_seeds=5)
    with pytest.raises(ValueError, match="n_seeds"):
        R.replace(R.TINY, n_seeds=0)
