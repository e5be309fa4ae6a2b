"""train_mdsm through reprlab.train.fit: the loss decreases and a resumed run is identical."""

import pytest
import torch
from torch.utils.data import TensorDataset

from reprlab.ebm import MLPEnergy, dsm_loss, noise_levels
from reprlab.ebm.training import mdsm_step, train_mdsm


def _data():
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(512, 2, generator=g) * 0.3 + 1.0)


def _train(epochs, ckpt=None, resume=False, model=None, on_epoch_end=None):
    torch.manual_seed(0)
    model = model or MLPEnergy(2, 32, 2)
    hist = train_mdsm(model, _data(), epochs=epochs, batch_size=64, lr=3e-3, sigma_min=0.1,
                      sigma_max=1.0, spacing="exp", checkpoint_dir=ckpt, resume=resume,
                      on_epoch_end=on_epoch_end, progress=False)
    return model, hist


def test_loss_decreases():
    """The per-epoch loss is dominated by the irreducible noise term (≈ D σ₀⁻⁴), so compare
    the loss on fixed noise before and after training."""
    x = _data().tensors[0]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    sig = noise_levels(x.shape[0], sigma_min=0.1, sigma_max=1.0, spacing="exp")
    torch.manual_seed(0)
    before = dsm_loss(MLPEnergy(2, 32, 2), x, sigmas=sig, noise=noise)
    model, hist = _train(4)
    after = dsm_loss(model, x, sigmas=sig, noise=noise)
    assert len(hist) == 4
    flat = noise.pow(2).sum(1).mean() / 0.1**4  # a flat energy (∇E = 0) scores ‖ε‖²/σ₀⁴
    assert after < before
    assert after < flat - 0.02 * flat


def test_resume_matches_uninterrupted(tmp_path):
    full, _ = _train(3)

    def crash(epoch, model):
        if epoch == 1:  # epoch 0 is checkpointed; epoch 1 dies before its checkpoint
            raise RuntimeError("simulated crash")
        return {}

    with pytest.raises(RuntimeError, match="simulated"):
        _train(3, ckpt=tmp_path, on_epoch_end=crash)
    torch.manual_seed(123)  # resume must not depend on the global RNG state at restart
    resumed, _ = _train(3, ckpt=tmp_path, resume=True, model=MLPEnergy(2, 32, 2))
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.allclose(a, b)


def test_mdsm_step_accepts_tensor_or_tuple():
    net = MLPEnergy(2, 8, 1)
    x = torch.randn(8, 2)
    torch.manual_seed(0)
    l1, m1 = mdsm_step(net, x, sigma_min=0.1, sigma_max=1.0)
    torch.manual_seed(0)
    l2, _ = mdsm_step(net, (x, torch.zeros(8)), sigma_min=0.1, sigma_max=1.0)
    assert torch.equal(l1, l2)
    assert abs(m1["loss"] - float(l1) * 1e-4) < 1e-6 * max(1.0, m1["loss"])
