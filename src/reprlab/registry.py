"""The method registry: ``@register_method``, ``list_methods(pattern)``, ``get_method(name)``.

A method registers its pre-declared claims (:class:`~reprlab.claims.ClaimSpec`), its configs
(``tiny``, ``quick``, ``full`` at least) and one ``run(ctx, cfg) -> MethodReport``.

Each method section registers its reproduction in ``reprlab/<section>/reproduce.py``. The
registry finds those modules by scanning the package, so adding a method never edits the CLI
or this file (the timm ``_registry`` pattern).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reprlab.claims import ClaimSpec

__all__ = ["Method", "register_method", "list_methods", "get_method", "create",
           "REQUIRED_CONFIGS"]


@dataclass(frozen=True)
class Method:
    """A reproducible method: its name, its pre-registered claims, its configs, its runner.

    ``run(ctx, cfg)`` receives a :class:`reprlab.reproduce.ReproduceContext` and one of
    ``configs`` (``"tiny"`` for smoke tests, ``"quick"`` for ``--quick``, ``"full"`` for the
    paper-sized run this hardware allows, and any others) and returns a
    :class:`reprlab.report.MethodReport` whose claims are exactly ``claims``, in order.
    ``seconds`` is the expected wall time per config on 2 cores (progress estimates).
    """

    name: str
    run: Callable[..., Any]
    summary: str
    paper: str
    claims: tuple[ClaimSpec, ...]
    configs: Mapping[str, Any]
    seconds: Mapping[str, float] = field(default_factory=dict)
    version: int = 1

    @property
    def claim_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.claims)

    def config(self, name: str) -> Any:
        """The config called ``name``; ``KeyError`` lists the known ones."""
        if name not in self.configs:
            raise KeyError(f"method {self.name!r} has no config {name!r}; known configs: "
                           f"{', '.join(self.configs)}")
        return self.configs[name]


_METHODS: dict[str, Method] = {}
_DISCOVERED = False
REQUIRED_CONFIGS = ("tiny", "quick", "full")


def register_method(
    name: str, *, summary: str, paper: str, claims: Sequence[ClaimSpec],
    configs: Mapping[str, Any], seconds: Mapping[str, float] | None = None, version: int = 1,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``run(ctx, cfg) -> MethodReport`` as method ``name``.

    ``claims`` are the method's :class:`~reprlab.claims.ClaimSpec` s, declared before any run;
    ``configs`` maps config names to config objects and must hold ``tiny``, ``quick`` and
    ``full``. ``version`` is the method's checkpoint format version (bump it when a saved
    object's layout changes, so old checkpoints are not resumed).
    """
    missing = [c for c in REQUIRED_CONFIGS if c not in configs]
    if missing:
        raise ValueError(f"method {name!r}: configs lack {missing}")
    bad = [c for c in claims if not isinstance(c, ClaimSpec)]
    if bad:
        raise TypeError(f"method {name!r}: claims must be ClaimSpec, got {bad[:1]}")
    names = [c.name for c in claims]
    if not names:
        raise ValueError(f"method {name!r} declares no claims")
    if len(set(names)) != len(names):
        raise ValueError(f"method {name!r}: claim names repeat: {names}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _METHODS and _METHODS[name].run is not fn:
            raise ValueError(f"method {name!r} is registered twice")
        _METHODS[name] = Method(name=name, run=fn, summary=summary, paper=paper,
                                claims=tuple(claims), configs=dict(configs),
                                seconds=dict(seconds or {}), version=version)
        return fn

    return decorator


def _discover() -> None:
    """Import every ``reprlab.<section>.reproduce`` module once."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import reprlab

    for info in pkgutil.iter_modules(reprlab.__path__):
        if not info.ispkg:
            continue
        spec = importlib.util.find_spec(f"reprlab.{info.name}.reproduce")
        if spec is not None:
            importlib.import_module(f"reprlab.{info.name}.reproduce")
    _DISCOVERED = True


def list_methods(pattern: str = "*") -> list[str]:
    """Names of registered methods matching a shell-style wildcard, sorted."""
    _discover()
    return sorted(n for n in _METHODS if fnmatch.fnmatch(n, pattern))


def get_method(name: str) -> Method:
    """The registered :class:`Method` called ``name``; ``KeyError`` lists the known ones."""
    _discover()
    if name not in _METHODS:
        known = ", ".join(sorted(_METHODS)) or "(none)"
        raise KeyError(f"unknown method {name!r}; known methods: {known}")
    return _METHODS[name]


def create(name: str) -> Method:
    """Alias of :func:`get_method`, in the ``timm.create_model`` spirit."""
    return get_method(name)
