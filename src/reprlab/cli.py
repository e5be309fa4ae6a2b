"""The ``reprlab`` command line: thin flag parsing over library calls.

Built-in commands: ``reproduce``, ``list``, ``report``. A method section may add its own
commands by defining ``register_subcommand(subparsers)`` in ``reprlab/<section>/cli.py``;
each registered parser sets ``func(args) -> int``. Adding a section never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error the CLI reports as one line and exit code 2."""


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from reprlab.registry import get_method
    from reprlab.report.text import format_claim_line
    from reprlab.reproduce import run_reproduce

    config = "quick" if args.quick else (args.config or "full")
    for name in args.methods:
        try:
            get_method(name).config(config)
        except KeyError as err:
            raise CLIError(str(err.args[0])) from err
    if not args.jobs >= 1:
        raise CLIError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        reports = run_reproduce(args.methods, config=config, out=args.out, seed=args.seed,
                                fresh=args.fresh, quiet=args.quiet, jobs=args.jobs)
    except PermissionError as err:
        raise CLIError(str(err)) from err
    if not args.quiet:
        for rep in reports:
            print(f"{rep.method} ({rep.config_name}): {rep.seconds:.1f} s")
            for c in rep.claims:
                print("  " + format_claim_line(c))
    print(f"report: {args.out}/report.html")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from reprlab.registry import get_method, list_methods

    for name in list_methods(args.pattern):
        m = get_method(name)
        print(f"{name}: {m.summary}  [{m.paper}]  configs: {', '.join(m.configs)}")
        for spec in m.claims:
            if spec.not_run:
                print(f"  - {spec.name}  (not run: {spec.not_run})")
                continue
            crit = spec.criterion_texts()
            print(f"  - {spec.name}\n      reproduced: {crit['reproduced']}"
                  f"\n      partial: {crit['partial']}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from reprlab.report import build_html

    try:
        path = build_html(args.dir)
        if args.docs:
            from reprlab.report.docs import update_docs

            for doc in update_docs(args.dir, args.docs):
                print(doc)
    except FileNotFoundError as err:
        raise CLIError(str(err)) from err
    print(path)
    return 0


def _section_commands(subparsers: argparse._SubParsersAction) -> None:
    import reprlab

    for info in pkgutil.iter_modules(reprlab.__path__):
        if not info.ispkg or importlib.util.find_spec(f"reprlab.{info.name}.cli") is None:
            continue
        module = importlib.import_module(f"reprlab.{info.name}.cli")
        register = getattr(module, "register_subcommand", None)
        if register is not None:
            register(subparsers)


def _default_jobs() -> int:
    """Two methods at once where there are two cores or more (each gets half the threads)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reprlab", description="Learn, structure and open up neural representations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("reproduce", help="reproduce methods' paper claims and write a report")
    p.add_argument("methods", nargs="*", metavar="METHOD",
                   help="methods to run (default: all; see `reprlab list`)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="CPU-sized run, all methods in <= 15 min on 2 cores (= --config quick)")
    size.add_argument("--config", metavar="NAME",
                      help="a registered config: tiny (seconds), quick, full (default: full, "
                           "the paper-sized run this hardware allows; resumable)")
    p.add_argument("--out", default="reprlab-out", help="report folder (default: reprlab-out)")
    p.add_argument("--seed", type=int, default=0, help="first random seed (default: 0)")
    p.add_argument("--fresh", action="store_true",
                   help="discard the methods' checkpoints and caches under OUT first")
    p.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    p.add_argument("--jobs", type=int, default=_default_jobs(),
                   help="methods run at once in worker processes (default: %(default)s)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("list", help="list methods and the claims they reproduce")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard filter, e.g. 'fa*'")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("report", help="(re)build DIR/report.html from DIR/*.json")
    p.add_argument("dir", help="a folder written by `reprlab reproduce --out DIR`")
    p.add_argument("--docs", metavar="DOCS",
                   help="also rewrite the claims table of each DOCS/<method>.md from DIR")
    p.set_defaults(func=_cmd_report)

    _section_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from reprlab.checkpoint import CheckpointError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, PermissionError, CheckpointError) as err:
        # user errors (bad values, missing files or data sets): one line, exit code 2
        print(f"reprlab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
