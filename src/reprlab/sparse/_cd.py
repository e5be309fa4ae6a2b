"""Compiled per-row coordinate descent with working sets: the CPU fast path of
:func:`reprlab.sparse.sparse_encode` (imported lazily; it needs numba).

Each row solves min_a ½aᵀGa − cᵀa + λ‖a‖₁ (a ≥ 0 when ``positive``), G = ΦΦᵀ the
dictionary's Gram matrix and c = xΦᵀ, in float64, independently of the other rows (rows in
parallel). A row works on a working set W — its support plus the atoms whose optimality
conditions fail most, at least doubling while many fail — by cyclic coordinate descent
(Friedman et al. 2010; an update changes the correlations q = c − Ga on W by one Gram row).
Once a sweep leaves the support unchanged, an exact step solves G_SS z = c_S − λ·sign(a_S)
on it (kept when the signs hold: it minimises the objective on that face), which ends the
slow linear tail of coordinate descent on coherent atoms. Then q is recomputed over *all*
atoms from scratch and the KKT conditions are checked there; violators join W and the row
is solved again, warm, until the full check passes (the certificate) or ``max_rounds``.

Why per row and compiled: batched over rows, every row of a round waits for the slowest and
each update is a tensor operation over gathered Gram blocks; per row, a round costs
O(sweeps·changes·|W| + |S|·K) scalar work and no gathers. On coherent dictionaries, where
support atoms lie far down the initial correlation ranking and need several rounds, this is
several times faster than batched FISTA.
"""

from __future__ import annotations

import os

import numba as nb
import numpy as np

__all__ = ["encode_rows"]


@nb.njit(cache=True)
def _residual_corr(q, c, x, gram, ws, n_ws):  # pragma: no cover - compiled
    """q = c − Σ_i x_i G[i, :] over the nonzeros of x (all in ws), exactly."""
    q[:] = c
    for t in range(n_ws):
        i = ws[t]
        xi = x[i]
        if xi != 0.0:
            gi = gram[i]
            for k in range(q.shape[0]):
                q[k] -= xi * gi[k]


@nb.njit(cache=True)
def _dist(qj, xj, lam, positive):  # pragma: no cover - compiled
    """Distance of one correlation to λ·∂|x_j| (+ the a ≥ 0 cone)."""
    if xj > 0.0:
        return abs(qj - lam)
    if xj < 0.0:
        return abs(qj + lam)
    v = qj - lam if positive else abs(qj) - lam
    return v if v > 0.0 else 0.0


@nb.njit(cache=True)
def _cholesky_solve(m, b):  # pragma: no cover - compiled
    """Solve m z = b in place (z in b) by Cholesky, m symmetric; False (and m, b
    clobbered) when a pivot is not clearly positive. No exceptions: this runs in prange."""
    n = m.shape[0]
    scale = 0.0
    for i in range(n):
        scale = max(scale, m[i, i])
    floor = 1e-12 * scale
    for j in range(n):
        d = m[j, j]
        for t in range(j):
            d -= m[j, t] * m[j, t]
        if not d > floor:
            return False
        d = np.sqrt(d)
        m[j, j] = d
        for i in range(j + 1, n):
            v = m[i, j]
            for t in range(j):
                v -= m[i, t] * m[j, t]
            m[i, j] = v / d
    for i in range(n):  # L y = b
        v = b[i]
        for t in range(i):
            v -= m[i, t] * b[t]
        b[i] = v / m[i, i]
    for i in range(n - 1, -1, -1):  # Lᵀ z = y
        v = b[i]
        for t in range(i + 1, n):
            v -= m[t, i] * b[t]
        b[i] = v / m[i, i]
    return True


@nb.njit(cache=True)
def _exact_step(xw, qw, cw, gw, lam, sup):  # pragma: no cover - compiled
    """Replace xw on its support S by the solution of G_SS z = c_S − λ·sign(x_S) when z
    keeps the signs (it then minimises the objective on that face); update qw. All arrays
    are over the working set. Returns whether it was applied."""
    n_s = 0
    for t in range(xw.shape[0]):
        if xw[t] != 0.0:
            sup[n_s] = t
            n_s += 1
    if n_s == 0:
        return False
    m = np.empty((n_s, n_s))
    b = np.empty(n_s)
    for u in range(n_s):
        gu = gw[sup[u]]
        for v in range(n_s):
            m[u, v] = gu[sup[v]]
        b[u] = cw[sup[u]] - (lam if xw[sup[u]] > 0.0 else -lam)
    if not _cholesky_solve(m, b):
        return False  # singular on this support (more atoms than the rank): keep CD's
    z = b
    for u in range(n_s):
        if not z[u] * xw[sup[u]] > 0.0:  # a sign change (or NaN): keep coordinate descent's
            return False
    for u in range(n_s):
        d = z[u] - xw[sup[u]]
        if d != 0.0:
            xw[sup[u]] = z[u]
            qw -= d * gw[sup[u]]
    return True


