"""The method registry: ``@register_method``, ``list_methods(pattern)``, ``get_method(name)``.

Each method section registers its reproduction in ``reprlab/<section>/reproduce.py``. The
registry finds those modules by scanning the package, so adding a method never edits the CLI
or this file (the timm ``_registry`` pattern).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Method", "register_method", "list_methods", "get_method", "create"]


@dataclass(frozen=True)
class Method:
    """A reproducible method: its name, what it claims, and the function that checks it.

    ``run(ctx)`` receives a :class:`reprlab.reproduce.ReproduceContext` and returns a
    :class:`reprlab.report.MethodReport`.
    """

    name: str
    run: Callable[..., Any]
    summary: str
    paper: str
    claims: tuple[str, ...] = field(default_factory=tuple)


_METHODS: dict[str, Method] = {}
_DISCOVERED = False


def register_method(
    name: str, *, summary: str, paper: str, claims: tuple[str, ...] | list[str] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn(ctx) -> MethodReport`` as method ``name``."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _METHODS and _METHODS[name].run is not fn:
            raise ValueError(f"method {name!r} is registered twice")
        _METHODS[name] = Method(name=name, run=fn, summary=summary, paper=paper,
                                claims=tuple(claims))
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
