"""Non-negative sparse coding: reprlab FISTA vs scikit-learn ``sparse_encode(positive=True)``.

10,000 signals, 384 dims, 2,000 unit atoms; the same problem ½‖x − aΦ‖² + λ‖a‖₁, a ≥ 0
(sklearn's ``alpha`` for ``lasso_cd`` is λ: it divides by n_features internally). Prints the
time of each, the speed-up and the relative objective gap. ``--sk-rows`` times scikit-learn on
a subset and scales linearly (its per-row solves are independent) when the full run is too
slow for a shared machine; the printout says so.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sparse_encode_vs_sklearn.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reprlab.sparse import functional as F


def make_problem(n: int, d: int, k: int, *, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    phi = F.normalize_atoms(torch.randn(k, d, generator=g))
    idx = torch.argsort(torch.rand(n, k, generator=g), 1)[:, :10]
    codes = torch.zeros(n, k).scatter_(1, idx, torch.rand(n, 10, generator=g))
    x = codes @ phi + 0.05 * torch.randn(n, d, generator=g)
    return x / x.norm(dim=1, keepdim=True), phi


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=2_000)
    p.add_argument("--lam", type=float, default=0.05)
    p.add_argument("--sk-rows", type=int, default=0, help="0: time sklearn on all rows")
    p.add_argument("--tol", type=float, default=1e-2,
                   help="FISTA relative-change tolerance (the target allows a 1%% gap)")
    p.add_argument("--kkt-tol", type=float, default=0.1,
                   help="relative KKT slack accepted by the working-set solver")
    p.add_argument("--working-set", type=int, default=32,
                   help="FISTA working-set size (0: plain dense FISTA)")
    args = p.parse_args()
    from sklearn.decomposition import sparse_encode as sk_encode

    x, phi = make_problem(args.n, args.d, args.k)
    t0 = time.perf_counter()
    ours, n_iter = F.sparse_encode(x, phi, lam=args.lam, tol=args.tol, max_iter=2000,
                                   working_set=args.working_set or None, kkt_tol=args.kkt_tol,
                                   return_n_iter=True)
    t_ours = time.perf_counter() - t0
    rows = args.sk_rows or args.n
    xs = x[:rows].double().numpy()
    t0 = time.perf_counter()
    ref = sk_encode(xs, phi.double().numpy(), algorithm="lasso_cd", alpha=args.lam,
                    positive=True, max_iter=1000)
    t_sk = (time.perf_counter() - t0) * args.n / rows
    obj_ours = F.objective(x[:rows].double(), phi.double(), ours[:rows].double(), lam=args.lam)
    obj_sk = F.objective(x[:rows].double(), phi.double(), torch.from_numpy(ref), lam=args.lam)
    print(f"problem: {args.n} x {args.d}, {args.k} atoms, lambda={args.lam}, threads="
          f"{torch.get_num_threads()}")
    mode = f"working set {args.working_set}" if args.working_set else "dense"
    print(f"reprlab sparse_encode (FISTA {mode}, float32, {n_iter} it): {t_ours:8.2f} s  "
          f"mean L0 {F.mean_l0(ours):.1f}")
    extra = f" (timed on {rows} rows, scaled x{args.n / rows:.1f})" if rows < args.n else ""
    print(f"sklearn sparse_encode lasso_cd positive: {t_sk:8.2f} s{extra}  "
          f"mean L0 {np.mean((ref > 0).sum(1)):.1f}")
    print(f"speed-up: {t_sk / t_ours:.1f}x   objective: ours {obj_ours:.6f} sklearn "
          f"{obj_sk:.6f}  relative gap {(obj_ours - obj_sk) / abs(obj_sk):+.2%}")


if __name__ == "__main__":
    main()
