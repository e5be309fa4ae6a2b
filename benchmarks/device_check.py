"""Every method's tiny config on CUDA (when present) and in float64 on CPU: pass/fail, seconds.

    python benchmarks/device_check.py [METHOD ...]

Each run goes through ``reprlab.reproduce.run_method`` with ``device``/``dtype`` set on the
context and torch's default device and dtype switched for the duration, so tensors a method
creates without naming a device or dtype land there too. A failure prints its first error
line; the exit code is the number of failed runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator

import torch

from reprlab.registry import get_method, list_methods
from reprlab.reproduce import run_method


@contextlib.contextmanager
def _defaults(device: str, dtype: torch.dtype) -> Iterator[None]:
    old_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(old_dtype)


def _check(name: str, device: str, dtype: torch.dtype) -> tuple[bool, float, str]:
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as out, _defaults(device, dtype):
            report = run_method(name, config="tiny", out=out, device=device, dtype=dtype)
        verdicts = ", ".join(sorted({c.verdict for c in report.claims}))
        return True, time.perf_counter() - start, verdicts
    except Exception as err:  # report every failure and go on with the next method
        line = traceback.format_exception_only(type(err), err)[-1].strip()
        return False, time.perf_counter() - start, line[:160]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*")
    args = parser.parse_args()
    names = args.methods or [n for n in list_methods()
                             if get_method(n).run.__module__.startswith("reprlab.")]
    targets = [("cpu", torch.float64)]
    if torch.cuda.is_available():
        targets.insert(0, ("cuda", torch.float32))
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print("CUDA: not available here; only the float64 CPU runs")
    failures = 0
    for name in names:
        for device, dtype in targets:
            ok, seconds, detail = _check(name, device, dtype)
            failures += not ok
            print(f"{name:<22}{device:<6}{str(dtype).removeprefix('torch.'):<9}"
                  f"{'pass' if ok else 'FAIL':<6}{seconds:>7.1f} s  {detail}", flush=True)
    print(f"{failures} failed")
    return failures


if __name__ == "__main__":
    sys.exit(main())
