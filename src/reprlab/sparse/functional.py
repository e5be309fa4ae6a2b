"""Sparse coding as pure tensor functions.

Conventions (scikit-learn's): signals ``x`` are rows, shape ``(N, d)``; the dictionary holds
one atom per row, shape ``(K, d)`` with unit-ℓ2 rows; codes have shape ``(N, K)`` and the
reconstruction is ``x̂ = a @ dictionary``. The problem solved for every row is

    min_a ½‖x − aΦ‖² + λ‖a‖₁      (a ≥ 0 when ``positive=True``, the default)

by FISTA (Beck & Teboulle 2009) with step 1/L, L the largest eigenvalue of ΦΦᵀ found by
power iteration. Dictionary learning alternates inference with the preconditioned gradient
step of Yun et al. (TransformerVis ``quadraticBasisUpdate``):

    ΔΦ = η · (1/N) Σₙ wₙ aₙ rₙᵀ / (H + ε),   H ← (1 − 1/T) H + (1/T) mean(a²)

followed by renormalising each atom to unit ℓ2 (defaults η = 0.005, ε = 1e-3, T = 300 as in
the official code). Under ``torch.distributed`` the gradient and Hessian statistics are
all-reduced, so every rank keeps the same dictionary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "soft_threshold",
    "lipschitz_constant",
    "kkt_violation",
    "duality_gap",
    "CertificateWarning",
    "sparse_encode",
    "reconstruct",
    "objective",
    "normalize_atoms",
    "init_dictionary",
    "DictState",
    "StepInfo",
    "init_state",
    "dictionary_step",
    "learn_dictionary",
    "mean_l0",
    "fvu",
    "atom_usage",
    "dead_fraction",
]


# ----------------------------------------------------------------------------- checks
def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(name: str, v: object, *, low: int, none_ok: bool = False) -> None:
    if v is None and none_ok:
        return
    if not (_is_int(v) and v >= low):
        extra = " or None" if none_ok else ""
        raise ValueError(f"{name} must be an int >= {low}{extra}, got {v!r}")


def _check_float(name: str, v: object, *, positive: bool = False) -> float:
    # `not v >= 0` (not `v < 0`) so that NaN is rejected
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (
        v > 0 if positive else v >= 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, "
                         f"got {v!r}")
    return float(v)


def _check_inputs(x: torch.Tensor, dictionary: torch.Tensor, lam: float) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(dictionary, torch.Tensor):
        raise TypeError(f"x and dictionary must be torch.Tensor, got {type(x).__name__} and "
                        f"{type(dictionary).__name__}; convert with torch.as_tensor")
    if dictionary.dim() != 2:
        raise ValueError(f"dictionary must be 2-D (n_atoms, n_features), got shape "
                         f"{tuple(dictionary.shape)}")
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
    if x.shape[1] != dictionary.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but the dictionary has "
                         f"{dictionary.shape[1]}: x.shape={tuple(x.shape)}, "
                         f"dictionary.shape={tuple(dictionary.shape)}")
    if x.dtype != dictionary.dtype or x.device != dictionary.device:
        raise ValueError(f"x ({x.dtype}, {x.device}) and dictionary ({dictionary.dtype}, "
                         f"{dictionary.device}) must share dtype and device; use "
                         f"x.to(dictionary)")
    if not x.is_floating_point():
        raise ValueError(f"x must be floating point, got {x.dtype}")
    _check_float("lam", lam)
    if not torch.isfinite(x).all():
        raise ValueError(f"x contains {int((~torch.isfinite(x)).sum())} NaN/Inf values")
    if not torch.isfinite(dictionary).all():
        raise ValueError(f"dictionary contains {int((~torch.isfinite(dictionary)).sum())} "
                         f"NaN/Inf values")


# ----------------------------------------------------------------------------- inference
def soft_threshold(z: torch.Tensor, threshold: float | torch.Tensor, *,
                   positive: bool = True) -> torch.Tensor:
    """Proximal operator of ``threshold·‖·‖₁`` (plus the indicator of a ≥ 0 if ``positive``).

    Shape: any; returns a tensor shaped like ``z``.
    """
    if positive:
        return (z - threshold).clamp_min(0)
    return torch.sign(z) * (z.abs() - threshold).clamp_min(0)


def lipschitz_constant(dictionary: torch.Tensor, *, n_iter: int = 100, tol: float = 1e-6,
                       generator: torch.Generator | None = None,
                       return_bounds: bool = False) -> float | tuple[float, float]:
    """A certified upper bound on L = λmax(ΦΦᵀ) = ‖Φ‖₂², the constant FISTA's step 1/L needs.

    Power iteration approaches λmax from *below*, so its estimate alone is not safe. The
    value returned is the smallest of three upper bounds on the largest eigenvalue of the
    symmetric PSD Gram matrix M (the smaller of ΦΦᵀ and ΦᵀΦ, in float64):

    * Gershgorin: max_i Σ_j |M_ij|;
    * Frobenius: ‖M‖_F = (Σ λ²)^{1/2};
    * the trace-power bound (tr M^p)^{1/p} = (Σ λ^p)^{1/p} for p = 2, 4, …, 4096 by
      repeated squaring (normalised at each step), which exceeds λmax by at most the factor
      n^{1/p} (n = size of M) and usually far less. Squaring stops once the bound is within
      0.1% of the power-iteration estimate (a lower bound), or at p = 4096.

    The result is multiplied by 1 + 1e-9 against float64 rounding.

    Parameters
    ----------
    dictionary : Tensor, shape (K, d)
    n_iter, tol : int, float, keyword-only
        Power iterations for the lower estimate (stop when it changes by < ``tol``).
    generator : torch.Generator, optional
        Start vector of the power iteration (default: seed 0).
    return_bounds : bool
        Return ``(lower, upper)`` instead of the upper bound.

    Returns
    -------
    float
        The upper bound (or ``(lower, upper)``); 1.0 for an all-zero dictionary.
    """
    if not isinstance(dictionary, torch.Tensor) or dictionary.dim() != 2:
        raise ValueError(f"dictionary must be a 2-D tensor (n_atoms, n_features), got "
                         f"{getattr(dictionary, 'shape', type(dictionary).__name__)}")
    _check_int("n_iter", n_iter, low=1)
    _check_float("tol", tol)
    if not torch.isfinite(dictionary).all():
        raise ValueError("dictionary contains NaN/Inf values")
    k, d = dictionary.shape
    work = dictionary.double()
    gram = work.T @ work if d <= k else work @ work.T  # same nonzero spectrum, smaller side
    gram = 0.5 * (gram + gram.T)
    if float(gram.abs().max()) == 0.0:
        return (0.0, 1.0) if return_bounds else 1.0  # all-zero dictionary: any step is fine
    # lower estimate: power iteration (Rayleigh quotient of the last iterate)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    v = torch.randn(gram.shape[0], 1, generator=generator, dtype=gram.dtype).to(gram.device)
    v = v / v.norm().clamp_min(1e-300)
    lower = 0.0
    for _ in range(n_iter):
        w = gram @ v
        new = float((v * w).sum())
        nw = float(w.norm())
        if nw == 0.0:
            break
        v = w / nw
        if abs(new - lower) <= tol * abs(new):
            lower = max(lower, new)
            break
        lower = max(lower, new)
    # upper bounds
    upper = min(float(gram.abs().sum(1).max()), float(gram.norm()))
    tr = float(torch.diagonal(gram).sum())
    nmat = gram / tr
    log_c = math.log(tr)
    p = 1
    while upper > lower * (1 + 1e-3) and p < 4096:
        sq = nmat @ nmat
        sq = 0.5 * (sq + sq.T)
        tau = float(torch.diagonal(sq).sum())
        if not tau > 0:
            break
        nmat = sq / tau
        log_c = 2.0 * log_c + math.log(tau)
        p *= 2
        upper = min(upper, math.exp(log_c / p))
    upper *= 1 + 1e-9
    return (lower, upper) if return_bounds else upper


def _violation(g: torch.Tensor, a: torch.Tensor, lam: float, positive: bool) -> torch.Tensor:
    """Per-row max distance of the correlations g = Φ(x − aΦ)ᵀ to λ·∂‖a‖₁ (+ a ≥ 0 cone)."""
    if positive:
        v = torch.where(a > 0, (g - lam).abs(), (g - lam).clamp_min(0))
    else:
        v = torch.where(a != 0, (g - lam * torch.sign(a)).abs(), (g.abs() - lam).clamp_min(0))
    return v.amax(1) if v.shape[1] else v.new_zeros(v.shape[0])


# the KKT check's rounding floor, in ulps of the working dtype (both solvers)
_FLOOR_ULPS = 32


def _floor(c_abs: torch.Tensor, a: torch.Tensor, gmax: float) -> torch.Tensor:
    """Per-row rounding floor of the KKT check: correlations are computed as c − aG in the
    working dtype, whose error grows with |c| and ‖a‖₁·max|G|."""
    return _FLOOR_ULPS * torch.finfo(a.dtype).eps * (c_abs + a.abs().sum(1) * gmax)


def kkt_violation(x: torch.Tensor, dictionary: torch.Tensor, codes: torch.Tensor, *,
                  lam: float, positive: bool = True) -> torch.Tensor:
    """Per-row violation of the lasso optimality conditions, in the units of λ·(its scale).

    With g = (x − aΦ)Φᵀ (the correlation of every atom with the residual), the codes are
    optimal iff g_i = λ·sign(a_i) where a_i ≠ 0 and |g_i| ≤ λ (g_i ≤ λ when ``positive``)
    where a_i = 0. Returns, for each row, the largest distance of some g_i to that set:
    ``max_i |g_i − λ sign a_i|`` over active atoms and ``max_i (g_i − λ)₊`` over inactive
    ones. :func:`sparse_encode` certifies ``kkt_violation ≤ kkt_tol·λ`` (+ a rounding floor).

    Shapes: x (N, d), dictionary (K, d), codes (N, K) → (N,).
    """
    _check_inputs(x, dictionary, lam)
    if codes.shape != (x.shape[0], dictionary.shape[0]):
        raise ValueError(f"codes must have shape {(x.shape[0], dictionary.shape[0])}, got "
                         f"{tuple(codes.shape)}")
    codes = codes.to(x)
    g = (x - codes @ dictionary) @ dictionary.T
    if positive and (codes < 0).any():
        raise ValueError("positive=True but codes has negative entries")
    return _violation(g, codes, float(lam), positive)


def duality_gap(x: torch.Tensor, dictionary: torch.Tensor, codes: torch.Tensor, *,
                lam: float, positive: bool = True) -> torch.Tensor:
    """Per-row duality gap P(a) − D(θ) ≥ P(a) − P(a*) ≥ 0 of the lasso, in float64.

    P(a) = ½‖x − aΦ‖² + λ‖a‖₁; the dual is D(θ) = ⟨θ, x⟩ − ½‖θ‖² over θ with
    Φᵢθ ≤ λ (|Φᵢθ| ≤ λ if signed). θ is the residual scaled into that set,
    θ = r·min(1, λ / max_i Φᵢr). The gap bounds the suboptimality of each row's objective.

    Shapes: x (N, d), dictionary (K, d), codes (N, K) → (N,).
    """
    _check_inputs(x, dictionary, lam)
    if codes.shape != (x.shape[0], dictionary.shape[0]):
        raise ValueError(f"codes must have shape {(x.shape[0], dictionary.shape[0])}, got "
                         f"{tuple(codes.shape)}")
    xd, phi, a = x.double(), dictionary.double(), codes.to(x).double()
    r = xd - a @ phi
    g = r @ phi.T
    gmax = (g.amax(1) if positive else g.abs().amax(1)).clamp_min(0) if g.shape[1] else \
        g.new_zeros(g.shape[0])
    scale = torch.where(gmax > lam, lam / gmax.clamp_min(1e-300), torch.ones_like(gmax))
    theta = r * scale[:, None]
    primal = 0.5 * (r * r).sum(1) + lam * a.abs().sum(1)
    dual = (theta * xd).sum(1) - 0.5 * (theta * theta).sum(1)
    return (primal - dual).clamp_min(0)


def _polish(gw: torch.Tensor, cw: torch.Tensor, a: torch.Tensor, lam: float,
            positive: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact minimiser on the current support and sign pattern (an active-set step).

    Solves G_SS z = c_S − λ·sign(a_S) per row (float64 Cholesky; inactive coordinates get
    an identity block). Where z keeps the signs of a it minimises the objective on the face
    of the orthant that a lies in, so its objective is ≤ a's; where it does not, the point
    returned is the last one on the segment a → z before a sign change (the atom that
    reaches zero is dropped), also no worse than a. ``ok`` marks rows where the
    factorisation succeeded (the returned point replaces a). Shapes: gw (R, m, m),
    cw (R, m), a (R, m).
    """
    act = a > 0 if positive else a != 0
    s = torch.sign(a).double()
    actd = act.double()
    mat = gw.double() * (actd[:, :, None] * actd[:, None, :])
    mat.diagonal(dim1=1, dim2=2).add_(1.0 - actd)
    rhs = (cw.double() - lam * s) * actd
    chol, info = torch.linalg.cholesky_ex(mat)
    z = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)
    z = torch.where(act, z, torch.zeros_like(z))  # exact zeros (no −0.0) off the support
    good = (info == 0) & torch.isfinite(z).all(1)
    flip = act & (z * s <= 0)
    ok = good & ~flip.any(1)
    # rows where some coefficient would change sign: step from a towards z up to the first
    # zero crossing and drop that atom (the objective is convex along the segment and
    # smallest at z, so it decreases; feature-sign search, Lee et al. 2007)
    part = good & ~ok
    if bool(part.any()):
        ad = a.double()
        frac = torch.where(flip, ad / (ad - z).where(flip, torch.ones_like(z)),
                           torch.full_like(z, 2.0))
        t_star = frac.amin(1, keepdim=True).clamp(0, 1)
        moved = ad + t_star * (z - ad)
        moved = torch.where(frac <= t_star, torch.zeros_like(moved), moved)
        moved = torch.where((moved * s > 0) & act, moved, torch.zeros_like(moved))
        z = torch.where(part[:, None], moved, z)
        ok = ok | part
    return z.to(a.dtype), ok


