"""Gradient-based MCMC kernels over batches of chains (BlackJAX-style ``init``/``step``).

Kernels: unadjusted Langevin (:func:`ula`), MALA (:func:`mala`), annealed Langevin
(:func:`annealed_langevin`, :func:`annealed_langevin_algorithm`), HMC (:class:`hmc`, with
optional step-size and trajectory-length jitter), NUTS (:class:`nuts`: multinomial, generalized
U-turn, per-chain trees), with diagonal or dense mass matrices; Stan's window adaptation
(:func:`window_adaptation`), dual-averaging step-size adaptation (:func:`adapt_step_size`) and
ArviZ diagnostics (:func:`ess`, :func:`rhat`, :func:`summarize`). All take a
``logdensity_fn`` mapping ``(B, ...) -> (B,)`` (use :func:`from_energy` for an energy) and
count gradient evaluations.
"""

from reprlab.samplers import (
    adaptation,
    annealed,
    diagnostics,
    hamiltonian,
    langevin,
    metrics,
)
from reprlab.samplers import (
    nuts as nuts_module,
)
from reprlab.samplers.adaptation import (
    AdaptationAlgorithm,
    AdaptationInfo,
    AdaptationResults,
    DualAveragingState,
    adapt_step_size,
    dual_averaging_init,
    dual_averaging_update,
    window_adaptation,
)
from reprlab.samplers.annealed import (
    AnnealedInfo,
    AnnealedLangevinResult,
    AnnealedState,
    annealed_langevin,
    annealed_langevin_algorithm,
)
from reprlab.samplers.base import (
    LogDensityFn,
    SamplingAlgorithm,
    from_energy,
    logdensity_and_grad,
    sample_chain,
)
from reprlab.samplers.diagnostics import ess, rhat, summarize
from reprlab.samplers.hamiltonian import HMCInfo, HMCState, hmc, leapfrog
from reprlab.samplers.langevin import LangevinInfo, LangevinState, langevin_log_q, mala, ula
from reprlab.samplers.metrics import EuclideanMetric, gaussian_euclidean
from reprlab.samplers.nuts import NUTSInfo, nuts

__all__ = [
    "adaptation",
    "annealed",
    "diagnostics",
    "hamiltonian",
    "langevin",
    "metrics",
    "nuts_module",
    "SamplingAlgorithm",
    "LogDensityFn",
    "logdensity_and_grad",
    "from_energy",
    "sample_chain",
    "LangevinState",
    "LangevinInfo",
    "ula",
    "mala",
    "langevin_log_q",
    "AnnealedState",
    "AnnealedInfo",
    "AnnealedLangevinResult",
    "annealed_langevin",
    "annealed_langevin_algorithm",
    "HMCState",
    "HMCInfo",
    "hmc",
    "leapfrog",
    "NUTSInfo",
    "nuts",
    "EuclideanMetric",
    "gaussian_euclidean",
    "window_adaptation",
    "AdaptationAlgorithm",
    "AdaptationInfo",
    "AdaptationResults",
    "DualAveragingState",
    "dual_averaging_init",
    "dual_averaging_update",
    "adapt_step_size",
    "ess",
    "rhat",
    "summarize",
]
