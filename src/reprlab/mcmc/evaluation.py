"""Compare the trained neural sampler with tuned HMC and MALA on one target.

Every sampler gets the same number of chains and kept steps, starts from the same points
(exact draws when the target has them, otherwise the end of a shared HMC pre-run), and is
scored by ArviZ's minimum bulk ESS over coordinates per gradient evaluation and per second
of sampling (tuning and training excluded from the seconds, reported separately).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from reprlab.mcmc.modules import GradientCouplingProposal
from reprlab.mcmc.sampler import neural_mcmc
from reprlab.mcmc.targets import Target
from reprlab.samplers import adapt_step_size, hmc, mala, sample_chain, summarize

__all__ = ["starting_points", "run_and_score", "evaluate_samplers", "entropy_at_matched_acceptance"]


def starting_points(target: Target, n_chains: int, *, generator: torch.Generator,
                    warmup: int = 300) -> torch.Tensor:
    """Exact draws, or the end of an adapted HMC run (20 leapfrog steps) from ``N(0, I)``."""
    if target.sample is not None:
        return target.sample(n_chains, generator)
    x0 = torch.randn(n_chains, target.dim, generator=generator)
    algo = hmc(target.logdensity_fn, step_size=1e-2, num_integration_steps=20)
    state, _, _ = adapt_step_size(
        lambda e: hmc(target.logdensity_fn, step_size=e, num_integration_steps=20),
        algo.init(x0), warmup, generator=generator, initial_step_size=1e-2, target=0.8)
    return state.position


def run_and_score(algo, state, *, n_steps: int, burn_in: int,
                  generator: torch.Generator) -> dict[str, Any]:
    """Burn in, then keep ``n_steps`` draws; ArviZ summary with ESS/gradient and ESS/s."""
    with torch.no_grad():
        state, _, _ = sample_chain(algo, state, burn_in, generator=generator)
        n0 = state.n_grad_evals
        start = time.perf_counter()
        state, draws, infos = sample_chain(algo, state, n_steps, generator=generator)
        seconds = time.perf_counter() - start
    out = summarize(draws, n_grad_evals=state.n_grad_evals - n0, seconds=seconds)
    out["acceptance"] = float(torch.stack([i.acceptance_rate for i in infos]).mean())
    out["grad_evals_per_step"] = (state.n_grad_evals - n0) / max(n_steps, 1)
    out["seconds"] = seconds
    out["draws"] = draws
    return out


def evaluate_samplers(
    target: Target,
    proposal: GradientCouplingProposal,
    *,
    n_chains: int,
    n_steps: int,
    burn_in: int,
    warmup: int,
    hmc_lengths: tuple[int, ...] = (10, 40, 100),
    hmc_target: float = 0.8,
    mala_target: float = 0.574,
    generator: torch.Generator,
) -> dict[str, dict[str, Any]]:
    """Score the neural sampler, MALA and HMC (best trajectory length of ``hmc_lengths``).

    Step sizes of MALA/HMC are tuned by dual averaging for ``warmup`` steps (to 0.574 and 0.8)
    from the shared start. Returns ``{"neural": ..., "mala": ..., "hmc": ...}``; each entry
    holds :func:`reprlab.samplers.summarize` keys plus ``acceptance``, ``seconds``, ``draws``
    and (for the baselines) the tuned ``step_size`` / ``num_integration_steps``.
    """
    logp = target.logdensity_fn
    x0 = starting_points(target, n_chains, generator=generator)
    results: dict[str, dict[str, Any]] = {}
    algo = neural_mcmc(logp, proposal)
    results["neural"] = run_and_score(algo, algo.init(x0), n_steps=n_steps, burn_in=burn_in,
                                      generator=generator)
    results["neural"]["step_size"] = float(proposal.log_step_size.detach().exp())

    m0 = mala(logp, step_size=1e-3)
    state, eps, _ = adapt_step_size(lambda e: mala(logp, step_size=e), m0.init(x0), warmup,
                                    generator=generator, initial_step_size=1e-3,
                                    target=mala_target)
    results["mala"] = run_and_score(mala(logp, step_size=eps), state, n_steps=n_steps,
                                    burn_in=burn_in, generator=generator)
    results["mala"]["step_size"] = eps

    best = None
    for length in hmc_lengths:
        def make(e, length=length):
            return hmc(logp, step_size=e, num_integration_steps=length)

        state, eps, _ = adapt_step_size(make, make(1e-2).init(x0), warmup, generator=generator,
                                        initial_step_size=1e-2, target=hmc_target)
        res = run_and_score(make(eps), state, n_steps=n_steps, burn_in=burn_in,
                            generator=generator)
        res["step_size"], res["num_integration_steps"] = eps, length
        if best is None or res["ess_per_grad"] > best["ess_per_grad"]:
            best = res
    results["hmc"] = best
    return results


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
