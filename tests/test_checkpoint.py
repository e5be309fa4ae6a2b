"""Checkpoints: atomic, keyed on their settings, a clear error for a corrupt file."""

import os

import pytest
import torch

from reprlab.checkpoint import (
    CheckpointError,
    CheckpointStore,
    SettingsMismatch,
    atomic_write_text,
    check_writable_dir,
    load_checkpoint,
    save_checkpoint,
    settings_diff,
    settings_hash,
)


def test_round_trip_and_changed_settings(tmp_path, capsys):
    path = tmp_path / "m.pt"
    settings = {"config": {"lr": 0.1, "widths": (4, 8)}, "seed": 0}
    save_checkpoint(path, {"w": torch.ones(3)}, settings=settings, version=1)
    assert torch.equal(load_checkpoint(path, settings=settings)["w"], torch.ones(3))
    other = {"config": {"lr": 0.1, "widths": (4, 8)}, "seed": 1}
    with pytest.raises(SettingsMismatch, match="seed: 0 → 1.*--fresh"):
        load_checkpoint(path, settings=other)
    assert load_checkpoint(path, settings=other, on_mismatch="fresh") is None
    assert "(seed: 0 → 1); starting fresh" in capsys.readouterr().err
    with pytest.raises(SettingsMismatch, match="format version: 1 → 2"):
        load_checkpoint(path, settings=settings, version=2)
    assert load_checkpoint(tmp_path / "absent.pt", settings=settings) is None


def test_truncated_and_foreign_files_name_the_file_and_the_flag(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, list(range(1000)), settings={})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"m\.pt is corrupt or truncated.*--fresh"):
        load_checkpoint(path, settings={})
    torch.save({"model": 1}, path)
    with pytest.raises(CheckpointError, match="not a reprlab checkpoint"):
        load_checkpoint(path, settings={})


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("killed mid-write")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"  # the final path never holds a half-written file
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no stray temporary


def test_store_caches_per_settings(tmp_path):
    calls = []
    store = CheckpointStore(tmp_path, {"seed": 0})
    assert store.cached("x", lambda: calls.append(1) or 5) == 5
    assert store.cached("x", lambda: calls.append(1) or 6) == 5 and calls == [1]
    assert CheckpointStore(tmp_path, {"seed": 1}).cached("x", lambda: 7) == 7
    assert store.cached("x", lambda: 8, extra={"data": "abc"}) == 8
    assert CheckpointStore(None, {}).cached("x", lambda: 9) == 9
    with pytest.raises(ValueError, match="plain file stem"):
        store.path("../escape")


def test_bad_folders_are_rejected_up_front(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir=.*is a file"):
        check_writable_dir(blocker)
    with pytest.raises(PermissionError, match="cannot be created"):
        check_writable_dir(blocker / "sub")
    with pytest.raises(ValueError, match="is a file"):
        CheckpointStore(blocker, {})


def test_settings_hash_is_canonical():
    assert settings_hash({"a": 1, "b": (1, 2)}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})
    assert settings_diff({"g": [{"lr": 1}]}, {"g": [{"lr": 2}]}) == ["g[0].lr: 1 → 2"]