@nb.njit(cache=True)
def _in_set_violation(qw, xw, lam, positive):  # pragma: no cover - compiled
    v = 0.0
    for t in range(qw.shape[0]):
        v = max(v, _dist(qw[t], xw[t], lam, positive))
    return v


@nb.njit(cache=True)
def _solve_set(xw, qw, cw, gw, lam, positive, tol, max_sweeps):  # pragma: no cover
    """Cyclic coordinate descent on one working set (compact arrays, so each update is a
    contiguous Gram-row axpy), with exact support steps once a sweep changes no support.
    Returns the sweeps run."""
    n_ws = xw.shape[0]
    sup = np.empty(n_ws, np.int64)
    last_exact = -3
    sweeps = 0
    for sweep in range(max_sweeps):
        flips = 0
        for t in range(n_ws):
            gtt = gw[t, t]
            if not gtt > 0.0:
                continue
            old = xw[t]
            z = old * gtt + qw[t]
            if z > lam:
                new = (z - lam) / gtt
            elif (not positive) and z < -lam:
                new = (z + lam) / gtt
            else:
                new = 0.0
            d = new - old
            if d != 0.0:
                if (old == 0.0) != (new == 0.0):
                    flips += 1
                xw[t] = new
                qw -= d * gw[t]
        sweeps += 1
        if _in_set_violation(qw, xw, lam, positive) <= tol:
            break
        if flips == 0 and sweep >= 20 and sweep - last_exact >= 10:
            last_exact = sweep
            if _exact_step(xw, qw, cw, gw, lam, sup):
                if _in_set_violation(qw, xw, lam, positive) <= tol:
                    break
    return sweeps


@nb.njit(parallel=True, cache=True)
def _kernel(corr, gram, init, out, lam, positive, size, max_sweeps, max_rounds, tol_abs,
            floor_unit, gmax, out_viol, out_ok, out_sweeps):  # pragma: no cover - compiled
    n, k = corr.shape
    warm = init.shape[0] == n
    for r in nb.prange(n):
        c = corr[r].astype(np.float64)
        x = init[r].astype(np.float64) if warm else np.zeros(k)
        q = np.empty(k)
        score = np.empty(k)
        in_ws = np.zeros(k, np.bool_)
        ws = np.empty(k, np.int64)
        cand = np.empty(k, np.int64)
        n_ws = 0
        for j in range(k):  # a warm start's support is the first working set
            if x[j] != 0.0:
                ws[n_ws] = j
                in_ws[j] = True
                n_ws += 1
        _residual_corr(q, c, x, gram, ws, n_ws)
        cmax = 0.0
        for j in range(k):
            cmax = max(cmax, abs(c[j]))
        total = 0
        viol = np.inf
        ok = False
        for rnd in range(max_rounds + 1):
            l1 = 0.0
            n_act = 0
            for t in range(n_ws):
                xv = abs(x[ws[t]])
                l1 += xv
                if xv > 0.0:
                    n_act += 1
            # one pass: the KKT violation over all atoms, and the violators outside W
            viol = 0.0
            n_cand = 0
            for j in range(k):
                v = _dist(q[j], x[j], lam, positive)
                viol = max(viol, v)
                if v > 0.0 and not in_ws[j]:  # (every nonzero is in W)
                    score[n_cand] = v
                    cand[n_cand] = j
                    n_cand += 1
            # the certificate: KKT over all atoms within tol + a rounding floor of the
            # working dtype (c − xG is what a caller recomputes)
            ok = viol <= tol_abs + floor_unit * (cmax + l1 * gmax)
            if ok or rnd == max_rounds:
                break
            # W ← the support + the strongest violators: at least `size`, at most as many
            # as are active (so the set at least doubles while many fail). Atoms of the
            # last set that ended at zero satisfy their conditions there and are dropped,
            # so W stays about twice the support.
            kept = 0
            for t in range(n_ws):
                j = ws[t]
                if x[j] != 0.0:
                    ws[kept] = j
                    kept += 1
                else:
                    in_ws[j] = False
            n_ws = kept
            p = max(size, n_act)
            thr = 0.0
            if n_cand > p:
                thr = np.partition(score[:n_cand], n_cand - p)[n_cand - p]
            for t in range(n_cand):
                if n_cand <= p or score[t] >= thr:
                    j = cand[t]
                    ws[n_ws] = j
                    in_ws[j] = True
                    n_ws += 1
            # the working set's compact Gram block, codes, correlations
            gw = np.empty((n_ws, n_ws))
            xw = np.empty(n_ws)
            qw = np.empty(n_ws)
            cw = np.empty(n_ws)
            for t in range(n_ws):
                gt = gram[ws[t]]
                for u in range(n_ws):
                    gw[t, u] = gt[ws[u]]
                xw[t] = x[ws[t]]
                qw[t] = q[ws[t]]
                cw[t] = c[ws[t]]
            total += _solve_set(xw, qw, cw, gw, lam, positive, 0.5 * tol_abs, max_sweeps)
            for t in range(n_ws):
                x[ws[t]] = xw[t]
            _residual_corr(q, c, x, gram, ws, n_ws)
        out[r] = x
        out_viol[r] = viol
        out_ok[r] = ok
        out_sweeps[r] = total


