"""Score the trained neural sampler against window-adapted HMC and NUTS on one target.

Every sampler gets the same chains, starting points (exact draws when the target has them,
otherwise the end of a shared adapted-NUTS pre-run) and number of kept draws, and is scored
by ArviZ's minimum bulk ESS over coordinates per gradient evaluation: *sampling only* (the
kept draws and their burn-in excluded) and *with tuning* (the baselines' warm-up, the neural
sampler's training gradients). Baselines are tuned as their users tune them:

* **HMC**: Stan/BlackJAX window adaptation (step size by dual averaging to 0.8, diagonal
  inverse mass matrix), trajectory length jittered per chain and step (``L_i = ⌈2uL⌉``), for
  each ``L`` of a grid; the best ``L`` on the same run is kept (this favours the baseline);
* **NUTS**: window adaptation with a diagonal mass matrix (NumPyro's and Stan's default);
  optionally a dense one as an extra reference (``nuts_dense``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from reprlab.mcmc.modules import GradientCouplingProposal
from reprlab.mcmc.sampler import neural_mcmc
from reprlab.mcmc.targets import Target
from reprlab.samplers import (
    adapt_step_size,
    hmc,
    mala,
    nuts,
    sample_chain,
    summarize,
    window_adaptation,
)

__all__ = ["RHAT_MIXED", "starting_points", "run_and_score", "adapted_hmc", "adapted_nuts",
           "evaluate_samplers", "best_baseline", "break_even", "entropy_at_matched_acceptance"]

#: split-R̂ at or below which a run counts as mixed (Vehtari et al., 2021).
RHAT_MIXED = 1.01


def starting_points(target: Target, n_chains: int, *, generator: torch.Generator,
                    warmup: int = 200, max_tree_depth: int = 10) -> torch.Tensor:
    """Exact draws, or the end of a window-adapted NUTS warm-up from ``N(0, I)``."""
    if target.sample is not None:
        return target.sample(n_chains, generator)
    x0 = torch.randn(n_chains, target.dim, generator=generator)
    warm = window_adaptation(nuts, target.logdensity_fn, max_tree_depth=max_tree_depth)
    (state, _), _ = warm.run(x0, warmup, generator=generator)
    return state.position


def run_and_score(algo, state, *, n_steps: int, burn_in: int,
                  generator: torch.Generator) -> dict[str, Any]:
    """Burn in, then keep ``n_steps`` draws; ArviZ summary with ESS/gradient and ESS/s.

    Adds ``acceptance``, ``seconds``, ``draws``, ``burn_in_grad_evals`` (summed over chains)
    and ``grad_evals_per_step`` (per chain) to :func:`reprlab.samplers.summarize`'s keys.
    """
    with torch.no_grad():
        n_start = state.n_grad_evals
        state, _, _ = sample_chain(algo, state, burn_in, generator=generator)
        n0 = state.n_grad_evals
        start = time.perf_counter()
        state, draws, infos = sample_chain(algo, state, n_steps, generator=generator)
        seconds = time.perf_counter() - start
    n_chains = draws.shape[1]
    used = state.n_grad_evals - n0
    out = summarize(draws, n_grad_evals=used, seconds=seconds, tail=False)
    out["acceptance"] = float(torch.stack([torch.as_tensor(i.acceptance_rate).double()
                                           for i in infos]).mean()) if infos else math.nan
    burn = torch.as_tensor(n0 - n_start).double()
    out["burn_in_grad_evals"] = float(burn.sum()) if burn.dim() else float(burn) * n_chains
    out["grad_evals_per_step"] = out["n_grad_evals"] / max(n_chains * n_steps, 1)
    out["seconds"] = seconds
    out["draws"] = draws
    return out


def _total(count: Any, n_chains: int) -> float:
    c = torch.as_tensor(count).double()
    return float(c.sum()) if c.dim() else float(c) * n_chains


def adapted_hmc(target: Target, x0: torch.Tensor, *, lengths: tuple[int, ...], warmup: int,
                burn_in: int, n_steps: int, generator: torch.Generator,
                trajectory_jitter: bool = True) -> dict[str, Any]:
    """Window-adapted, jittered HMC for each ``L`` in ``lengths``; the best by ESS/gradient,
    with ``per_length`` holding every ``L``'s ESS/gradient and R̂."""
    best, per_length = None, {}
    for length in lengths:
        warm = window_adaptation(hmc, target.logdensity_fn, num_integration_steps=int(length),
                                 trajectory_jitter=trajectory_jitter)
        (state, params), info = warm.run(x0, warmup, generator=generator)
        res = run_and_score(hmc(target.logdensity_fn, **params), state, n_steps=n_steps,
                            burn_in=burn_in, generator=generator)
        res["tuning_grad_evals"] = _total(info.n_grad_evals, x0.shape[0]) \
            + res["burn_in_grad_evals"]
        res["step_size"], res["num_integration_steps"] = params["step_size"], int(length)
        per_length[int(length)] = {"ess_per_grad": res["ess_per_grad"],
                                   "max_rhat": res["max_rhat"]}
        if best is None or _rank(res) > _rank(best):
            best = res
    best["per_length"] = per_length
    return best


