"""Proposal-entropy neural MCMC sampler (Li, Chen & Sommer, arXiv:2010.03587)."""

from reprlab.mcmc import functional
from reprlab.mcmc.modules import ConditionerMLP, GradientCouplingProposal, ProposalOutput
from reprlab.mcmc.sampler import (
    NeuralMCMCInfo,
    NeuralMCMCState,
    TrainHistory,
    build_kernel,
    init,
    neural_mcmc,
    train_sampler,
)

__all__ = [
    "functional",
    "ConditionerMLP",
    "GradientCouplingProposal",
    "ProposalOutput",
    "NeuralMCMCState",
    "NeuralMCMCInfo",
    "init",
    "build_kernel",
    "neural_mcmc",
    "TrainHistory",
    "train_sampler",
]
