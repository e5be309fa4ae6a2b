"""Run methods' claims and write ``<out>/<method>.json`` plus ``<out>/report.html``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from reprlab.registry import get_method, list_methods
from reprlab.report import MethodReport, build_html, write_method_json
from reprlab.utils import progress_enabled

__all__ = ["ReproduceContext", "run_reproduce"]

log = logging.getLogger(__name__)


@dataclass
class ReproduceContext:
    """What a method's ``reproduce`` function is given.

    ``quick`` selects the CPU-sized run; ``out`` is the report folder; ``work_dir`` is where
    the method may keep checkpoints and caches (``<out>/<method>/work``), so a re-run of an
    interrupted full-size job resumes from there; ``progress`` turns tqdm bars on or off.
    """

    method: str
    quick: bool
    out: Path
    seed: int = 0
    progress: bool = True
    work_dir: Path = field(default=Path("."))

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.work_dir == Path("."):
            self.work_dir = self.out / self.method / "work"
        self.work_dir.mkdir(parents=True, exist_ok=True)


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create output folder {out}: {err.strerror}") from err
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output folder {out} is not writable; pass --out DIR")


def run_reproduce(
    methods: Sequence[str] | None = None,
    *,
    quick: bool = False,
    out: str | Path = "reprlab-out",
    seed: int = 0,
    progress: bool | None = None,
) -> list[MethodReport]:
    """Reproduce the named methods (all registered ones when empty) and write the report.

    Returns the :class:`MethodReport` of each method, in order. Unknown names raise
    ``KeyError`` before anything runs.
    """
    names = list(methods) if methods else list_methods()
    resolved = [get_method(n) for n in names]  # fail early on unknown names
    out = Path(out)
    _check_out_dir(out)
    if progress is None:
        progress = progress_enabled()
    reports = []
    for method in resolved:
        torch.manual_seed(seed)
        ctx = ReproduceContext(method=method.name, quick=quick, out=out, seed=seed,
                               progress=progress)
        start = time.perf_counter()
        report: MethodReport = method.run(ctx)
        report.seconds = time.perf_counter() - start
        report.config.setdefault("quick", quick)
        report.config.setdefault("seed", seed)
        write_method_json(report, out)
        build_html(out)  # refresh after each method so a long run shows progress
        reports.append(report)
    return reports