def _support_index(a: torch.Tensor, positive: bool) -> torch.Tensor | None:
    """(R, s) indices covering every row's support (s = largest support, rounded up to a
    multiple of 8), or None when all rows are zero."""
    act = a > 0 if positive else a != 0
    s_max = int(act.sum(1).max()) if a.shape[0] else 0
    if s_max == 0:
        return None
    s_pad = min(a.shape[1], ((s_max + 7) // 8) * 8)
    return torch.topk(a.abs(), s_pad, dim=1).indices.sort(dim=1).values


def _polish_support(gw: torch.Tensor, cw: torch.Tensor, a: torch.Tensor, lam: float,
                    positive: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_polish` on the (R, s, s) sub-blocks of the supports only."""
    idx = _support_index(a, positive)
    if idx is None:
        return a, torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    r, m = a.shape
    sp = idx.shape[1]
    if sp == m:
        return _polish(gw, cw, a, lam, positive)
    sub = gw.gather(1, idx.unsqueeze(2).expand(r, sp, m)).gather(
        2, idx.unsqueeze(1).expand(r, sp, sp))
    z, ok = _polish(sub, cw.gather(1, idx), a.gather(1, idx), lam, positive)
    return torch.zeros_like(a).scatter_(1, idx, z), ok


def _sparse_times(a: torch.Tensor, dictionary: torch.Tensor, positive: bool) -> torch.Tensor:
    """aΦ for codes a (R, K): a sparse-dense product when a is sparse (about twice as fast
    as the dense one at 1% density), else dense."""
    nnz = int((a != 0).sum())
    if nnz == 0:
        return a.new_zeros(a.shape[0], dictionary.shape[1])
    if nnz * 10 < a.numel():
        return torch.sparse.mm(a.to_sparse(), dictionary)
    return a @ dictionary


class _Problem(NamedTuple):
    """A batch of per-row lasso problems: gradient, exact support step and KKT residual,
    each a function of ``data`` (a dict of per-row tensors, compacted as rows finish)."""

    grad: Callable[[dict, torch.Tensor], torch.Tensor]
    polish: Callable[[dict, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    kkt: Callable[[dict, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _certified_fista(prob: _Problem, data: dict, a: torch.Tensor, *, lip: torch.Tensor,
                     lam: float, positive: bool, max_iter: int, tol: float, kkt_tol: float,
                     check_every: int, restart: bool, first_check: int = 10,
                     check_start: bool = False,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """FISTA with adaptive restart, interleaved with exact support steps and KKT checks.

    Every few iterations (10, then gaps growing by 1.5×, or when the relative change of the
    codes falls below ``tol``) each row whose support was stable over the last 4 iterations
    gets the exact minimiser on its support when that keeps the signs (:func:`_polish`),
    and rows whose KKT residual is within ``kkt_tol``·λ (+ rounding floor) are finished and
    removed from the batch. ``check_start``: check before the first iteration (warm
    starts that may already be optimal).

    Returns (codes, certified (R,), violation (R,), iterations).
    """
    n = a.shape[0]
    out = a.clone()
    cert = torch.zeros(n, dtype=torch.bool, device=a.device)
    viol_out = torch.full((n,), float("inf"), dtype=a.dtype, device=a.device)
    idx = torch.arange(n, device=a.device)
    step = 1.0 / lip
    y = a.clone()
    t = torch.ones(n, 1, dtype=a.dtype, device=a.device)
    it = 0
    gap = first_check
    next_check = 0 if check_start else first_check
    prev_act = None
    while idx.numel():
        stalled = False
        if it != next_check and it < max_iter:
            if it == next_check - 4:
                prev_act = a != 0  # supports 4 iterations before the check
            a_new = soft_threshold(y - step * prob.grad(data, y), step * lam,
                                   positive=positive)
            diff = a_new - a
            t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
            if restart:
                # adaptive restart (O'Donoghue & Candès 2015): reset the momentum of rows
                # whose step goes against it
                bad = ((y - a_new) * diff).sum(1, keepdim=True) > 0
                t_new = torch.where(bad, torch.ones_like(t_new), t_new)
                mom = torch.where(bad, torch.zeros_like(t), (t - 1.0) / t_new)
            else:
                mom = (t - 1.0) / t_new
            y = a_new + mom * diff
            a, t = a_new, t_new
            it += 1
            if tol > 0 and it % check_every == 0:
                stalled = float(diff.norm()) <= tol * max(float(a.norm()), 1e-12)
            if not (it == next_check or it >= max_iter or stalled):
                continue
        # exact step on the support, then the certificate, for the rows whose support has
        # not changed over the last iterations (all rows at the last check)
        final = it >= max_iter
        if prev_act is None or final:
            sel = torch.arange(idx.numel(), device=a.device)
        else:
            sel = torch.nonzero(((a != 0) == prev_act).all(1)).flatten()
        prev_act = None
        done = torch.zeros(idx.numel(), dtype=torch.bool, device=a.device)
        viol = torch.full((idx.numel(),), float("inf"), dtype=a.dtype, device=a.device)
        thr = torch.zeros_like(viol)
        if sel.numel():
            sub = data if sel.numel() == idx.numel() else {
                key: val.index_select(0, sel) for key, val in data.items()}
            a_sel = a.index_select(0, sel)
            z, ok = prob.polish(sub, a_sel)
            a_sel = torch.where(ok[:, None], z, a_sel)
            v_sel, thr_sel = prob.kkt(sub, a_sel)
            a[sel] = a_sel
            okf = torch.zeros(idx.numel(), dtype=torch.bool, device=a.device)
            okf[sel] = ok
            y = torch.where(okf[:, None], a, y)
            t = torch.where(okf[:, None], torch.ones_like(t), t)
            viol[sel] = v_sel
            thr[sel] = thr_sel
            done = viol <= kkt_tol * lam + thr
        if final:
            done = torch.ones_like(done)
        if bool(done.any()):
            rows = idx[done]
            out[rows] = a[done]
            cert[rows] = (viol <= kkt_tol * lam + thr)[done]
            viol_out[rows] = viol[done]
            keep = ~done
            idx, a, y, t = idx[keep], a[keep], y[keep], t[keep]
            lip, step = (lip[keep], step[keep]) if lip.dim() else (lip, step)
            data = {key: val[keep] for key, val in data.items()}
        next_check = it + gap
        gap = int(math.ceil(gap * 1.5))
    return out, cert, viol_out, it


def _gather_blocks(gram: torch.Tensor | None, dictionary: torch.Tensor,
                   w: torch.Tensor) -> torch.Tensor:
    """Per-row Gram blocks G[w_r][:, w_r], shape (R, m, m), from the full Gram when there is
    one (index_select on the flat Gram: much faster than two-tensor indexing), else as
    Φ_w Φ_wᵀ by batched matmul."""
    r, m = w.shape
    if gram is not None:
        k = gram.shape[0]
        flat = (w.unsqueeze(2) * k + w.unsqueeze(1)).reshape(-1)
        return gram.reshape(-1).index_select(0, flat).view(r, m, m)
    atoms = dictionary.index_select(0, w.reshape(-1)).view(r, m, -1)
    return torch.bmm(atoms, atoms.transpose(1, 2))


def _block_problem(lam: float, positive: bool, gmax: float) -> _Problem:
    """Reduced problems ½aᵀG_w a − c_wᵀa + λ‖a‖₁ on per-row working sets (data: gw, cw)."""

    def grad(data: dict, y: torch.Tensor) -> torch.Tensor:
        return torch.bmm(y.unsqueeze(1), data["gw"]).squeeze(1) - data["cw"]

    def polish(data: dict, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _polish_support(data["gw"], data["cw"], a, lam, positive)

    def kkt(data: dict, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = -grad(data, a)
        return _violation(g, a, lam, positive), _floor(data["cw"].abs().amax(1), a, gmax)

    return _Problem(grad, polish, kkt)


def _dense_problem(dictionary: torch.Tensor, gram: torch.Tensor | None, lam: float,
                   positive: bool, gmax: float) -> _Problem:
    """Full problems over all K atoms (data: corr = xΦᵀ, x); Gram form when K ≤ 2d."""
    k, d = dictionary.shape
    use_gram = gram is not None and k <= 2 * d

    def grad(data: dict, y: torch.Tensor) -> torch.Tensor:
        if use_gram:
            return y @ gram - data["corr"]
        return (y @ dictionary) @ dictionary.T - data["corr"]

    def polish(data: dict, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = _support_index(a, positive)
        if w is None:
            return a, torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
        gw = _gather_blocks(gram, dictionary, w)
        z, ok = _polish(gw, data["corr"].gather(1, w), a.gather(1, w), lam, positive)
        return torch.zeros_like(a).scatter_(1, w, z), ok

    def kkt(data: dict, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = data["corr"] - _sparse_times(a, dictionary, positive) @ dictionary.T
        return _violation(g, a, lam, positive), _floor(data["corr"].abs().amax(1), a, gmax)

    return _Problem(grad, polish, kkt)


def _block_lipschitz(gw: torch.Tensor, cap: float | None) -> torch.Tensor:
    """Per-row certified upper bound on λmax of the Gram blocks: the smaller of Gershgorin's
    (max row-sum of |G|) and the Frobenius norm, capped by the global bound when known (a
    principal submatrix's λmax never exceeds the full matrix's, by Cauchy interlacing)."""
    gersh = gw.abs().sum(2).amax(1)
    frob = gw.flatten(1).norm(dim=1)
    lip = torch.minimum(gersh, frob)
    if cap is not None:
        lip = lip.clamp(max=cap)
    return lip.clamp_min(1e-12).unsqueeze(1)


class _Budget:
    """Tracks the worst uncertified row across the solve (for the final warning)."""

    def __init__(self) -> None:
        self.n_bad = 0
        self.worst = 0.0


def _encode_rows(x: torch.Tensor, dictionary: torch.Tensor, gram: torch.Tensor | None, *,
                 lam: float, positive: bool, max_iter: int, tol: float,
                 init: torch.Tensor | None, size: int | None, restart: bool,
                 check_every: int, kkt_tol: float, max_rounds: int, block_rows: int | None,
                 lip_global: Callable[[], float], gmax: float, budget: _Budget,
                 ) -> tuple[torch.Tensor, int]:
    """Certified codes for one chunk of rows.

    ``size=None``: FISTA over all atoms. Otherwise working sets: each round solves, for every
    unfinished row, the problem restricted to its working set (support + the atoms that
    violate optimality most, at least ``size`` atoms, rounded up to a multiple of 16) on
    gathered Gram blocks, then checks the KKT conditions over *all* atoms with one dense
    gradient; rows that violate them get the violators added (the set at least doubles while
    there are many) and are solved again, warm-started. Rows whose set would exceed half the
    atoms, and rows left after ``max_rounds``, finish with FISTA over all atoms.
    """
    n = x.shape[0]
    k = dictionary.shape[0]
    corr = x @ dictionary.T  # (N, K) = xΦᵀ
    cmax = corr.abs().amax(1)
    a = torch.zeros(n, k, dtype=x.dtype, device=x.device) if init is None else init.clone()
    total_it = 0
    todo = torch.arange(n, device=x.device)
    to_dense: list[torch.Tensor] = []
    if size is not None:
        block = _block_problem(lam, positive, gmax)
        fresh = init is None
        for _ in range(max_rounds):
            if todo.numel() == 0:
                break
            everything = todo.numel() == n
            rows_a = a if everything else a.index_select(0, todo)
            rows_c = corr if everything else corr.index_select(0, todo)
            if fresh:
                g = rows_c.clone()  # from zero codes the correlations are xΦᵀ
                v = ((g.amax(1) if positive else g.abs().amax(1)) - lam).clamp_min(0)
            else:
                g = rows_c - _sparse_times(rows_a, dictionary, positive) @ dictionary.T
                v = _violation(g, rows_a, lam, positive)
            thr = kkt_tol * lam + _floor(cmax if everything else cmax[todo], rows_a, gmax)
            keep = v > thr
            todo, g, rows_a = todo[keep], g[keep], rows_a[keep]
            if todo.numel() == 0:
                break
            score = g if positive else g.abs()  # inactive atoms: the larger, the worse
            if fresh:
                active = None
                need = torch.full((todo.numel(),), size, dtype=torch.long, device=x.device)
            else:
                active = rows_a > 0 if positive else rows_a != 0
                n_act = active.sum(1)
                n_viol = (score.masked_fill(active, -float("inf")) > lam).sum(1)
                need = n_act + n_viol.clamp(max=torch.clamp(n_act, min=size))
            m_row = ((need.clamp_min(size) + 4 + 15) // 16) * 16
            big = m_row > max(k // 2, 16)
            if bool(big.any()):
                # sets this large cost more than FISTA over all atoms: finish those below
                to_dense.append(todo[big])
                small = ~big
                todo, g, rows_a = todo[small], g[small], rows_a[small]
                score, m_row = score[small], m_row[small]
                active = None if active is None else active[small]
                if todo.numel() == 0:
                    break
            if active is not None:
                score = score.masked_fill_(active, float("inf"))
            fresh = False
            round_it = 0
            for m in torch.unique(m_row).tolist():
                m = min(int(m), k)
                sel = torch.nonzero(m_row == m).flatten()
                rows_m = todo[sel]
                # sorted indices make the Gram-block gather read each row in order
                ws = torch.topk(score.index_select(0, sel), m, dim=1).indices.sort(dim=1).values
                cs = block_rows or max(1, (1 << 22) // (m * m))
                for start in range(0, rows_m.numel(), cs):
                    rows = rows_m[start:start + cs]
                    w = ws[start:start + cs]
                    gw = _gather_blocks(gram, dictionary, w)
                    flat = (rows.unsqueeze(1) * k + w).reshape(-1)
                    cw = corr.reshape(-1).index_select(0, flat).view(w.shape)
                    a0 = a.reshape(-1).index_select(0, flat).view(w.shape)
                    sol, _, _, it = _certified_fista(
                        block, {"gw": gw, "cw": cw}, a0, lip=_block_lipschitz(gw, None),
                        lam=lam, positive=positive, max_iter=max_iter, tol=tol,
                        kkt_tol=kkt_tol, check_every=check_every, restart=restart)
                    # the support lies inside the working set, so writing the set's
                    # entries updates the whole row
                    a.view(-1).index_copy_(0, flat, sol.reshape(-1))
                    round_it = max(round_it, it)
            total_it += round_it
    todo = torch.cat([todo, *to_dense]) if to_dense else todo
    if todo.numel():
        # FISTA over all atoms for what is left (or everything when size is None)
        dense = _dense_problem(dictionary, gram, lam, positive, gmax)
        lip = torch.tensor(lip_global(), dtype=x.dtype, device=x.device)
        rows_a = a.index_select(0, todo)
        sol, cert, viol, it = _certified_fista(
            dense, {"corr": corr.index_select(0, todo)}, rows_a, lip=lip,
            lam=lam, positive=positive, max_iter=max_iter, tol=tol, kkt_tol=kkt_tol,
            check_every=check_every, restart=restart, check_start=bool((rows_a != 0).any()))
        a[todo] = sol
        total_it += it
        if not bool(cert.all()):
            budget.n_bad += int((~cert).sum())
            budget.worst = max(budget.worst, float(viol[~cert].max()))
    return a, total_it


def _compiled():
    """The compiled coordinate-descent module (:mod:`reprlab.sparse._cd`), or None where
    numba does not import or in a process forked after the kernel's thread pool started
    (then the batched torch solver runs)."""
    try:
        from reprlab.sparse import _cd
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    return _cd if _cd.usable() else None


class CertificateWarning(RuntimeWarning):
    """Some codes returned by :func:`sparse_encode` are not certified to ``kkt_tol``."""


def sparse_encode(x: torch.Tensor, dictionary: torch.Tensor, *, lam: float,
                  positive: bool = True, max_iter: int = 500, tol: float = 1e-4,
                  init: torch.Tensor | None = None, step: float | None = None,
                  chunk_size: int | None = None, restart: bool = True,
                  check_every: int = 5, working_set: int | str | None = "auto",
                  kkt_tol: float = 1e-3, return_n_iter: bool = False,
                  max_rounds: int = 20,
                  ) -> torch.Tensor | tuple[torch.Tensor, int]:
    """Certified sparse codes: ``argmin_a ½‖x − aΦ‖² + λ‖a‖₁`` per row (a ≥ 0 by default).

    Every returned row is checked against the optimality (KKT) conditions over the *whole*
    dictionary (:func:`kkt_violation` ≤ ``kkt_tol``·λ, plus a rounding floor of a few ulps);
    rows that fail are solved again (larger working set, then FISTA over all atoms). Rows
    that still fail after ``max_iter`` iterations are returned as they are and a
    :class:`CertificateWarning` names how many and the worst violation.

    On the CPU with working sets (the default) and a Gram matrix that fits (K ≤ 8192),
    each row is solved independently by compiled coordinate descent on a working set — its
    support plus the strongest KKT violators, grown until the check over all atoms passes —
    with exact support steps for the slow tail (:mod:`reprlab.sparse._cd`, numba; rows in
    parallel on ``torch.get_num_threads()`` threads). Otherwise (CUDA tensors, larger K,
    ``working_set=0``, or rows that solver leaves uncertified after ``max_rounds``) the
    solver is batched FISTA (Beck & Teboulle 2009) with adaptive restart, interleaved with
    exact steps on the current support (a Cholesky solve of G_SS z = c_S − λ sign a_S, kept
    when it keeps the signs), on per-row working sets of gathered Gram blocks when
    K ≥ 128 (an iteration costs O(m²) per row instead of O(K·d)). Both certify the same
    conditions, so they agree to the tolerance.

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Signals, float32 or float64, any device.
    dictionary : Tensor, shape (K, d)
        Atoms as rows (unit norm is not required).
    lam : float, keyword-only
        λ ≥ 0. scikit-learn's ``sparse_encode(alpha=λ, algorithm="lasso_cd")`` solves the
        same problem (it divides by d internally); its ``Lasso(alpha)`` uses ``alpha = λ/d``.
    positive : bool
        Constrain a ≥ 0 (default, as both factor papers).
    max_iter : int
        FISTA iterations, or coordinate-descent sweeps, per solve (each working-set round,
        and the final full solve).
    tol : float
        A relative change ‖aₖ₊₁ − aₖ‖ ≤ tol·‖aₖ₊₁‖ over the batch (tested every
        ``check_every`` iterations) triggers an early support step and certificate check;
        the certificate, not ``tol``, decides when a row is done. ``tol=0`` disables it.
    init : Tensor, shape (N, K), optional
        Warm start (clamped to ≥ 0 when ``positive``); already-optimal rows return at once.
    step : float, optional
        FISTA step over all atoms; default 1/L with L the certified bound of
        :func:`lipschitz_constant` (working-set blocks use their own certified bounds).
    chunk_size : int, optional
        Rows solved together (memory ~ chunk_size·K); default 2²⁴/K.
    working_set : "auto", int, None or 0
        Initial working-set size m (≥ 1). ``"auto"``/``None``: 32 when K ≥ 128 (sets grow
        by rounds as needed; starting larger measured slower), else FISTA over all atoms;
        ``0``: always FISTA over all atoms (the batched torch solver).
    kkt_tol : float
        Certificate tolerance, relative to λ.
    max_rounds : int
        Working-set rounds before the remaining rows finish over all atoms.
    return_n_iter : bool
        Also return the number of FISTA iterations or sweeps run (summed over rounds, max
        over rows and chunks).

    Returns
    -------
    codes : Tensor, shape (N, K)
        Detached (no autograd graph), in x's dtype and device. To train a dictionary that is
        an ``nn.Parameter`` with autograd, compute the objective at the codes, e.g.
        ``(0.5 * ((x - codes @ phi) ** 2).sum(1)).mean()``: at the optimum its gradient
        w.r.t. Φ is the gradient of the lasso's optimal value (envelope theorem).

    Examples
    --------
    >>> phi = torch.eye(3)
    >>> sparse_encode(torch.tensor([[2.0, 0.1, -1.0]]), phi, lam=0.5)
    tensor([[1.5000, 0.0000, 0.0000]])
    """
    _check_inputs(x, dictionary, lam)
    # the codes carry no autograd graph (an iterative, certified solver is not something to
    # differentiate through); gradients w.r.t. the dictionary follow from the objective at
    # the codes (envelope theorem), see the docstring
    x, dictionary = x.detach(), dictionary.detach()
    init = init.detach() if isinstance(init, torch.Tensor) else init
    lam = float(lam)
    _check_int("max_iter", max_iter, low=1)
    _check_float("tol", tol)
    _check_int("chunk_size", chunk_size, low=1, none_ok=True)
    _check_int("check_every", check_every, low=1)
    _check_int("max_rounds", max_rounds, low=1)
    _check_float("kkt_tol", kkt_tol)
    if not isinstance(positive, bool):
        raise ValueError(f"positive must be a bool, got {positive!r}")
    n, _ = x.shape
    k, d = dictionary.shape
    if init is not None:
        if not isinstance(init, torch.Tensor) or init.shape != (n, k):
            raise ValueError(f"init must be a tensor of shape {(n, k)} (n_samples, n_atoms), "
                             f"got {tuple(getattr(init, 'shape', ()))}")
        init = init.to(x)
        if not torch.isfinite(init).all():
            raise ValueError("init contains NaN/Inf values")
        if positive:
            init = init.clamp_min(0)
    if step is not None:
        _check_float("step", step, positive=True)
    if working_set in ("auto", None):
        size = 32 if k >= 128 else None
    elif _is_int(working_set) and working_set >= 0:
        size = int(working_set) or None
    else:
        raise ValueError(f"working_set must be 'auto', None or an int >= 0 (0: no working "
                         f"sets), got {working_set!r}")
    if size is not None and size * 2 > k:
        size = None  # a set of half the atoms costs more than FISTA over all of them
    if n == 0 or k == 0:
        out = x.new_zeros(n, k)
        return (out, 0) if return_n_iter else out
    gram = dictionary @ dictionary.T if k * k <= (1 << 26) else None
    gmax = float((dictionary * dictionary).sum(1).max())
    lip_cache: list[float] = []

    def lip_global() -> float:
        if not lip_cache:
            lip_cache.append(1.0 / step if step is not None else
                             lipschitz_constant(dictionary))
        return lip_cache[0]

    if chunk_size is None:
        chunk_size = max(1, (1 << 24) // max(k, 1))
    budget = _Budget()
    codes = []
    n_iter = 0
    _cd = _compiled() if (size is not None and gram is not None
                          and dictionary.device.type == "cpu") else None
    compiled = _cd is not None
    gram_np = gram.contiguous().numpy() if compiled else None
    for start in range(0, n, chunk_size):
        sl = slice(start, start + chunk_size)
        x_sl, init_sl = x[sl], None if init is None else init[sl]
        a, it_cd, left = None, 0, None
        if compiled:
            # per-row compiled coordinate descent on working sets; the rows it cannot
            # certify within max_rounds finish below, warm-started from its codes
            corr = (x_sl @ dictionary.T).numpy()
            a = torch.empty(x_sl.shape[0], k, dtype=x.dtype)
            _, ok, sweeps = _cd.encode_rows(
                corr, gram_np, None if init_sl is None else init_sl.contiguous().numpy(),
                a.numpy(), lam=lam, positive=positive, size=size, max_sweeps=max_iter,
                max_rounds=max_rounds, kkt_tol=kkt_tol,
                floor_unit=_FLOOR_ULPS * torch.finfo(x.dtype).eps, gmax=gmax,
                threads=torch.get_num_threads())
            it_cd = int(sweeps.max(initial=0))
            left = torch.from_numpy(np.flatnonzero(~ok))
            x_sl, init_sl = x_sl[left], a[left]
        it = 0
        if x_sl.shape[0]:
            sub, it = _encode_rows(x_sl, dictionary, gram, lam=lam, positive=positive,
                                   max_iter=max_iter, tol=tol, init=init_sl, size=size,
                                   restart=restart, check_every=check_every, kkt_tol=kkt_tol,
                                   max_rounds=max_rounds, block_rows=None,
                                   lip_global=lip_global, gmax=gmax, budget=budget)
            if a is None:
                a = sub
            else:
                a[left] = sub
        codes.append(a)
        n_iter = max(n_iter, it_cd + it)
    out = torch.cat(codes)
    if budget.n_bad:
        rel = budget.worst / max(lam, 1e-300)
        warnings.warn(
            f"sparse_encode: {budget.n_bad} of {n} rows are not certified: their KKT "
            f"violation exceeds kkt_tol*lam = {kkt_tol:g}*{lam:g} after max_iter={max_iter} "
            f"iterations (worst violation {budget.worst:.3g} = {rel:.3g}*lam); raise max_iter, or "
            f"kkt_tol if this accuracy is enough",
            CertificateWarning, stacklevel=2)
    return (out, n_iter) if return_n_iter else out


def reconstruct(codes: torch.Tensor, dictionary: torch.Tensor) -> torch.Tensor:
    """x̂ = aΦ. Shapes: codes (N, K), dictionary (K, d) → (N, d)."""
    if codes.dim() != 2 or codes.shape[1] != dictionary.shape[0]:
        raise ValueError(f"codes must have shape (N, {dictionary.shape[0]}), got "
                         f"{tuple(codes.shape)} for dictionary {tuple(dictionary.shape)}")
    return codes @ dictionary


def objective(x: torch.Tensor, dictionary: torch.Tensor, codes: torch.Tensor, *,
              lam: float) -> float:
    """Mean over rows of ½‖x − aΦ‖² + λ‖a‖₁."""
    r = x - codes @ dictionary
    return float((0.5 * (r * r).sum(1) + lam * codes.abs().sum(1)).mean())


# ----------------------------------------------------------------------------- metrics
def mean_l0(codes: torch.Tensor, *, threshold: float = 0.0) -> float:
    """Mean number of atoms with |a| > threshold per row."""
    return float((codes.abs() > threshold).sum(1).double().mean()) if codes.numel() else 0.0


def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Fraction of variance unexplained ‖x − x̂‖² / ‖x − mean(x)‖² (means over rows)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must share a shape, got {tuple(x.shape)} and "
                         f"{tuple(x_hat.shape)}")
    num = float(((x - x_hat) ** 2).sum())
    den = float(((x - x.mean(0, keepdim=True)) ** 2).sum())
    return num / den if den > 0 else float("nan")


def atom_usage(codes: torch.Tensor, *, threshold: float = 0.0) -> torch.Tensor:
    """Per-atom fraction of rows where it is active (|a| > threshold). Shape (K,)."""
    return (codes.abs() > threshold).double().mean(0)


def dead_fraction(codes: torch.Tensor, *, threshold: float = 0.0) -> float:
    """Fraction of atoms never active on these rows."""
    return float((atom_usage(codes, threshold=threshold) == 0).double().mean())


# ----------------------------------------------------------------------------- learning
def normalize_atoms(dictionary: torch.Tensor) -> torch.Tensor:
    """Rows rescaled to unit ℓ2 (a zero row stays zero instead of becoming NaN)."""
    return dictionary / dictionary.norm(dim=1, keepdim=True).clamp_min(1e-12)


def init_dictionary(n_atoms: int, n_features: int, *, x: torch.Tensor | None = None,
                    generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Random unit atoms (Gaussian, as the official code), or random rows of ``x`` if given."""
    if n_atoms < 1 or n_features < 1:
        raise ValueError(f"n_atoms and n_features must be >= 1, got {n_atoms}, {n_features}")
    if x is not None and x.shape[0] >= n_atoms:
        idx = torch.randperm(x.shape[0], generator=generator)[:n_atoms]
        return normalize_atoms(x[idx.to(x.device)].clone())
    d = torch.randn(n_atoms, n_features, generator=generator, dtype=dtype)
    return normalize_atoms(d).to(device=device)


class DictState(NamedTuple):
    """Dictionary-learning state: atoms (K, d), Hessian diagonal (K,), steps, usage (K,).

    ``usage`` counts activations since the last dead-atom check.
    """

    dictionary: torch.Tensor
    hessian_diag: torch.Tensor
    step: int
    usage: torch.Tensor


class StepInfo(NamedTuple):
    """Diagnostics of one :func:`dictionary_step` on its batch (before the update)."""

    objective: float
    fvu: float
    l0: float
    n_iter: int
    n_resampled: int


def init_state(dictionary: torch.Tensor) -> DictState:
    """Fresh :class:`DictState` around ``dictionary`` (K, d)."""
    k = dictionary.shape[0]
    z = torch.zeros(k, dtype=dictionary.dtype, device=dictionary.device)
    return DictState(dictionary=dictionary, hessian_diag=z, step=0, usage=z.clone())


def _check_learning_args(*, lr: float, eps: float, history: int, max_iter: int, tol: float,
                         resample_every: int, kkt_tol: float) -> None:
    _check_float("lr", lr, positive=True)
    _check_float("eps", eps, positive=True)
    _check_int("history", history, low=1)
    _check_int("max_iter", max_iter, low=1)
    _check_float("tol", tol)
    _check_int("resample_every", resample_every, low=0)
    _check_float("kkt_tol", kkt_tol)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def dictionary_step(state: DictState, x: torch.Tensor, *, lam: float,
                    weights: torch.Tensor | None = None, lr: float = 0.005,
                    eps: float = 1e-3, history: int = 300, positive: bool = True,
                    max_iter: int = 500, tol: float = 1e-4,
                    resample_every: int = 0, bias_correction: bool = False,
                    working_set: int | str | None = "auto", kkt_tol: float = 1e-3,
                    generator: torch.Generator | None = None,
                    ) -> tuple[DictState, StepInfo]:
    """One alternation: FISTA codes for ``x``, then the preconditioned dictionary step.

    Parameters
    ----------
    state : DictState
    x : Tensor, shape (B, d)
    lam : float, keyword-only
    weights : Tensor, shape (B,), optional
        Per-sample weights on the residual in the gradient (TransformerVis divides each
        token's residual by √frequency). The Hessian statistic is unweighted, as there.
    lr, eps, history : float, float, int
        η, ε and the window T of the running mean of a² (official: 0.005, 1e-3, 300).
    resample_every : int
        If > 0, every that many steps atoms unused since the last check are re-seeded with
        the worst-reconstructed rows of this batch (then renormalised).
    bias_correction : bool
        Divide the running mean H by 1 − (1 − 1/T)ᵗ (Adam-style). The official code does
        not (H starts at 0, so early steps are large); with it, ``lr`` near 1 is a damped
        Newton step per atom and converges in fewer steps.
    working_set, kkt_tol :
        Passed to :func:`sparse_encode` (the codes are certified to ``kkt_tol``·λ).

    Returns
    -------
    (DictState, StepInfo)

    Under ``torch.distributed`` (initialised, world size > 1) the sums behind the gradient
    and the Hessian statistic are all-reduced, so each rank may pass its own shard.
    """
    if not isinstance(state, DictState):
        raise TypeError(f"state must be a DictState (see init_state), got "
                        f"{type(state).__name__}")
    phi = state.dictionary
    _check_inputs(x, phi, lam)
    _check_learning_args(lr=lr, eps=eps, history=history, max_iter=max_iter, tol=tol,
                         resample_every=resample_every, kkt_tol=kkt_tol)
    if weights is not None:
        weights = torch.as_tensor(weights).to(x)
        if weights.shape != (x.shape[0],):
            raise ValueError(f"weights must have shape ({x.shape[0]},), got "
                             f"{tuple(weights.shape)}")
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and >= 0")
    # an empty batch is allowed (a rank whose shard ran out under torchrun still joins
    # the all-reduce, contributing nothing)
    codes, n_iter = sparse_encode(x, phi, lam=lam, positive=positive, max_iter=max_iter,
                                  tol=tol, working_set=working_set, kkt_tol=kkt_tol,
                                  return_n_iter=True)
    res = x - codes @ phi
    wres = res if weights is None else res * weights[:, None]
    grad = codes.T @ wres  # (K, d), sum over the batch
    sq = (codes * codes).sum(0)  # (K,)
    count = torch.tensor([float(x.shape[0])], dtype=x.dtype, device=x.device)
    usage = (codes > 0).to(x.dtype).sum(0) if positive else (codes != 0).to(x.dtype).sum(0)
    stats = torch.stack([
        0.5 * (res * res).sum() + lam * codes.abs().sum(),
        (res * res).sum(),
        ((x - x.mean(0, keepdim=True)) ** 2).sum() if x.shape[0] else x.new_zeros(()),
        (codes != 0).to(x.dtype).sum(),
    ])
    if _distributed():
        for t in (grad, sq, count, usage, stats):
            dist.all_reduce(t)
    n_tot = float(count)
    if n_tot == 0:
        raise ValueError("dictionary_step got an empty batch on every rank")
    grad = grad / n_tot
    decay = (history - 1.0) / history
    hess = state.hessian_diag * decay + (sq / n_tot) / history
    step = state.step + 1
    precond = hess / (1.0 - decay ** step) if bias_correction else hess
    phi = phi + lr * grad / (precond + eps)[:, None]
    phi = normalize_atoms(phi)
    usage = state.usage + usage
    n_resampled = 0
    if resample_every > 0 and step % resample_every == 0:
        dead = torch.nonzero(usage == 0).flatten()  # the same on every rank (all-reduced)
        if dead.numel():
            # the worst-reconstructed rows of this batch become the new atoms; under
            # torchrun they come from the rank with the largest batch (every rank agrees)
            src = 0
            if _distributed():
                sizes = torch.zeros(dist.get_world_size(), dtype=torch.float64,
                                    device=x.device)
                sizes[dist.get_rank()] = float(x.shape[0])
                dist.all_reduce(sizes)
                src = int(torch.argmax(sizes))
            new = torch.zeros(dead.numel(), x.shape[1], dtype=x.dtype, device=x.device)
            if x.shape[0]:
                err = (res * res).sum(1)
                order = torch.argsort(err, descending=True)
                take = order[: dead.numel()]
                if take.numel() < dead.numel():
                    take = take.repeat(math.ceil(dead.numel() / max(take.numel(), 1)))
                new = x[take[: dead.numel()]]
                new = new + 1e-3 * torch.randn(new.shape, generator=generator,
                                               dtype=new.dtype).to(new.device)
            if _distributed():
                new = new.contiguous()
                dist.broadcast(new, src)
            phi = phi.clone()
            phi[dead] = normalize_atoms(new)
            hess = hess.clone()
            hess[dead] = 0
            n_resampled = int(dead.numel())
        usage = torch.zeros_like(usage)
    info = StepInfo(objective=float(stats[0]) / n_tot,
                    fvu=float(stats[1] / stats[2]) if float(stats[2]) > 0 else float("nan"),
                    l0=float(stats[3]) / n_tot, n_iter=n_iter, n_resampled=n_resampled)
    return DictState(dictionary=phi, hessian_diag=hess, step=step, usage=usage), info


def learn_dictionary(x: torch.Tensor, *, n_atoms: int, lam: float, n_epochs: int = 1,
                     batch_size: int = 256, weights: torch.Tensor | None = None,
                     weighting: str = "gradient", lr: float = 0.005, eps: float = 1e-3,
                     history: int = 300, positive: bool = True, max_iter: int = 500,
                     tol: float = 1e-4, resample_every: int = 0, bias_correction: bool = False,
                     working_set: int | str | None = "auto", kkt_tol: float = 1e-3,
                     init: torch.Tensor | DictState | None = None,
                     generator: torch.Generator | None = None, max_steps: int | None = None,
                     callback=None, progress: bool = False,
                     ) -> tuple[DictState, list[StepInfo]]:
    """Learn a dictionary by alternating FISTA and :func:`dictionary_step` over mini-batches.

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Training rows (this rank's shard under ``torchrun``).
    n_atoms : int
        K.
    lam : float
    n_epochs, batch_size : int
        Passes over the (shuffled) rows and rows per step.
    weights : Tensor, shape (N,), optional
        Per-row weights. ``weighting="gradient"`` multiplies each row's residual in the
        gradient; ``"sample"`` draws each batch with probability ∝ weight instead (the word
        factor paper samples words ∝ log frequency).
    init : Tensor (K, d) or DictState, optional
        Starting dictionary (default: random unit rows of ``x``, seeded by ``generator``);
        a :class:`DictState` resumes training.
    max_steps : int, optional
        Stop after this many steps in total.
    working_set, kkt_tol :
        Passed to :func:`sparse_encode`.

    Under ``torchrun`` each rank passes its own shard (shards may differ in size): every
    rank takes the same number of steps (an epoch is what the largest shard needs; a rank
    whose shard is exhausted contributes empty batches), gradients are all-reduced, and
    every rank ends with the same dictionary (rank 0's copy is broadcast at the end).
    callback : callable(state, info), optional
        Called after each step.

    Returns
    -------
    (DictState, list[StepInfo])
    """
    _check_int("n_atoms", n_atoms, low=1)
    _check_int("n_epochs", n_epochs, low=1)
    _check_int("batch_size", batch_size, low=1)
    _check_int("max_steps", max_steps, low=0, none_ok=True)
    if weighting not in ("gradient", "sample"):
        raise ValueError(f"weighting must be 'gradient' or 'sample', got {weighting!r}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}; convert with "
                        f"torch.as_tensor")
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be floating point, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"x contains {int((~torch.isfinite(x)).sum())} NaN/Inf values")
    _check_float("lam", lam)
    _check_learning_args(lr=lr, eps=eps, history=history, max_iter=max_iter, tol=tol,
                         resample_every=resample_every, kkt_tol=kkt_tol)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable, got {callback!r}")
    n = x.shape[0]
    distributed = _distributed()
    if n == 0 and not distributed:
        raise ValueError("x has no rows")
    if weights is not None:
        weights = torch.as_tensor(weights).to(x)
        if weights.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {tuple(weights.shape)}")
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and >= 0")
        if weighting == "sample" and n and not float(weights.sum()) > 0:
            raise ValueError("weighting='sample' needs weights with a positive sum")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if isinstance(init, DictState):
        state = init
        if state.dictionary.shape != (n_atoms, x.shape[1]):
            raise ValueError(f"init state's dictionary must have shape "
                             f"{(n_atoms, x.shape[1])}, got {tuple(state.dictionary.shape)}")
    else:
        if init is None:
            phi = init_dictionary(n_atoms, x.shape[1], x=x if n else None, generator=generator,
                                  dtype=x.dtype, device=x.device)
        else:
            phi = normalize_atoms(torch.as_tensor(init).to(x))
        if phi.shape != (n_atoms, x.shape[1]):
            raise ValueError(f"init must have shape {(n_atoms, x.shape[1])}, got "
                             f"{tuple(phi.shape)}")
        phi = phi.to(x).contiguous()
        if distributed:
            dist.broadcast(phi, 0)
        state = init_state(phi)
    from reprlab.utils import progress_bar

    # under torchrun every rank must take the same number of steps (each step all-reduces):
    # an epoch is as many steps as the largest shard needs; a rank whose shard runs out
    # first joins the remaining steps with empty batches (it contributes nothing to them)
    n_max = n
    if distributed:
        t = torch.tensor([float(n)], dtype=torch.float64, device=x.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        n_max = int(t.item())
    steps_per_epoch = max(1, math.ceil(n_max / batch_size))
    total = n_epochs * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    infos: list[StepInfo] = []
    bar = progress_bar(total=total, enabled=progress, desc="dictionary")
    done = 0
    while done < total:
        if weights is not None and weighting == "sample" and n:
            order = torch.multinomial(weights.cpu().double(), steps_per_epoch * batch_size,
                                      replacement=True, generator=generator)
        else:
            order = torch.randperm(n, generator=generator)
        for b in range(steps_per_epoch):
            if done >= total:
                break
            idx = order[b * batch_size:(b + 1) * batch_size].to(x.device)
            w = weights[idx] if weights is not None and weighting == "gradient" else None
            state, info = dictionary_step(state, x[idx], lam=lam, weights=w, lr=lr, eps=eps,
                                          history=history, positive=positive,
                                          max_iter=max_iter, tol=tol,
                                          resample_every=resample_every,
                                          bias_correction=bias_correction,
                                          working_set=working_set, kkt_tol=kkt_tol,
                                          generator=generator)
            infos.append(info)
            if callback is not None:
                callback(state, info)
            done += 1
            bar.update(1)
            bar.set_postfix(obj=f"{info.objective:.4f}", l0=f"{info.l0:.1f}")
    bar.close()
    if distributed:
        # the all-reduced updates are already identical; broadcasting rank 0's copy also
        # removes any bitwise drift (e.g. from a backend with rank-dependent reduction order)
        phi = state.dictionary.contiguous()
        hess = state.hessian_diag.contiguous()
        dist.broadcast(phi, 0)
        dist.broadcast(hess, 0)
        state = state._replace(dictionary=phi, hessian_diag=hess)
    return state, infos