def _rank(res: dict[str, Any]) -> tuple[bool, float]:
    """Order runs: a mixed run beats an unmixed one, then higher ESS per gradient."""
    return (res["max_rhat"] <= RHAT_MIXED, res["ess_per_grad"])


def adapted_nuts(target: Target, x0: torch.Tensor, *, warmup: int, burn_in: int,
                 n_steps: int, generator: torch.Generator, dense: bool = False,
                 max_tree_depth: int = 10, warmup_max_tree_depth: int | None = None
                 ) -> dict[str, Any]:
    """NUTS after window adaptation (diagonal or ``dense`` inverse mass matrix)."""
    depth_w = warmup_max_tree_depth or max_tree_depth
    warm = window_adaptation(nuts, target.logdensity_fn, is_mass_matrix_diagonal=not dense,
                             max_tree_depth=depth_w)
    (state, params), info = warm.run(x0, warmup, generator=generator)
    params["max_tree_depth"] = max_tree_depth
    res = run_and_score(nuts(target.logdensity_fn, **params), state, n_steps=n_steps,
                        burn_in=burn_in, generator=generator)
    res["tuning_grad_evals"] = _total(info.n_grad_evals, x0.shape[0]) + res["burn_in_grad_evals"]
    res["step_size"] = params["step_size"]
    return res


def evaluate_samplers(
    target: Target,
    proposal: GradientCouplingProposal,
    *,
    x0: torch.Tensor,
    n_steps: int,
    burn_in: int,
    warmup: int,
    hmc_lengths: tuple[int, ...] = (5, 10, 20, 40),
    nuts_dense: bool = False,
    max_tree_depth: int = 10,
    warmup_max_tree_depth: int | None = None,
    train_grad_evals: float = 0.0,
    generator: torch.Generator,
) -> dict[str, dict[str, Any]]:
    """Score the neural sampler, adapted HMC (best ``L``) and adapted NUTS from ``x0``.

    ``train_grad_evals`` (summed over training chains) is the neural sampler's tuning cost.
    Returns ``{"neural", "hmc", "nuts"[, "nuts_dense"]}``, each with
    :func:`run_and_score`'s keys plus ``tuning_grad_evals`` and
    ``ess_per_grad_with_tuning`` = min ESS ÷ (sampling + tuning gradient evaluations).
    """
    logp = target.logdensity_fn
    results: dict[str, dict[str, Any]] = {}
    algo = neural_mcmc(logp, proposal)
    neural = run_and_score(algo, algo.init(x0), n_steps=n_steps, burn_in=burn_in,
                           generator=generator)
    neural["step_size"] = float(proposal.log_step_size.detach().exp())
    neural["tuning_grad_evals"] = float(train_grad_evals) + neural["burn_in_grad_evals"]
    results["neural"] = neural
    results["hmc"] = adapted_hmc(target, x0, lengths=hmc_lengths, warmup=warmup,
                                 burn_in=burn_in, n_steps=n_steps, generator=generator)
    kw = dict(warmup=warmup, burn_in=burn_in, n_steps=n_steps, generator=generator,
              max_tree_depth=max_tree_depth, warmup_max_tree_depth=warmup_max_tree_depth)
    results["nuts"] = adapted_nuts(target, x0, **kw)
    if nuts_dense:
        results["nuts_dense"] = adapted_nuts(target, x0, dense=True, **kw)
    for r in results.values():
        r["ess_per_grad_with_tuning"] = r["min_ess_bulk"] / max(
            r["n_grad_evals"] + r["tuning_grad_evals"], 1.0)
    return results


