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
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.distributed as dist

__all__ = [
    "soft_threshold",
    "lipschitz_constant",
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
def _check_inputs(x: torch.Tensor, dictionary: torch.Tensor, lam: float) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(dictionary, torch.Tensor):
        raise TypeError("x and dictionary must be torch.Tensor; convert with torch.as_tensor")
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
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    if not torch.isfinite(x).all():
        raise ValueError(f"x contains {int((~torch.isfinite(x)).sum())} NaN/Inf values")
    if not torch.isfinite(dictionary).all():
        raise ValueError("dictionary contains NaN/Inf values")


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
                       generator: torch.Generator | None = None) -> float:
    """Largest eigenvalue of ΦΦᵀ (= ‖Φ‖₂²) by power iteration on the smaller Gram matrix.

    Parameters
    ----------
    dictionary : Tensor, shape (K, d)
    n_iter : int, keyword-only
        At most this many power iterations; stops when the estimate changes by < ``tol``.

    Returns
    -------
    float
        L, inflated by 1% since power iteration approaches it from below and a step above
        1/L can make FISTA diverge.
    """
    k, d = dictionary.shape
    work = dictionary.double()
    gram = work.T @ work if d <= k else work @ work.T  # same nonzero spectrum, smaller side
    if generator is None:
        generator = torch.Generator().manual_seed(0)  # deterministic start vector
    v = torch.randn(gram.shape[0], 1, generator=generator, dtype=gram.dtype).to(gram.device)
    v = v / v.norm().clamp_min(1e-30)
    est = 0.0
    for _ in range(n_iter):
        w = gram @ v
        new = float(w.norm())
        if new == 0.0:
            return 1.0  # all-zero dictionary: any step is fine
        v = w / new
        if abs(new - est) <= tol * new:
            est = new
            break
        est = new
    return 1.01 * est


def _fista(a: torch.Tensor, grad_fn: Callable[[torch.Tensor], torch.Tensor], *, lam: float,
           positive: bool, step: float | torch.Tensor, max_iter: int, tol: float,
           check_every: int, restart: bool) -> tuple[torch.Tensor, int]:
    """The FISTA iteration shared by every solver: ``grad_fn(y)`` is the smooth part's
    gradient at ``y`` (dense Φ, Gram form or per-row reduced blocks); returns (codes, its)."""
    y = a.clone()
    t = torch.ones(a.shape[0], 1, dtype=a.dtype, device=a.device)
    thr = step * lam
    it = 0
    for it in range(1, max_iter + 1):
        a_new = soft_threshold(y - step * grad_fn(y), thr, positive=positive)
        diff = a_new - a
        t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
        if restart:
            # adaptive restart (O'Donoghue & Candès 2015): reset momentum of rows where the
            # step goes against the momentum direction
            bad = ((y - a_new) * diff).sum(1, keepdim=True) > 0
            t_new = torch.where(bad, torch.ones_like(t_new), t_new)
            mom = torch.where(bad, torch.zeros_like(t), (t - 1.0) / t_new)
        else:
            mom = (t - 1.0) / t_new
        y = a_new + mom * diff
        if tol > 0 and (it % check_every == 0 or it == max_iter):
            # relative change of the whole chunk's codes
            if float(diff.norm()) <= tol * max(float(a_new.norm()), 1e-12):
                a = a_new
                break
        a = a_new
        t = t_new
    return a, it


def _encode_chunk(x: torch.Tensor, dictionary: torch.Tensor, *, lam: float, positive: bool,
                  max_iter: int, tol: float, init: torch.Tensor | None, step: float,
                  use_gram: bool, gram: torch.Tensor | None, check_every: int,
                  restart: bool) -> tuple[torch.Tensor, int]:
    """FISTA on one chunk of rows; returns (codes, iterations run)."""
    n = x.shape[0]
    k = dictionary.shape[0]
    a = torch.zeros(n, k, dtype=x.dtype, device=x.device) if init is None else init.clone()
    xd = x @ dictionary.T  # (N, K), constant part of the gradient

    def grad(y: torch.Tensor) -> torch.Tensor:
        # gradient of ½‖x − yΦ‖² wrt y is yΦΦᵀ − xΦᵀ; use the Gram form when K ≤ 2d
        return y @ gram - xd if use_gram else (y @ dictionary) @ dictionary.T - xd

    return _fista(a, grad, lam=lam, positive=positive, step=step, max_iter=max_iter, tol=tol,
                  check_every=check_every, restart=restart)


