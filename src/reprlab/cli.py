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
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error the CLI reports as one line and exit code 2."""


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from reprlab.registry import get_method
    from reprlab.reproduce import run_reproduce

    for name in args.methods:
        try:
            get_method(name)
        except KeyError as err:
            raise CLIError(str(err.args[0])) from err
    try:
        reports = run_reproduce(args.methods, quick=args.quick, out=args.out, seed=args.seed)
    except PermissionError as err:
        raise CLIError(str(err)) from err
    for rep in reports:
        print(f"{rep.method}: {rep.seconds:.1f} s")
        for c in rep.claims:
            print(f"  [{c.verdict:>14}] {c.name}: measured {c.measured_value} "
                  f"(paper {c.paper_value})")
    print(f"report: {args.out}/report.html")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from reprlab.registry import get_method, list_methods

    for name in list_methods(args.pattern):
        m = get_method(name)
        print(f"{name}: {m.summary}  [{m.paper}]")
        for claim in m.claims:
            print(f"  - {claim}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from reprlab.report import build_html

    try:
        path = build_html(args.dir)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reprlab", description="Learn, structure and open up neural representations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("reproduce", help="reproduce methods' paper claims and write a report")
    p.add_argument("methods", nargs="*", metavar="METHOD",
                   help="methods to run (default: all; see `reprlab list`)")
    p.add_argument("--quick", action="store_true", help="CPU-sized run (minutes)")
    p.add_argument("--out", default="reprlab-out", help="report folder (default: reprlab-out)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("list", help="list methods and the claims they reproduce")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard filter, e.g. 'fa*'")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("report", help="(re)build DIR/report.html from DIR/*.json")
    p.add_argument("dir", help="a folder written by `reprlab reproduce --out DIR`")
    p.set_defaults(func=_cmd_report)

    _section_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, PermissionError) as err:
        # user errors (bad values, missing files or data sets): one line, exit code 2
        print(f"reprlab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