def best_baseline(results: dict[str, dict[str, Any]],
                  names: tuple[str, ...] = ("hmc", "nuts")) -> str:
    """The baseline the claim compares with: the highest ESS per gradient among those that
    mixed (R̂ ≤ :data:`RHAT_MIXED`); if none mixed, the one with the lowest R̂."""
    mixed = [n for n in names if results[n]["max_rhat"] <= RHAT_MIXED]
    if mixed:
        return max(mixed, key=lambda n: results[n]["ess_per_grad"])
    return min(names, key=lambda n: results[n]["max_rhat"])


def break_even(neural: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    """Where training pays off: the total ESS ``E*`` (and kept draws of the neural sampler,
    summed over chains) at which neural and baseline cost the same gradient evaluations,
    ``T_n + E/e_n = T_b + E/e_b`` (``T`` tuning gradients, ``e`` ESS per sampling gradient).
    ``inf`` when the neural sampler is not more efficient per sampling gradient."""
    e_n, e_b = neural["ess_per_grad"], base["ess_per_grad"]
    t_n, t_b = neural["tuning_grad_evals"], base["tuning_grad_evals"]
    if not (e_n > e_b > 0):
        return {"ess": math.inf, "draws": math.inf}
    ess_star = max(t_n - t_b, 0.0) / (1.0 / e_b - 1.0 / e_n)
    draws = neural["n_draws"] * neural["n_chains"]
    ess_per_draw = neural["min_ess_bulk"] / max(draws, 1)
    return {"ess": ess_star, "draws": ess_star / max(ess_per_draw, 1e-300)}


def entropy_at_matched_acceptance(
    logdensity_fn,
    x: torch.Tensor,
    proposal: GradientCouplingProposal,
    *,
    generator: torch.Generator,
    n_steps: int = 50,
    warmup: int = 100,
) -> dict[str, float]:
    """Proposal entropy (nats per dimension) of the neural sampler and of MALA tuned to the
    same acceptance rate, both run from ``x`` ``(B, ...)``.

    The neural entropy is the exact ``H(q(·|x))`` averaged over its chain states; the
    Langevin one is ``½ log(2πe·2h)`` per dimension for its tuned step ``h``.
    """
    from reprlab.mcmc.functional import langevin_proposal_entropy

    dim = x[0].numel()
    algo = neural_mcmc(logdensity_fn, proposal)
    with torch.no_grad():
        _, _, infos = sample_chain(algo, algo.init(x), n_steps, generator=generator)
    acc_n = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    ent_n = float(torch.stack([i.entropy for i in infos]).mean()) / dim
    target = min(max(acc_n, 0.05), 0.99)
    m0 = mala(logdensity_fn, step_size=1e-4)
    state, h, _ = adapt_step_size(lambda e: mala(logdensity_fn, step_size=e), m0.init(x),
                                  warmup, generator=generator, initial_step_size=1e-4,
                                  target=target)
    _, _, infos = sample_chain(mala(logdensity_fn, step_size=h), state, n_steps,
                               generator=generator)
    acc_m = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    return {
        "neural_acceptance": acc_n,
        "neural_entropy_per_dim": ent_n,
        "neural_step_size": float(proposal.log_step_size.detach().exp()),
        "langevin_acceptance": acc_m,
        "langevin_step_size": h,
        "langevin_entropy_per_dim": langevin_proposal_entropy(h, dim) / dim,
    }