def _encode_working_set(x: torch.Tensor, dictionary: torch.Tensor, *, lam: float,
                         positive: bool, max_iter: int, tol: float, init: torch.Tensor | None,
                         size: int, restart: bool, check_every: int, kkt_tol: float,
                         max_rounds: int, chunk_size: int | None) -> tuple[torch.Tensor, int]:
    """FISTA restricted to per-row working sets of atoms, grown until the KKT conditions hold.

    Each round solves, for every unfinished row, the lasso over its working set (its current
    support plus every atom that violates optimality, at least ``size`` atoms, rounded up to
    a multiple of 16) with batched FISTA on the gathered (m, m) Gram blocks; rows are
    bucketed by m. One dense gradient then checks the full KKT conditions; rows where some
    inactive atom violates them by more than ``kkt_tol``·λ go to the next round. The fixed
    point is the lasso solution; an iteration costs O(m²) per row instead of O(K·d).
    """
    n = x.shape[0]
    k = dictionary.shape[0]
    gram = dictionary @ dictionary.T  # (K, K)
    corr = x @ dictionary.T  # (N, K) = xΦᵀ
    a = torch.zeros(n, k, dtype=x.dtype, device=x.device) if init is None else init.clone()
    l_global = lipschitz_constant(dictionary)
    todo = torch.arange(n, device=x.device)
    total_it = 0
    for rnd in range(max_rounds):
        rows_a = a.index_select(0, todo)
        # full gradient of the smooth part, residual form (cheaper than the Gram when K > 2d)
        if init is None and rnd == 0:
            grad = -corr
        else:
            grad = (rows_a @ dictionary) @ dictionary.T - corr.index_select(0, todo)
        viol = grad.neg_() if positive else grad.abs_()
        active = rows_a != 0
        violating = viol.masked_fill(active, -float("inf")) > lam * (1 + kkt_tol)
        n_viol = violating.sum(1)
        keep = n_viol > 0
        if rnd > 0 or init is not None:
            todo, viol, active, n_viol = todo[keep], viol[keep], active[keep], n_viol[keep]
            if todo.numel() == 0:
                break
        # set size per row: support + violators (+ slack), at least `size`, multiple of 16
        # (the first round from zero codes has every atom with xΦᵢ > λ as a violator: start
        # from the `size` best of them; later rounds add at most `size` violators at a time)
        if init is None and rnd == 0:
            need = torch.full_like(n_viol, size)
        else:
            need = active.sum(1) + n_viol.clamp(max=size)
        m_row = torch.clamp(((need.clamp_min(size) + 4 + 15) // 16) * 16, max=k)
        score = viol.masked_fill_(active, float("inf"))
        round_it = 0
        for m in torch.unique(m_row).tolist():
            sel = torch.nonzero(m_row == m).flatten()
            rows_m = todo[sel]
            # sorted indices make the Gram-block gather below read each row in order
            ws = torch.topk(score.index_select(0, sel), m, dim=1).indices.sort(dim=1).values
            cs = chunk_size or max(1, (1 << 23) // (m * m))
            for start in range(0, rows_m.numel(), cs):
                rows = rows_m[start:start + cs]
                w = ws[start:start + cs]
                # (R, m, m) Gram blocks; index_select on the flat Gram is much faster than
                # two-tensor advanced indexing
                flat = (w.unsqueeze(2) * k + w.unsqueeze(1)).reshape(-1)
                gw = gram.reshape(-1).index_select(0, flat).view(w.shape[0], m, m)
                cw = corr.index_select(0, rows).gather(1, w)
                a0 = a.index_select(0, rows).gather(1, w)
                # per-row step 1/L with the Gershgorin bound L ≤ max row-sum of |G_block|
                # (an upper bound, so the step is safe), capped by the global L
                lblock = gw.abs().sum(2).amax(1, keepdim=True).clamp(max=l_global)
                step = 1.0 / lblock.clamp_min(1e-12)
                sol, it = _fista_blocks(gw, cw, a0, lam=lam, positive=positive, step=step,
                                        max_iter=max_iter, tol=tol, check_every=check_every,
                                        restart=restart)
                full = torch.zeros(rows.numel(), k, dtype=x.dtype, device=x.device)
                a[rows] = full.scatter_(1, w, sol)
                round_it = max(round_it, it)
        total_it += round_it
    return a, total_it


def _fista_blocks(gw: torch.Tensor, cw: torch.Tensor, a: torch.Tensor, *, lam: float,
                  positive: bool, step: torch.Tensor, max_iter: int, tol: float,
                  check_every: int, restart: bool) -> tuple[torch.Tensor, int]:
    """Batched FISTA on per-row reduced problems ½aᵀG a − cᵀa + λ‖a‖₁. gw (R, m, m)."""
    return _fista(a, lambda y: torch.bmm(y.unsqueeze(1), gw).squeeze(1) - cw, lam=lam,
                  positive=positive, step=step, max_iter=max_iter, tol=tol,
                  check_every=check_every, restart=restart)


def sparse_encode(x: torch.Tensor, dictionary: torch.Tensor, *, lam: float,
                  positive: bool = True, max_iter: int = 500, tol: float = 1e-4,
                  init: torch.Tensor | None = None, step: float | None = None,
                  chunk_size: int | None = None, restart: bool = True,
                  check_every: int = 5, working_set: int | None = None,
                  kkt_tol: float = 1e-3, return_n_iter: bool = False,
                  ) -> torch.Tensor | tuple[torch.Tensor, int]:
    """Sparse codes by batched FISTA: ``argmin_a ½‖x − aΦ‖² + λ‖a‖₁`` per row.

    Parameters
    ----------
    x : Tensor, shape (N, d)
        Signals, float32 or float64, any device.
    dictionary : Tensor, shape (K, d)
        Atoms as rows (unit norm is not required for inference).
    lam : float, keyword-only
        λ ≥ 0. scikit-learn's ``sparse_encode(alpha=λ, algorithm="lasso_cd")`` solves the
        same problem (it divides by d internally); its ``Lasso(alpha)`` uses ``alpha = λ/d``.
    positive : bool
        Constrain a ≥ 0 (default, as both factor papers).
    max_iter, tol : int, float
        Stop after ``max_iter`` iterations or when ‖aₖ₊₁ − aₖ‖ ≤ tol·‖aₖ₊₁‖ over the chunk
        (checked every ``check_every`` iterations). ``tol=0`` always runs ``max_iter``.
    init : Tensor, shape (N, K), optional
        Warm start.
    step : float, optional
        Step size; default 1/L with L from :func:`lipschitz_constant`.
    chunk_size : int, optional
        Rows solved at once (bounds memory for N ~ 10⁵); default keeps N·K ≤ 2²⁴.
    restart : bool
        Adaptive momentum restart per row (faster, same fixed point).
    working_set : int, optional
        If given, solve per-row problems over working sets of this many atoms (grown ×2
        while some inactive atom violates KKT by more than ``kkt_tol``·λ): same solution,
        far cheaper when codes are sparse and K is large (see :func:`_encode_working_set`).
    kkt_tol : float
        Relative KKT slack accepted by the working-set solver.
    return_n_iter : bool
        Also return the largest iteration count over chunks (summed over working-set rounds).

    Returns
    -------
    codes : Tensor, shape (N, K)

    Examples
    --------
    >>> phi = torch.eye(3)
    >>> sparse_encode(torch.tensor([[2.0, 0.1, -1.0]]), phi, lam=0.5, tol=0)
    tensor([[1.5000, 0.0000, 0.0000]])
    """
    _check_inputs(x, dictionary, lam)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    n, _ = x.shape
    k, d = dictionary.shape
    if init is not None:
        if init.shape != (n, k):
            raise ValueError(f"init must have shape {(n, k)} (n_samples, n_atoms), got "
                             f"{tuple(init.shape)}")
        init = init.to(x)
        if positive:
            init = init.clamp_min(0)
    if step is None:
        step = 1.0 / lipschitz_constant(dictionary)
    elif not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    if working_set is not None:
        if working_set < 1:
            raise ValueError(f"working_set must be >= 1 or None, got {working_set}")
        out, n_iter = _encode_working_set(x, dictionary, lam=lam, positive=positive,
                                          max_iter=max_iter, tol=tol, init=init,
                                          size=working_set, restart=restart,
                                          check_every=max(1, check_every), kkt_tol=kkt_tol,
                                          max_rounds=12, chunk_size=chunk_size)
        return (out, n_iter) if return_n_iter else out
    use_gram = k <= 2 * d
    gram = dictionary @ dictionary.T if use_gram else None
    if chunk_size is None:
        chunk_size = max(1, (1 << 24) // max(k, 1))
    codes = []
    n_iter = 0
    for start in range(0, n, chunk_size):
        sl = slice(start, start + chunk_size)
        a, it = _encode_chunk(x[sl], dictionary, lam=lam, positive=positive,
                              max_iter=max_iter, tol=tol,
                              init=None if init is None else init[sl], step=step,
                              use_gram=use_gram, gram=gram, check_every=max(1, check_every),
                              restart=restart)
        codes.append(a)
        n_iter = max(n_iter, it)
    out = torch.cat(codes) if codes else x.new_zeros(0, k)
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


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def dictionary_step(state: DictState, x: torch.Tensor, *, lam: float,
                    weights: torch.Tensor | None = None, lr: float = 0.005,
                    eps: float = 1e-3, history: int = 300, positive: bool = True,
                    max_iter: int = 500, tol: float = 1e-4,
                    resample_every: int = 0, bias_correction: bool = False,
                    working_set: int | None = None,
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
    working_set : int, optional
        Use the working-set FISTA solver for the codes (see :func:`sparse_encode`).

    Returns
    -------
    (DictState, StepInfo)

    Under ``torch.distributed`` (initialised, world size > 1) the sums behind the gradient
    and the Hessian statistic are all-reduced, so each rank may pass its own shard.
    """
    phi = state.dictionary
    _check_inputs(x, phi, lam)
    if weights is not None:
        weights = torch.as_tensor(weights).to(x)
        if weights.shape != (x.shape[0],):
            raise ValueError(f"weights must have shape ({x.shape[0]},), got "
                             f"{tuple(weights.shape)}")
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and >= 0")
    if history < 1:
        raise ValueError(f"history must be >= 1, got {history}")
    codes, n_iter = sparse_encode(x, phi, lam=lam, positive=positive, max_iter=max_iter,
                                  tol=tol, working_set=working_set, return_n_iter=True)
    res = x - codes @ phi
    wres = res if weights is None else res * weights[:, None]
    grad = codes.T @ wres  # (K, d), sum over the batch
    sq = (codes * codes).sum(0)  # (K,)
    count = torch.tensor([float(x.shape[0])], dtype=x.dtype, device=x.device)
    usage = (codes > 0).to(x.dtype).sum(0) if positive else (codes != 0).to(x.dtype).sum(0)
    stats = torch.stack([
        0.5 * (res * res).sum() + lam * codes.abs().sum(),
        (res * res).sum(),
        ((x - x.mean(0, keepdim=True)) ** 2).sum(),
        (codes != 0).to(x.dtype).sum(),
    ])
    if _distributed():
        for t in (grad, sq, count, usage, stats):
            dist.all_reduce(t)
    n_tot = float(count)
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
        dead = torch.nonzero(usage == 0).flatten()
        if dead.numel():
            # the worst-reconstructed rows of this batch become the new atoms
            err = (res * res).sum(1)
            order = torch.argsort(err, descending=True)
            take = order[: dead.numel()]
            if take.numel() < dead.numel():
                take = take.repeat(math.ceil(dead.numel() / max(take.numel(), 1)))
            new = x[take[: dead.numel()]]
            new = new + 1e-3 * torch.randn(new.shape, generator=generator,
                                           dtype=new.dtype).to(new.device)
            if _distributed():
                dist.broadcast(new, 0)
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
                     working_set: int | None = None,
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
    callback : callable(state, info), optional
        Called after each step.

    Returns
    -------
    (DictState, list[StepInfo])
    """
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if weighting not in ("gradient", "sample"):
        raise ValueError(f"weighting must be 'gradient' or 'sample', got {weighting!r}")
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
    n = x.shape[0]
    if weights is not None:
        weights = torch.as_tensor(weights).to(x)
        if weights.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {tuple(weights.shape)}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if isinstance(init, DictState):
        state = init
    else:
        phi = init_dictionary(n_atoms, x.shape[1], x=x, generator=generator) if init is None \
            else normalize_atoms(init.to(x))
        if phi.shape != (n_atoms, x.shape[1]):
            raise ValueError(f"init must have shape {(n_atoms, x.shape[1])}, got "
                             f"{tuple(phi.shape)}")
        if _distributed():
            dist.broadcast(phi, 0)
        state = init_state(phi.to(x))
    from reprlab.utils import progress_bar

    steps_per_epoch = max(1, math.ceil(n / batch_size))
    total = n_epochs * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    infos: list[StepInfo] = []
    bar = progress_bar(total=total, enabled=progress, desc="dictionary")
    done = 0
    while done < total:
        if weights is not None and weighting == "sample":
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
                                          working_set=working_set, generator=generator)
            infos.append(info)
            if callback is not None:
                callback(state, info)
            done += 1
            bar.update(1)
            bar.set_postfix(obj=f"{info.objective:.4f}", l0=f"{info.l0:.1f}")
    bar.close()
    return state, infos
