import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from reprlab.data import load_digits
from reprlab.train import fit


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(32, 10))


@pytest.fixture(scope="module")
def digits():
    return load_digits("train").subset(512, seed=0)


def test_fit_learns_and_logs_history(digits):
    model = _model()
    calls = []
    history = fit(model, digits, epochs=4, batch_size=64, lr=1e-2, seed=0,
                  on_epoch_end=lambda e, m: calls.append(e) or {"custom": float(e)})
    assert len(history) == 4 and calls == [0, 1, 2, 3]
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["custom"] == [0.0, 1.0, 2.0, 3.0]
    assert history["acc"][-1] > 0.7


def test_fit_is_deterministic_for_a_seed(digits):
    a, b = _model(), _model()
    fit(a, digits, epochs=2, batch_size=64, seed=3)
    fit(b, digits, epochs=2, batch_size=64, seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_resume_continues_to_the_same_result(tmp_path, digits):
    """Stop after 2 of 4 epochs, resume: same weights and history as one 4-epoch run."""
    whole = _model()
    h_whole = fit(whole, digits, epochs=4, batch_size=64, seed=1)

    part = _model()
    fit(part, digits, epochs=2, batch_size=64, seed=1, checkpoint_dir=tmp_path)
    torch.manual_seed(123)  # a fresh process would have a different RNG state
    resumed = _model()
    h_resumed = fit(resumed, digits, epochs=4, batch_size=64, seed=1, checkpoint_dir=tmp_path,
                    resume=True)
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    assert h_resumed["loss"] == pytest.approx(h_whole["loss"], rel=1e-5)
    assert (tmp_path / "last.pt").exists()


def test_regularizer_and_bad_arguments(digits):
    model = _model()
    h = fit(model, digits, epochs=1, batch_size=128,
            regularizer=lambda m: 1e-3 * sum(p.pow(2).sum() for p in m.parameters()))
    assert h["reg"][0] > 0
    with pytest.raises(ValueError, match="epochs"):
        fit(model, digits, epochs=-1)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        fit(model, digits, epochs=1, resume=True)


def test_nan_loss_is_reported(digits):
    model = _model()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(model, digits, epochs=1)


def test_torchrun_two_ranks_end_with_identical_weights(tmp_path):
    """DDP with gloo on CPU: both ranks hold the same weights after training."""
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=0", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0",
           str(worker), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    # training moved the weights away from the shared initialisation
    torch.manual_seed(0)
    init = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    assert not torch.equal(init[1].weight, r0["state"]["1.weight"])


def test_resume_refuses_changed_settings(tmp_path, digits):
    fit(_model(), digits, epochs=1, batch_size=64, lr=1e-3, seed=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"lr: 0\.001 → 0\.01"):
        fit(_model(), digits, epochs=2, batch_size=64, lr=1e-2, seed=1,
            checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="seed: 1 → 2"):
        fit(_model(), digits, epochs=2, batch_size=64, lr=1e-3, seed=2,
            checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="optimizer: 'Adam' → 'SGD'"):
        fit(_model(), digits, epochs=2, batch_size=64, seed=1, checkpoint_dir=tmp_path,
            resume=True, optimizer=lambda p: torch.optim.SGD(p, lr=1e-3))
    # the same settings resume (and more epochs is not a changed setting)
    h = fit(_model(), digits, epochs=2, batch_size=64, lr=1e-3, seed=1,
            checkpoint_dir=tmp_path, resume=True)
    assert len(h) == 2


def test_truncated_checkpoint_is_a_one_line_error(tmp_path, digits):
    from reprlab.checkpoint import CheckpointError

    fit(_model(), digits, epochs=1, batch_size=64, checkpoint_dir=tmp_path)
    path = tmp_path / "last.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"last\.pt is corrupt or truncated.*resume=False"):
        fit(_model(), digits, epochs=2, batch_size=64, checkpoint_dir=tmp_path, resume=True)


def test_bad_checkpoint_dir_and_numbers_fail_before_training(tmp_path, digits):
    blocker = tmp_path / "file"
    blocker.write_text("")
    calls = []
    with pytest.raises(ValueError, match="checkpoint_dir=.*is a file"):
        fit(_model(), digits, epochs=1, checkpoint_dir=blocker,
            on_epoch_end=lambda e, m: calls.append(e))
    assert calls == []
    for kwargs, name in [({"max_grad_norm": 0.0}, "max_grad_norm"),
                         ({"max_grad_norm": float("nan")}, "max_grad_norm"),
                         ({"lr": float("nan")}, "lr"), ({"lr": -1e-3}, "lr"),
                         ({"batch_size": 0}, "batch_size"), ({"epochs": 1.5}, "epochs")]:
        with pytest.raises(ValueError, match=name):
            fit(_model(), digits, **{"epochs": 1, **kwargs})