# GNU OpenMP's thread pool does not survive fork: numba terminates a child that enters a
# parallel region after its parent started the pool (PyTorch DataLoader workers are forked
# this way by default on Linux). Such children use the batched torch solver instead.
_pool = {"started": False, "forked": False}


def _after_fork_in_child() -> None:
    if _pool["started"]:
        _pool["forked"] = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def usable() -> bool:
    """False in a process forked after this one's thread pool started."""
    return not _pool["forked"]


def encode_rows(corr: np.ndarray, gram: np.ndarray, init: np.ndarray | None, out: np.ndarray,
                *, lam: float, positive: bool, size: int, max_sweeps: int, max_rounds: int,
                kkt_tol: float, floor_unit: float, gmax: float, threads: int,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve every row into ``out`` (N, K) (any float dtype), from ``init`` or zeros.

    ``corr`` (N, K) and ``gram`` (K, K) C-contiguous, in the working dtype (sums are in
    float64). A row is certified when its KKT violation over all atoms is ≤ ``kkt_tol``·λ +
    ``floor_unit``·(max|c| + ‖a‖₁·max G_ii), the rounding floor of
    :func:`reprlab.sparse.functional.kkt_violation`'s check (``floor_unit`` = a few ulps of
    the working dtype); coordinate descent on W stops at half the tolerance. Returns
    (violation (N,), certified (N,), sweeps (N,)); uncertified rows (after ``max_rounds``)
    are for the caller to finish.
    """
    n = corr.shape[0]
    viol = np.empty(n)
    ok = np.zeros(n, np.bool_)
    sweeps = np.zeros(n, np.int64)
    start = init if init is not None else np.empty((0, corr.shape[1]), corr.dtype)
    args = (corr, gram, start, out, float(lam), bool(positive), int(size), int(max_sweeps),
            int(max_rounds), float(kkt_tol * lam), float(floor_unit), float(gmax), viol, ok,
            sweeps)
    if _pool["forked"]:
        raise RuntimeError("the compiled sparse kernel cannot run in a process forked after "
                           "its thread pool started; sparse_encode uses the torch solver "
                           "there (check _cd.usable())")
    prev = nb.get_num_threads()
    nb.set_num_threads(max(1, min(int(threads), nb.config.NUMBA_NUM_THREADS)))
    # rows differ a lot in cost: hand them out in small chunks rather than one block per
    # thread
    prev_chunk = nb.set_parallel_chunksize(8)
    _pool["started"] = True
    try:
        _kernel(*args)
    finally:
        nb.set_parallel_chunksize(prev_chunk)
        nb.set_num_threads(prev)
    return viol, ok, sweeps


def precompile() -> None:
    """Compile the float32 and float64 kernels now: numba caches them on disk, so later
    processes load them in well under a second instead of compiling for ~30 s on their
    first call. ``setup.sh`` runs this once after installing."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        phi = rng.standard_normal((8, 4)).astype(dtype)
        x = rng.standard_normal((2, 4)).astype(dtype)
        corr = np.ascontiguousarray(x @ phi.T)
        gram = np.ascontiguousarray(phi @ phi.T)
        out = np.empty_like(corr)
        encode_rows(corr, gram, None, out, lam=0.1, positive=True, size=4, max_sweeps=10,
                    max_rounds=2, kkt_tol=1e-3, floor_unit=0.0, gmax=1.0, threads=1)
