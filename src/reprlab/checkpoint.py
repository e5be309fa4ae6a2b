"""Checkpoints and caches that cannot lie: atomic, and keyed on the settings that made them.

Every checkpoint or cache reprlab writes goes through this module:

* writes are atomic (a temporary file in the same folder, then ``os.replace``), so a kill
  never leaves a truncated file at the final path;
* a checkpoint carries the settings that produced it (config, seed, data identity, the
  method's format version) and their hash; loading with other settings either starts fresh
  with a message naming the difference (``on_mismatch="fresh"``) or refuses with that message
  (``"refuse"``) — it never resumes silently;
* a corrupt or truncated file raises :class:`CheckpointError`, one line naming the file and
  the way to start over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = [
    "CheckpointError",
    "SettingsMismatch",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_torch_save",
    "settings_hash",
    "settings_diff",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointStore",
    "check_writable_dir",
]

T = TypeVar("T")
_MAGIC = "reprlab-checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint or cache file that cannot be read (corrupt, truncated, foreign)."""


class SettingsMismatch(ValueError):
    """A checkpoint written with other settings than the current call's."""


def _canonical(obj: Any) -> Any:
    """Settings as plain JSON values (dataclasses, paths, tuples, tensors' shapes)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return {"tensor": list(obj.shape), "dtype": str(obj.dtype)}
    if isinstance(obj, float) and obj != obj:
        return "nan"
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A stable SHA-256 (hex) of ``settings`` in canonical JSON."""
    text = json.dumps(_canonical(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``["seed: 0 → 1", "config.lr: 0.001 → 0.01", …]`` between two settings mappings."""
    a, b = _canonical(old), _canonical(new)
    out: list[str] = []

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                key = f"{prefix}.{k}" if prefix else k
                if k not in x:
                    out.append(f"{key}: (absent) → {y[k]!r}")
                elif k not in y:
                    out.append(f"{key}: {x[k]!r} → (absent)")
                else:
                    walk(x[k], y[k], key)
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and \
                any(isinstance(v, (dict, list)) for v in x):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{prefix}[{i}]")
        elif x != y:
            out.append(f"{prefix or 'settings'}: {x!r} → {y!r}")

    walk(a, b, "")
    return out


def _tmp_path(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def save_checkpoint(path: str | Path, payload: Any, *, settings: Mapping[str, Any],
                    version: int = 1) -> Path:
    """Atomically save ``payload`` with the ``settings`` (and format ``version``) behind it."""
    header = {"magic": _MAGIC, "version": int(version), "settings": _canonical(settings),
              "hash": settings_hash({"settings": settings, "version": int(version)})}
    return atomic_torch_save({"header": header, "payload": payload}, path)


def load_checkpoint(path: str | Path, *, settings: Mapping[str, Any], version: int = 1,
                    on_mismatch: str = "refuse", fresh_hint: str = "--fresh") -> Any | None:
    """The payload saved at ``path`` by :func:`save_checkpoint` with the same settings.

    Returns ``None`` when there is no file. A file written with other settings or another
    format version raises :class:`SettingsMismatch` (``on_mismatch="refuse"``) or logs a
    warning and returns ``None`` (``"fresh"``); either message names every difference.
    A file that cannot be read raises :class:`CheckpointError` naming it and ``fresh_hint``.
    """
    if on_mismatch not in ("refuse", "fresh"):
        raise ValueError(f"on_mismatch must be 'refuse' or 'fresh', got {on_mismatch!r}")
    path = Path(path)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated/corrupt archives
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated "
                              f"({type(err).__name__}); delete it or start over with "
                              f"{fresh_hint}") from err
    header = blob.get("header") if isinstance(blob, dict) else None
    if not isinstance(header, dict) or header.get("magic") != _MAGIC:
        raise CheckpointError(f"{path} is not a reprlab checkpoint; delete it or start over "
                              f"with {fresh_hint}")
    want = settings_hash({"settings": settings, "version": int(version)})
    if header.get("hash") == want:
        return blob["payload"]
    diffs = settings_diff(header.get("settings", {}), settings)
    if header.get("version") != int(version):
        diffs.insert(0, f"format version: {header.get('version')} → {version}")
    msg = (f"checkpoint {path} was written with other settings ({'; '.join(diffs) or 'hash'})")
    if on_mismatch == "refuse":
        raise SettingsMismatch(f"{msg}; start over with {fresh_hint} or use another folder")
    # a user must see this even without logging configured: never resume silently
    print(f"reprlab: {msg}; starting fresh", file=sys.stderr, flush=True)
    return None


class CheckpointStore:
    """A folder of checkpoints that all share one set of settings.

    ``store.load(name)`` / ``store.save(name, obj)`` read and write ``<root>/<name>.pt``;
    ``store.cached(name, compute)`` returns the stored value or computes, saves and returns
    it. ``extra`` settings (e.g. one model's own hyper-parameters) may be added per call.
    ``root=None`` gives a store that never saves (every ``cached`` computes).
    """

    def __init__(self, root: str | Path | None, settings: Mapping[str, Any], *,
                 version: int = 1, on_mismatch: str = "fresh",
                 fresh_hint: str = "--fresh") -> None:
        if on_mismatch not in ("refuse", "fresh"):
            raise ValueError(f"on_mismatch must be 'refuse' or 'fresh', got {on_mismatch!r}")
        self.root = None if root is None else Path(root)
        if self.root is not None:
            check_writable_dir(self.root, "checkpoint folder")
        self.settings = dict(settings)
        self.version = version
        self.on_mismatch = on_mismatch
        self.fresh_hint = fresh_hint

    def path(self, name: str) -> Path:
        if self.root is None:
            raise ValueError("this CheckpointStore has no folder (root=None)")
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"checkpoint name must be a plain file stem, got {name!r}")
        return self.root / f"{name}.pt"

    def _settings(self, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**self.settings, **({"extra": dict(extra)} if extra else {})}

    def load(self, name: str, extra: Mapping[str, Any] | None = None) -> Any | None:
        if self.root is None:
            return None
        return load_checkpoint(self.path(name), settings=self._settings(extra),
                               version=self.version, on_mismatch=self.on_mismatch,
                               fresh_hint=self.fresh_hint)

    def save(self, name: str, payload: Any, extra: Mapping[str, Any] | None = None) -> None:
        if self.root is None:
            return
        save_checkpoint(self.path(name), payload, settings=self._settings(extra),
                        version=self.version)

    def cached(self, name: str, compute: Callable[[], T],
               extra: Mapping[str, Any] | None = None) -> T:
        """The stored value of ``name``, or ``compute()`` saved under that name."""
        value = self.load(name, extra)
        if value is None:
            value = compute()
            self.save(name, value, extra)
        return value

    def subfolder(self, name: str) -> Path | None:
        """``<root>/<name>/`` created (for tools with their own checkpoint files), or None."""
        if self.root is None:
            return None
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def check_writable_dir(path: str | Path, arg: str = "checkpoint_dir") -> Path:
    """Create ``path`` if needed and check it is a writable folder, before any work starts.

    Raises ``ValueError`` for a path that is a file and ``PermissionError`` for a folder that
    cannot be written, naming ``arg`` and the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{arg}={str(path)!r} is a file, not a folder; pass a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"{arg}={str(path)!r} cannot be created: {err.strerror}; pass a "
                              "writable folder") from err
    try:
        probe = _tmp_path(path / "probe")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"{arg}={str(path)!r} is not writable: {err.strerror}; pass a "
                              "writable folder") from err
    return path
