"""Wall time of ``reprlab reproduce --quick`` per method, against the 15-minute budget.

    python benchmarks/reproduce_time.py [--config quick] [--jobs 2] [METHOD ...]

Prints each method's seconds (as the method measured them, inside its worker), the whole
run's wall time, its ratio to the 900 s budget of the main job, and how many cores were busy
on average (CPU seconds of this process and its workers / wall seconds).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from reprlab.reproduce import run_reproduce

BUDGET_S = 900.0


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*")
    parser.add_argument("--config", default="quick")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="keep the report here (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        reports = run_reproduce(args.methods or None, config=args.config, out=out,
                                jobs=args.jobs, quiet=True, fresh=True)
        wall = time.perf_counter() - wall0
        cpu = _cpu_seconds() - cpu0
    print(f"{'method':<22}{'seconds':>10}")
    for rep in sorted(reports, key=lambda r: -r.seconds):
        print(f"{rep.method:<22}{rep.seconds:>10.1f}")
    print(f"{'sum of methods':<22}{sum(r.seconds for r in reports):>10.1f}")
    print(f"wall {wall:.1f} s with --jobs {args.jobs}: {wall / BUDGET_S:.2f}x the 900 s budget; "
          f"{cpu / wall:.2f} cores busy on average")


if __name__ == "__main__":
    main()
