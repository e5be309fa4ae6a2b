"""Run methods' claims and write ``<out>/<method>.json`` plus ``<out>/report.html``.

Every method is one ``run(ctx, cfg) -> MethodReport`` (see :mod:`reprlab.registry`). The
runner gives it a :class:`ReproduceContext` — the config's name, the output and work folders,
the seeds, a :class:`~reprlab.checkpoint.CheckpointStore` keyed on the run's settings — then
checks that the emitted claims are exactly the registered ones, writes the JSON and refreshes
the report after each method, printing each method's start, end and an estimate of what
remains.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reprlab.checkpoint import CheckpointStore, check_writable_dir
from reprlab.registry import Method, get_method, list_methods
from reprlab.report import MethodReport, build_html, write_method_json
from reprlab.utils import progress_bar, progress_enabled

__all__ = ["ReproduceContext", "run_reproduce", "run_method", "check_claims"]

log = logging.getLogger(__name__)


@dataclass
class ReproduceContext:
    """What a method's ``run(ctx, cfg)`` is given.

    ``config_name`` is ``tiny``, ``quick``, ``full`` or another registered config; ``out`` is
    the report folder; ``work_dir`` (``<out>/<method>/work/<config_name>``) holds checkpoints
    and caches, which :attr:`store` keys on the config, seed, dtype and device, so a re-run
    resumes only a run with the same settings. ``seed`` is the first seed; :meth:`seeds` gives
    the seeds of a claim that needs several. ``device`` / ``dtype`` are where and in what
    precision the method should compute (``benchmarks/device_check.py`` sets them).
    """

    method: str
    config_name: str
    config: Any
    out: Path
    seed: int = 0
    progress: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    version: int = 1
    work_dir: Path | None = None
    _store: CheckpointStore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.device = torch.device(self.device)
        if self.work_dir is None:
            self.work_dir = self.out / self.method / "work" / self.config_name
        self.work_dir = Path(self.work_dir)

    @property
    def quick(self) -> bool:
        """True for every config but ``full`` (smaller than the paper-sized run)."""
        return self.config_name != "full"

    def seeds(self, n: int) -> list[int]:
        """``n`` consecutive seeds starting at :attr:`seed`."""
        if not n >= 1:
            raise ValueError(f"number of seeds must be >= 1, got {n}")
        return [self.seed + i for i in range(int(n))]

    def config_dict(self) -> Any:
        """The config as plain values (a dataclass config as its dict)."""
        cfg = self.config
        if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return dataclasses.asdict(cfg)
        return cfg

    def settings(self) -> dict[str, Any]:
        """What a checkpoint of this run is keyed on."""
        return {"method": self.method, "config_name": self.config_name,
                "config": self.config_dict(),
                "seed": self.seed, "dtype": str(self.dtype), "device": self.device.type}

    @property
    def store(self) -> CheckpointStore:
        """The run's checkpoint store (``<work_dir>``); a changed setting starts fresh."""
        if self._store is None:
            self._store = CheckpointStore(self.work_dir, self.settings(), version=self.version,
                                          on_mismatch="fresh", fresh_hint="--fresh")
        return self._store

    def new_report(self, **kwargs: Any) -> MethodReport:
        """An empty :class:`MethodReport` for this method, with the config recorded."""
        cfg = self.config_dict()
        return MethodReport(self.method, config=dict(cfg) if isinstance(cfg, dict) else
                            {"config": cfg}, config_name=self.config_name, seed=self.seed,
                            **kwargs)

    def bar(self, iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
        """A tqdm bar, shown when this run's progress is on."""
        return progress_bar(iterable, enabled=self.progress, **kwargs)


def check_claims(method: Method, report: MethodReport) -> None:
    """Raise ``RuntimeError`` unless ``report`` holds exactly ``method``'s registered claims."""
    emitted = [c.name for c in report.claims]
    registered = list(method.claim_names)
    if emitted != registered:
        extra = [n for n in emitted if n not in registered]
        missing = [n for n in registered if n not in emitted]
        raise RuntimeError(f"method {method.name!r} emitted claims that differ from its "
                           f"registered ones: missing {missing}, unregistered {extra}"
                           + ("" if extra or missing else " (order or repeats differ)"))


def run_method(method: Method | str, *, config: str = "quick", out: str | Path = "reprlab-out",
               seed: int = 0, progress: bool = False, fresh: bool = False,
               device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> MethodReport:
    """Run one method's config and return its checked :class:`MethodReport` (writes nothing
    but the method's own work files)."""
    method = get_method(method) if isinstance(method, str) else method
    cfg = method.config(config)
    ctx = ReproduceContext(method=method.name, config_name=config, config=cfg, out=Path(out),
                           seed=seed, progress=progress, device=device, dtype=dtype,
                           version=method.version)
    if fresh and ctx.work_dir is not None and ctx.work_dir.exists():
        shutil.rmtree(ctx.work_dir)
    check_writable_dir(ctx.work_dir, "work folder")
    torch.manual_seed(seed)
    start = time.perf_counter()
    report: MethodReport = method.run(ctx, cfg)
    report.seconds = time.perf_counter() - start
    report.config_name, report.seed = config, seed
    check_claims(method, report)
    return report


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _worker_run(name: str, config: str, out: str, seed: int, fresh: bool,
                threads: int) -> MethodReport:
    """One method in a worker process (``--jobs > 1``): its own torch thread budget."""
    torch.set_num_threads(threads)
    return run_method(name, config=config, out=out, seed=seed, progress=False, fresh=fresh)


def run_reproduce(
    methods: Sequence[str] | None = None,
    *,
    config: str = "quick",
    out: str | Path = "reprlab-out",
    seed: int = 0,
    fresh: bool = False,
    quiet: bool = False,
    progress: bool | None = None,
    jobs: int = 1,
) -> list[MethodReport]:
    """Reproduce the named methods (all registered ones when empty) and write the report.

    ``jobs > 1`` runs that many methods at once in worker processes, each with
    ``cores // jobs`` torch threads, longest expected first (both cores busy on a 2-core
    machine; every method is still seeded and deterministic on its own). Returns the
    :class:`MethodReport` of each method in the order named. Unknown method or config names
    and an unusable ``out`` raise before anything runs.
    """
    names = list(methods) if methods else list_methods()
    resolved = [get_method(n) for n in names]
    if len({m.name for m in resolved}) != len(resolved):
        raise ValueError(f"methods named twice: {names}")
    for m in resolved:
        m.config(config)  # fail early on an unknown config
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    out = check_writable_dir(out, "--out")
    if progress is None:
        progress = progress_enabled() and not quiet
    expected = {m.name: float(m.seconds.get(config, 60.0)) for m in resolved}
    total_expected = sum(expected.values())
    state = {"done": 0, "elapsed": 0.0, "expected_done": 0.0}
    wall0 = time.perf_counter()

    def finished(report: MethodReport) -> None:
        write_method_json(report, out)
        build_html(out)  # refresh after each method so a long run shows its progress
        state["done"] += 1
        state["expected_done"] += expected[report.method]
        wall = time.perf_counter() - wall0
        left = total_expected - state["expected_done"]
        rate = wall / max(state["expected_done"], 1e-9)
        counts = report.verdict_counts()
        _say(quiet, f"[{state['done']}/{len(resolved)}] {report.method} done in "
                    f"{report.seconds:.0f} s ("
                    + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ")"
                    + (f"; about {left * rate / 60:.1f} min left" if left > 0 else ""))

    reports: dict[str, MethodReport] = {}
    jobs = min(jobs, len(resolved))
    if jobs == 1:
        for i, method in enumerate(resolved):
            _say(quiet, f"[{i + 1}/{len(resolved)}] {method.name} ({config}) started, "
                        f"expected {expected[method.name]:.0f} s")
            reports[method.name] = run_method(method, config=config, out=out, seed=seed,
                                              progress=progress, fresh=fresh)
            finished(reports[method.name])
    else:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        threads = max(1, (os.cpu_count() or 1) // jobs)
        order = sorted(resolved, key=lambda m: -expected[m.name])
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            pending = {}
            for m in order:
                pending[pool.submit(_worker_run, m.name, config, str(out), seed, fresh,
                                    threads)] = m.name
            _say(quiet, f"running {len(order)} methods ({config}), {jobs} at a time with "
                        f"{threads} thread(s) each; expected about "
                        f"{total_expected / jobs / 60:.1f} min")
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    name = pending.pop(fut)
                    reports[name] = fut.result()
                    finished(reports[name])
    return [reports[m.name] for m in resolved]
