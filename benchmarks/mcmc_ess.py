"""Print ESS per gradient evaluation of the neural sampler vs tuned HMC/MALA (and NUTS).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/mcmc_ess.py [targets...]``
(default ``icg``). Uses the quick configuration of ``reprlab reproduce mcmc``. When NumPyro
is installed (``pip install numpyro`` — JAX CPU wheels), a NUTS reference on the same
target, chains and kept draws is printed as well; NUTS's gradient count is the sum of its
tree sizes. Timings are wall-clock on a shared machine: noisy.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from reprlab.mcmc.evaluation import evaluate_samplers, starting_points
from reprlab.mcmc.reproduce import QUICK_CONFIG as CFG
from reprlab.mcmc.reproduce import train_for_target
from reprlab.mcmc.targets import get_target
from reprlab.samplers import summarize


def nuts_reference(target, x0: torch.Tensor, n_steps: int, warmup: int) -> dict | None:
    try:
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS
    except ImportError:
        return None

    # only the diagonal Gaussian (ICG) is written in JAX here; other targets are skipped
    if target.std is None or target.name.startswith(("funnel", "MoG", "banana", "SCG")):
        return None
    std = jnp.asarray(target.std.numpy())

    def potential_fn(z):
        return 0.5 * jnp.sum((z / std) ** 2)

    mcmc = MCMC(NUTS(potential_fn=potential_fn), num_warmup=warmup, num_samples=n_steps,
                num_chains=x0.shape[0], chain_method="vectorized", progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), init_params=jnp.asarray(x0.numpy()),
             extra_fields=("num_steps",))
    seconds = time.perf_counter() - start
    draws = np.asarray(mcmc.get_samples(group_by_chain=True)).swapaxes(0, 1)
    n_grad = float(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum()) / x0.shape[0]
    return summarize(draws, n_grad_evals=n_grad, seconds=seconds)


def main(names: list[str]) -> None:
    g = torch.Generator().manual_seed(0)
    print(f"{'target':<24}{'sampler':<8}{'ESS/grad':>10}{'ESS/s':>10}{'minESS':>9}"
          f"{'R-hat':>7}{'acc':>6}")
    for name in names:
        target = get_target(name)
        t0 = time.perf_counter()
        prop, _, _ = train_for_target(target, CFG, generator=g)
        train_s = time.perf_counter() - t0
        res = evaluate_samplers(target, prop, n_chains=CFG.n_chains, n_steps=CFG.n_steps,
                                burn_in=CFG.burn_in, warmup=CFG.warmup,
                                hmc_lengths=CFG.hmc_lengths, generator=g)
        nuts = nuts_reference(target, starting_points(target, CFG.n_chains, generator=g),
                              CFG.n_steps, CFG.warmup)
        if nuts is not None:
            res["nuts"] = {**nuts, "acceptance": float("nan")}
        for sampler, r in res.items():
            print(f"{target.name:<24}{sampler:<8}{r['ess_per_grad']:>10.2e}"
                  f"{r['ess_per_second']:>10.1f}{r['min_ess_bulk']:>9.0f}{r['max_rhat']:>7.2f}"
                  f"{r['acceptance']:>6.2f}")
        ratio = res["neural"]["ess_per_grad"] / res["hmc"]["ess_per_grad"]
        print(f"  neural / tuned HMC ESS per gradient: {ratio:.1f}x "
              f"(training {train_s:.0f} s, HMC L={res['hmc']['num_integration_steps']})")


if __name__ == "__main__":
    main(sys.argv[1:] or ["icg"])
