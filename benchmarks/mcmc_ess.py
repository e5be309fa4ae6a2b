"""ESS per gradient of reprlab's NUTS (after window adaptation) beside NumPyro's, same targets.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/mcmc_ess.py [--chains 4]
[--draws 2000] [--warmup 1000] [--targets icg roticg] [--neural]``.

For each target (ICG-50d: variances log-spaced in [1e-2, 1e2]; rotICG-50d: the same spectrum
under a random rotation) it prints min bulk ESS (ArviZ) per gradient evaluation and max
split-R̂ of

* reprlab NUTS after ``window_adaptation`` with a diagonal and a dense inverse mass matrix;
* NumPyro NUTS with the same chains, starting points, warm-up and kept draws (diagonal and
  dense mass), when ``numpyro`` is importable (``pip install numpyro``: an optional
  benchmark extra, never a runtime dependency); its gradient count is the sum of its tree
  sizes (``num_steps``);
* with ``--neural``, the quick-config comparison of ``reprlab reproduce mcmc`` on the target
  (neural sampler vs adapted HMC vs NUTS, first seed), which trains the neural sampler.

The engine's target figure (issue 14): ICG-50d, NUTS diagonal ≥ 0.15 ESS per gradient with
R̂ ≤ 1.01 (NumPyro: 0.21). Timings are wall-clock on a shared machine: noisy; ESS per
gradient does not depend on them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reprlab.mcmc.targets import get_target
from reprlab.samplers import nuts, sample_chain, summarize, window_adaptation


def ours(target, x0: torch.Tensor, *, warmup: int, draws: int, dense: bool, seed: int):
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    warm = window_adaptation(nuts, target.logdensity_fn, is_mass_matrix_diagonal=not dense)
    (state, params), _ = warm.run(x0, warmup, generator=g)
    n0 = state.n_grad_evals
    state, kept, infos = sample_chain(nuts(target.logdensity_fn, **params), state, draws,
                                      generator=g)
    out = summarize(kept, n_grad_evals=state.n_grad_evals - n0)
    out["seconds"] = time.perf_counter() - t0
    out["divergences"] = int(sum(int(i.is_divergent.sum()) for i in infos))
    return out


def numpyro_nuts(target, x0: torch.Tensor, *, warmup: int, draws: int, dense: bool,
                 seed: int):
    try:
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    if target.name.startswith("rotICG"):
        # the precision matrix, read off the log density (exact: it is quadratic)
        prec = -torch.autograd.functional.hessian(
            lambda z: target.logdensity_fn(z[None])[0],
            torch.zeros(target.dim, dtype=torch.float64))
        prec_j = jnp.asarray(prec.numpy())

        def potential_fn(z):
            return 0.5 * z @ prec_j @ z
    else:
        std = jnp.asarray(target.std.double().numpy())

        def potential_fn(z):
            return 0.5 * jnp.sum((z / std) ** 2)

    kernel = NUTS(potential_fn=potential_fn, dense_mass=dense)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=x0.shape[0],
                chain_method="vectorized", progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), init_params=jnp.asarray(x0.double().numpy()),
             extra_fields=("num_steps",))
    seconds = time.perf_counter() - t0
    kept = np.asarray(mcmc.get_samples(group_by_chain=True)).swapaxes(0, 1)
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    out = summarize(kept, n_grad_evals=steps.sum(axis=1).astype(np.float64))
    out["seconds"] = seconds
    return out


def neural_row(short: str):
    from reprlab.mcmc.reproduce import QUICK, _one_seed
    from reprlab.reproduce import ReproduceContext

    ctx = ReproduceContext(method="mcmc", config_name="bench", config=QUICK,
                           out="/tmp/reprlab-bench-mcmc")
    return _one_seed(short, get_target(short), QUICK, 0, ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", nargs="+", default=["icg", "roticg"])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neural", action="store_true")
    args = ap.parse_args()
    print(f"{'target':<12}{'sampler':<22}{'ESS/grad':>10}{'min ESS':>9}{'R-hat':>7}"
          f"{'grads/draw':>11}{'s':>7}")
    for short in args.targets:
        target = get_target(short)
        x0 = target.sample(args.chains, torch.Generator().manual_seed(args.seed)).double()
        rows = {}
        for dense in (False, True):
            tag = "dense" if dense else "diag"
            rows[f"reprlab NUTS {tag}"] = ours(target, x0, warmup=args.warmup,
                                               draws=args.draws, dense=dense, seed=args.seed)
            ref = numpyro_nuts(target, x0, warmup=args.warmup, draws=args.draws, dense=dense,
                               seed=args.seed)
            if ref is not None:
                rows[f"NumPyro NUTS {tag}"] = ref
        for name, r in rows.items():
            per_draw = r["n_grad_evals"] / (args.chains * args.draws)
            print(f"{target.name:<12}{name:<22}{r['ess_per_grad']:>10.4f}"
                  f"{r['min_ess_bulk']:>9.0f}{r['max_rhat']:>7.3f}{per_draw:>11.1f}"
                  f"{r['seconds']:>7.0f}")
        if "NumPyro NUTS diag" in rows:
            ratio = rows["reprlab NUTS diag"]["ess_per_grad"] / rows["NumPyro NUTS diag"][
                "ess_per_grad"]
            print(f"  reprlab / NumPyro ESS per gradient (diag): {ratio:.2f}")
        if args.neural:
            res = neural_row(short)
            for k in ("neural", "hmc", "nuts", "nuts_dense"):
                if k in res:
                    print(f"{target.name:<12}{'quick ' + k:<22}{res[k]['ess_per_grad']:>10.4f}"
                          f"{res[k]['max_rhat']:>16.3f}  (incl. tuning "
                          f"{res[k]['ess_per_grad_with_tuning']:.2e})")
            print(f"  break-even draws vs {res['baseline']}: {res['break_even']['draws']:.3g}")


if __name__ == "__main__":
    main()
