"""Gradient-based MCMC kernels over batches of chains (BlackJAX-style ``init``/``step``).

Kernels: unadjusted Langevin (:func:`ula`), MALA (:func:`mala`), annealed Langevin
(:func:`annealed_langevin`, :func:`annealed_langevin_algorithm`), HMC (:func:`hmc`), plus
dual-averaging step-size adaptation (:func:`adapt_step_size`) and ArviZ diagnostics
(:func:`ess`, :func:`rhat`, :func:`summarize`). All take a ``logdensity_fn`` mapping
``(B, ...) -> (B,)`` (use :func:`from_energy` for an energy) and count gradient evaluations.
"""

from reprlab.samplers import adaptation, annealed, diagnostics, hamiltonian, langevin
from reprlab.samplers.adaptation import (
    DualAveragingState,
    adapt_step_size,
    dual_averaging_init,
    dual_averaging_update,
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

__all__ = [
    "adaptation",
    "annealed",
    "diagnostics",
    "hamiltonian",
    "langevin",
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
    "DualAveragingState",
    "dual_averaging_init",
    "dual_averaging_update",
    "adapt_step_size",
    "ess",
    "rhat",
    "summarize",
]
