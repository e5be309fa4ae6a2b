"""The trained neural proposal as an exact MH kernel, and its entropy-regularised training.

Kernel API follows :mod:`reprlab.samplers` (BlackJAX habit): ``init(position,
logdensity_fn) -> NeuralMCMCState``; ``build_kernel(proposal) -> kernel(generator, state,
logdensity_fn)``; :func:`neural_mcmc` returns a ``SamplingAlgorithm``. Every target
gradient evaluated inside the proposal network (forward and reverse flows) is counted.

Examples
--------
>>> import torch
>>> from reprlab.mcmc import GradientCouplingProposal, neural_mcmc, train_sampler
>>> logp = lambda x: -0.5 * (x ** 2 / torch.tensor([0.1, 1.0, 3.0]) ** 2).sum(1)
>>> g = torch.Generator().manual_seed(0)
>>> prop = GradientCouplingProposal(3, hidden=16, generator=g)
>>> hist = train_sampler(prop, logp, torch.randn(32, 3, generator=g), n_iters=20, generator=g)
>>> algo = neural_mcmc(logp, prop)
>>> state, info = algo.step(g, algo.init(torch.zeros(8, 3)))
>>> info.n_grad_evals
4
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from reprlab.mcmc import functional as F
from reprlab.mcmc.modules import GradientCouplingProposal
from reprlab.samplers.base import SamplingAlgorithm, check_initial_state

__all__ = [
    "NeuralMCMCState",
    "NeuralMCMCInfo",
    "init",
    "build_kernel",
    "neural_mcmc",
    "TrainHistory",
    "train_sampler",
]


class NeuralMCMCState(NamedTuple):
    """Position ``(B, ...)``, its energy ``−log p`` ``(B,)``, cumulative gradient evaluations
    per chain (the kernel needs no gradient at the current point, so ``init`` costs none)."""

    position: torch.Tensor
    energy: torch.Tensor
    n_grad_evals: int


class NeuralMCMCInfo(NamedTuple):
    """Acceptance probability/decision, proposal entropy estimate ``(B,)``, gradient
    evaluations per chain of this step (``4K``)."""

    acceptance_rate: torch.Tensor
    is_accepted: torch.Tensor
    entropy: torch.Tensor
    n_grad_evals: int


def init(position: torch.Tensor, logdensity_fn: Callable) -> NeuralMCMCState:
    """Evaluate the energy at ``position`` (no gradient); ``ValueError`` on NaN/infinite
    starting points or log densities."""
    with torch.no_grad():
        logp = logdensity_fn(position)
    if logp.shape != position.shape[:1]:
        raise ValueError(f"logdensity_fn must return shape (B,) = {tuple(position.shape[:1])} "
                         f"for a position of shape {tuple(position.shape)}, got "
                         f"{tuple(logp.shape)}")
    check_initial_state(position, logp)
    return NeuralMCMCState(position.detach(), -logp.detach(), 0)


def _mh(state: NeuralMCMCState, out, generator: torch.Generator):
    x = state.position
    log_a = torch.nan_to_num(out.log_accept.detach(), nan=-torch.inf)
    prob = log_a.clamp(max=0.0).exp()
    u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    accepted = u < prob
    m = accepted.view(-1, *([1] * (x.dim() - 1)))
    new = NeuralMCMCState(
        torch.where(m, out.x_prop.detach(), x),
        torch.where(accepted, out.energy_prop.detach(), state.energy),
        state.n_grad_evals + out.n_grad_evals,
    )
    return new, prob, accepted


def build_kernel(proposal: GradientCouplingProposal):
    """Kernel ``kernel(generator, state, logdensity_fn) -> (state, info)``: one proposal and
    its exact Metropolis–Hastings correction with the reverse proposal. Runs under
    ``torch.no_grad`` (no graph through the proposal's parameters); only the target
    gradients inside the flow are taken, with autograd on the input alone."""

    @torch.no_grad()
    def kernel(generator: torch.Generator, state: NeuralMCMCState,
               logdensity_fn: Callable) -> tuple[NeuralMCMCState, NeuralMCMCInfo]:
        out = proposal.propose(state.position, logdensity_fn, generator=generator,
                               energy_x=state.energy)
        new, prob, accepted = _mh(state, out, generator)
        return new, NeuralMCMCInfo(prob, accepted, out.entropy, out.n_grad_evals)

    return kernel


def neural_mcmc(logdensity_fn: Callable, proposal: GradientCouplingProposal
                ) -> SamplingAlgorithm:
    """The neural sampler as a :class:`~reprlab.samplers.SamplingAlgorithm`."""
    kernel = build_kernel(proposal)

    def init_fn(position: torch.Tensor) -> NeuralMCMCState:
        return init(position, logdensity_fn)

    def step_fn(generator: torch.Generator, state: NeuralMCMCState):
        return kernel(generator, state, logdensity_fn)

    return SamplingAlgorithm(init_fn, step_fn)


@dataclass
class TrainHistory:
    """Per-iteration acceptance, entropy surrogate, β, step size; final chain positions and
    the gradient evaluations per chain spent in training."""

    acceptance: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    positions: torch.Tensor | None = None
    n_grad_evals: int = 0


def _lr_factor(it: int, n_iters: int, warmup: int, min_factor: float = 1e-3) -> float:
    """Official ``adjust_lr``: linear warm-up then cosine decay (plus a small floor)."""
    warm = min(1.0, it / warmup) if warmup > 0 else 1.0
    span = max(n_iters - warmup, 1)
    return warm * ((1 + math.cos(math.pi * max(it - warmup, 0) / span)) / 2 + min_factor)


def train_sampler(
    proposal: GradientCouplingProposal,
    logdensity_fn: Callable,
    x_init: torch.Tensor,
    *,
    n_iters: int,
    generator: torch.Generator,
    lr: float = 1e-3,
    beta: float = 1e-3,
    beta_max: float = 1e3,
    beta_rate: float = 0.03,
    target_accept: float = 0.9,
    grad_clip: float = 10.0,
    warmup: int = 100,
    progress: bool = False,
) -> TrainHistory:
    """Train ``proposal`` on chains started at ``x_init`` with ``−E[min(0, log a)] − β·H``.

    Each iteration proposes from the current chain states (gradients flow through the
    target gradients inside the flow), takes one Adam (AMSGrad, official) step with gradient
    clipping, adapts ``β`` towards ``target_accept`` and moves the chains by the exact MH
    step. Defaults are the official ``L2GradRW_M`` ones (lr 1e-3, β0 = β_min = 1e-3,
    β_max = 1e3, ρ = 0.03, a* = 0.9, clip 10, 100 warm-up iterations, cosine decay).
    """
    from reprlab.utils import progress_bar

    if not (isinstance(n_iters, int) and n_iters >= 1):
        raise ValueError(f"n_iters must be an int >= 1, got {n_iters!r}")
    for name, val in (("lr", lr), ("beta", beta), ("beta_max", beta_max),
                      ("grad_clip", grad_clip)):
        if not (val > 0 and math.isfinite(val)):
            raise ValueError(f"{name} must be a finite number > 0, got {val}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    opt = torch.optim.Adam(proposal.parameters(), lr=lr, betas=(0.9, 0.999), amsgrad=True)
    warmup = min(warmup, max(n_iters // 5, 1))
    beta_min = beta
    hist = TrainHistory()
    state = init(x_init, logdensity_fn)
    for it in progress_bar(range(n_iters), enabled=progress, desc="train sampler"):
        for group in opt.param_groups:
            group["lr"] = lr * _lr_factor(it, n_iters, warmup)
        out = proposal.propose(state.position, logdensity_fn, generator=generator,
                               energy_x=state.energy, create_graph=True)
        log_a = torch.nan_to_num(out.log_accept, nan=-1e4).clamp(min=-1e4)
        loss = F.entropy_loss(log_a, out.entropy_surrogate, beta=beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(proposal.parameters(), grad_clip)
        opt.step()
        acc = float(log_a.detach().clamp(max=0).exp().mean())
        beta = F.adapt_beta(beta, acc, target=target_accept, rate=beta_rate,
                            beta_min=beta_min, beta_max=beta_max)
        state, _, _ = _mh(state, out, generator)
        hist.acceptance.append(acc)
        hist.entropy.append(float(out.entropy.detach().mean()))
        hist.beta.append(beta)
        hist.step_size.append(float(proposal.log_step_size.detach().exp()))
    hist.positions = state.position
    hist.n_grad_evals = state.n_grad_evals
    return hist
