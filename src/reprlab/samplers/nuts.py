"""The No-U-Turn Sampler, batched over chains (Hoffman & Gelman, 2014; Betancourt, 2017).

Each chain builds its own trajectory by repeated doubling: at depth ``j`` it picks a
direction at random and integrates a subtree of ``2^j`` leapfrog steps from that end of the
trajectory. As in BlackJAX (``blackjax.mcmc.nuts`` on ``trajectory.dynamic_multiplicative_
expansion``) and NumPyro:

* **multinomial sampling** — leaves carry weight ``exp(H_0 − H)``; within a subtree the
  proposal is updated by progressive uniform sampling, and the subtree's proposal replaces
  the trajectory's with probability ``min(1, W_subtree / W_old)`` (biased progressive
  sampling, which favours the far end);
* **generalized U-turn criterion** — a trajectory with end momenta ``r⁻, r⁺`` and momentum
  sum ``ρ`` turns when ``(M⁻¹r⁻)·ρ ≤ 0`` or ``(M⁻¹r⁺)·ρ ≤ 0``; inside a subtree every
  nested balanced sub-subtree is checked as it completes (NumPyro's iterative checkpoints),
  and the merged trajectory is checked after each doubling;
* **divergences** — a leaf with ``H − H_0 > 1000`` (or a non-finite energy) stops the
  trajectory; a subtree that turned or diverged is not sampled from.

The chains move in lockstep through the doublings, but each has its own direction, depth
and stopping time; a finished chain is not integrated any further (the leapfrog runs on the
active chains only), and ``n_grad_evals`` counts each chain's leapfrog steps exactly.

Examples
--------
>>> import torch
>>> from reprlab.samplers import nuts, sample_chain
>>> algo = nuts(lambda x: -0.5 * (x ** 2).sum(-1), step_size=0.5, inverse_mass_matrix=1.0)
>>> state = algo.init(torch.zeros(4, 3))
>>> state, draws, infos = sample_chain(algo, state, 5, generator=torch.Generator().manual_seed(0))
>>> draws.shape, bool((state.n_grad_evals == 1 + sum(i.n_grad_evals for i in infos)).all())
(torch.Size([5, 4, 3]), True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from reprlab.samplers.base import LogDensityFn, SamplingAlgorithm, check_step_size
from reprlab.samplers.hamiltonian import (
    HMCState,
    _bcast,
    _check_jitter,
    _leapfrog_rows,
    init,
    per_chain_step_size,
)
from reprlab.samplers.metrics import EuclideanMetric, gaussian_euclidean, metric_cache

__all__ = ["NUTSInfo", "init", "build_kernel", "nuts"]


class NUTSInfo(NamedTuple):
    """Per-chain diagnostics ``(B,)`` of one NUTS step.

    ``acceptance_rate`` is the mean of ``min(1, exp(H_0 − H))`` over the trajectory's
    leaves (what step-size adaptation targets); ``is_divergent``, ``is_turning`` say why the
    trajectory stopped (neither: ``max_tree_depth`` was reached); ``tree_depth`` is the
    number of doublings; ``n_grad_evals`` the leapfrog steps (= gradient evaluations);
    ``energy`` the potential energy ``−log p`` at the new state.
    """

    acceptance_rate: torch.Tensor
    is_divergent: torch.Tensor
    is_turning: torch.Tensor
    tree_depth: torch.Tensor
    n_grad_evals: torch.Tensor
    energy: torch.Tensor


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(_bcast(mask, a), a, b)


def _leaf_ckpt_idxs(n: int) -> tuple[int, int]:
    """NumPyro's checkpoint indices of leaf ``n``: ``idx_max`` = set bits of ``n >> 1``,
    ``idx_min = idx_max − (trailing ones of n) + 1`` (empty range for even ``n``)."""
    idx_max = bin(n >> 1).count("1")
    trailing = 0
    while (n >> trailing) & 1:
        trailing += 1
    return idx_max - trailing + 1, idx_max


def build_kernel(*, max_tree_depth: int = 10, divergence_threshold: float = 1000.0):
    """NUTS kernel ``kernel(generator, state, logdensity_fn, step_size, inverse_mass_matrix,
    *, max_tree_depth=<this default>, step_size_jitter=0.0, metric=None) -> (HMCState,
    NUTSInfo)`` (BlackJAX passes the depth to the kernel too, as ``max_num_doublings``)."""
    default_depth = max_tree_depth
    if not (isinstance(max_tree_depth, int) and 1 <= max_tree_depth <= 30):
        raise ValueError(f"max_tree_depth must be an int in [1, 30], got {max_tree_depth!r}")
    if not divergence_threshold > 0:
        raise ValueError(f"divergence_threshold must be > 0, got {divergence_threshold}")

    @torch.no_grad()
    def kernel(
        generator: torch.Generator,
        state: HMCState,
        logdensity_fn: LogDensityFn,
        step_size: float | torch.Tensor,
        inverse_mass_matrix: torch.Tensor | float,
        *,
        max_tree_depth: int = default_depth,
        step_size_jitter: float = 0.0,
        metric: EuclideanMetric | None = None,
    ) -> tuple[HMCState, NUTSInfo]:
        if not (isinstance(max_tree_depth, int) and 1 <= max_tree_depth <= 30):
            raise ValueError(f"max_tree_depth must be an int in [1, 30], got "
                             f"{max_tree_depth!r}")
        check_step_size(step_size)
        _check_jitter(step_size_jitter)
        x0, lp0, g0 = state.position, state.logdensity, state.logdensity_grad
        b, dev, dt = x0.shape[0], x0.device, x0.dtype
        if metric is None:
            metric = gaussian_euclidean(inverse_mass_matrix, x0[0].numel(), dtype=dt,
                                        device=dev)
        kin = metric.kinetic_energy
        eps = per_chain_step_size(step_size, step_size_jitter, generator, x0)
        r0 = metric.sample_momentum(generator, x0)
        h0 = -lp0 + kin(r0)

        def rand() -> torch.Tensor:
            return torch.rand(b, generator=generator, dtype=dt, device=dev)

        xl, rl, gl = x0, r0, g0  # left end of the trajectory
        xr, rr, gr = x0, r0, g0  # right end
        px, plp, pg = x0, lp0, g0  # proposal
        log_w = torch.zeros(b, dtype=dt, device=dev)  # log Σ exp(H_0 − H) over the leaves
        rho = r0.clone()
        active = torch.ones(b, dtype=torch.bool, device=dev)
        depth = torch.zeros(b, dtype=torch.long, device=dev)
        n_steps = torch.zeros(b, dtype=torch.long, device=dev)
        sum_acc = torch.zeros(b, dtype=dt, device=dev)
        divergent = torch.zeros(b, dtype=torch.bool, device=dev)
        turning = torch.zeros(b, dtype=torch.bool, device=dev)
        neg_inf = torch.full((b,), -torch.inf, dtype=dt, device=dev)

        for j in range(max_tree_depth):
            if not bool(active.any()):
                break
            fwd = rand() < 0.5
            signed_eps = torch.where(fwd, eps, -eps)
            cx, cr, cg = _where(fwd, xr, xl), _where(fwd, rr, rl), _where(fwd, gr, gl)
            sx, slp, sg = cx, lp0, cg  # subtree proposal (overwritten by the first leaf)
            sub_lw = neg_inf.clone()
            sub_rho = torch.zeros_like(r0)
            n_ckpt = max(j, 1)
            ck_r = r0.new_zeros((n_ckpt, *r0.shape))
            ck_rsum = r0.new_zeros((n_ckpt, *r0.shape))
            sub_active = active.clone()
            sub_turn = torch.zeros_like(active)
            sub_div = torch.zeros_like(active)
            for k in range(2**j):
                if not bool(sub_active.any()):
                    break
                a = sub_active
                rows = None if bool(a.all()) else a.nonzero().squeeze(1)
                cx, cr, clp, cg = _leapfrog_rows(logdensity_fn, cx, cr, cg, signed_eps,
                                                 metric.velocity, rows)
                delta = torch.nan_to_num(-clp + kin(cr) - h0, nan=torch.inf,
                                         posinf=torch.inf)
                if rows is None:  # every chain still building: no masks needed
                    n_steps = n_steps + 1
                    lw_leaf = -delta
                    div = delta > divergence_threshold
                    sum_acc = sum_acc + lw_leaf.clamp(max=0.0).exp()
                    sub_rho = sub_rho + cr
                else:
                    n_steps = n_steps + a.long()
                    lw_leaf = torch.where(a, -delta, neg_inf)
                    div = a & (delta > divergence_threshold)
                    sum_acc = sum_acc + torch.where(a, (-delta).clamp(max=0.0).exp(), 0.0)
                    sub_rho = sub_rho + _where(a, cr, torch.zeros_like(cr))
                # progressive uniform sampling inside the subtree
                new_lw = torch.logaddexp(sub_lw, lw_leaf)
                p_take = torch.nan_to_num((lw_leaf - new_lw).exp(), nan=0.0)
                take = a & (rand() < p_take)
                sx, sg = _where(take, cx, sx), _where(take, cg, sg)
                slp = torch.where(take, clp, slp)
                sub_lw = new_lw if rows is None else torch.where(a, new_lw, sub_lw)
                # iterative U-turn checks on the balanced sub-subtrees ending at leaf k
                idx_min, idx_max = _leaf_ckpt_idxs(k)
                turn = torch.zeros_like(a)
                if k % 2 == 0:
                    ck_r[idx_max] = cr
                    ck_rsum[idx_max] = sub_rho
                else:
                    for i in range(idx_max, idx_min - 1, -1):
                        part_sum = sub_rho - ck_rsum[i] + ck_r[i]
                        turn = turn | metric.is_turning(ck_r[i], cr, part_sum)
                    turn = turn & a
                sub_turn = sub_turn | turn
                sub_div = sub_div | div
                sub_active = a & ~turn & ~div
            # merge the subtree into the trajectory
            ok = active & ~sub_turn & ~sub_div
            p_take = (sub_lw - log_w).clamp(max=0.0).exp()
            take = ok & (rand() < torch.nan_to_num(p_take, nan=0.0))
            px, pg = _where(take, sx, px), _where(take, sg, pg)
            plp = torch.where(take, slp, plp)
            log_w = torch.where(active, torch.logaddexp(log_w, sub_lw), log_w)
            rho = rho + _where(active, sub_rho, torch.zeros_like(sub_rho))
            right, left = active & fwd, active & ~fwd
            xr, rr, gr = _where(right, cx, xr), _where(right, cr, rr), _where(right, cg, gr)
            xl, rl, gl = _where(left, cx, xl), _where(left, cr, rl), _where(left, cg, gl)
            full_turn = metric.is_turning(rl, rr, rho)
            depth = torch.where(active, j + 1, depth)
            divergent = divergent | (active & sub_div)
            turning = turning | (active & ~sub_div & (sub_turn | full_turn))
            active = active & ~(sub_turn | sub_div | full_turn)

        new_state = HMCState(px, plp, pg, state.n_grad_evals + n_steps)
        energy = -plp  # potential energy at the new state (the momentum is resampled)
        acc = sum_acc / n_steps.clamp(min=1).to(dt)
        return new_state, NUTSInfo(acc, divergent, turning, depth, n_steps, energy)

    return kernel


class nuts:  # noqa: N801 — BlackJAX's spelling: a class whose call builds the algorithm
    """NUTS as a :class:`SamplingAlgorithm`.

    ``nuts(logdensity_fn, *, step_size, inverse_mass_matrix=1.0, max_tree_depth=10,
    step_size_jitter=0.0, divergence_threshold=1000.0)``. ``step_size`` is a float or one
    per chain ``(B,)``; ``inverse_mass_matrix`` a float, ``(d,)`` or ``(d, d)``. The states
    are :class:`~reprlab.samplers.HMCState` (``nuts.init`` is HMC's ``init``).
    """

    init = staticmethod(init)
    build_kernel = staticmethod(build_kernel)

    def __new__(  # type: ignore[misc]
        cls,
        logdensity_fn: LogDensityFn,
        *,
        step_size: float | torch.Tensor,
        inverse_mass_matrix: torch.Tensor | float = 1.0,
        max_tree_depth: int = 10,
        step_size_jitter: float = 0.0,
        divergence_threshold: float = 1000.0,
    ) -> SamplingAlgorithm:
        check_step_size(step_size)
        _check_jitter(step_size_jitter)
        kernel = build_kernel(max_tree_depth=max_tree_depth,
                              divergence_threshold=divergence_threshold)
        metric_for = metric_cache(inverse_mass_matrix)

        def init_fn(position: torch.Tensor) -> HMCState:
            return init(position, logdensity_fn)

        def step_fn(generator: torch.Generator, state: HMCState):
            return kernel(generator, state, logdensity_fn, step_size, inverse_mass_matrix,
                          step_size_jitter=step_size_jitter, metric=metric_for(state.position))

        return SamplingAlgorithm(init_fn, step_fn)
