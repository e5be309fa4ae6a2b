"""The gradient-informed coupling proposal of the proposal-entropy sampler (arXiv:2010.03587).

:class:`ConditionerMLP` is the official ``MLP_SQT`` shape: a per-step input layer, a shared
trunk (two ReLU layers and a last layer with tanh for ``S, Q, T`` or ReLU for ``R``), and a
per-step zero-initialised output layer, so the untrained proposal is a Langevin-like step.
:class:`GradientCouplingProposal` holds the conditioners, the coupling masks and ``log ε`` and
maps ``v ~ N(0, I)`` to a move ``z`` (all math in :mod:`reprlab.mcmc.functional`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from reprlab.mcmc import functional as F

__all__ = ["ConditionerMLP", "GradientCouplingProposal", "ProposalOutput"]


class ConditionerMLP(nn.Module):
    """Per-step MLP ``(B, n_in·d) -> n_out × (B, d)``.

    Parameters
    ----------
    dim : int
        Event size ``d`` of the target.
    hidden : int
        Trunk width.
    n_steps : int
        Number of distinct input/output layers (one per coupling half-step).
    n_in, n_out : int
        How many ``d``-vectors go in (concatenated) and come out.
    last_act : {"tanh", "relu"}
        Activation of the last trunk layer (tanh for ``S, Q, T``; ReLU for ``R``, as official).
    """

    def __init__(self, dim: int, hidden: int, n_steps: int, *, n_in: int, n_out: int,
                 last_act: str = "tanh", generator: torch.Generator | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        if last_act not in ("tanh", "relu"):
            raise ValueError(f"last_act must be 'tanh' or 'relu', got {last_act!r}")
        kw = {"device": device, "dtype": dtype}
        self.dim, self.hidden, self.n_steps = dim, hidden, n_steps
        self.n_in, self.n_out, self.last_act = n_in, n_out, last_act
        # a seed drawn once from ``generator``: reset_parameters() is then reproducible (the
        # global RNG is never used when a generator is given)
        self._init_seed = (None if generator is None else
                           int(torch.randint(0, 2**62, (1,), generator=generator)))
        self.inputs = nn.ModuleList(nn.Linear(n_in * dim, hidden, **kw) for _ in range(n_steps))
        self.trunk = nn.ModuleList(nn.Linear(hidden, hidden, **kw) for _ in range(3))
        self.outputs = nn.ModuleList(nn.Linear(hidden, n_out * dim, **kw)
                                     for _ in range(n_steps))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        g = None
        if self._init_seed is not None:
            g = torch.Generator(device=self.trunk[0].weight.device).manual_seed(self._init_seed)
        for layer in [*self.inputs, *self.trunk]:
            if g is None:
                layer.reset_parameters()
            else:  # nn.Linear's default law U(±1/√fan_in), drawn from the generator
                bound = 1.0 / math.sqrt(layer.in_features)
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=g)
                    layer.bias.uniform_(-bound, bound, generator=g)
        for layer in self.outputs:  # zero output: the untrained proposal is Langevin-like
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, inputs: list[torch.Tensor], step: int) -> list[torch.Tensor]:
        h = torch.relu(self.inputs[step](torch.cat([t.flatten(1) for t in inputs], dim=1)))
        h = torch.relu(self.trunk[0](h))
        h = torch.relu(self.trunk[1](h))
        h = self.trunk[2](h)
        h = torch.tanh(h) if self.last_act == "tanh" else torch.relu(h)
        return list(self.outputs[step](h).chunk(self.n_out, dim=1))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, hidden={self.hidden}, n_steps={self.n_steps}, "
                f"n_in={self.n_in}, n_out={self.n_out}, last_act={self.last_act!r}")


class ProposalOutput(NamedTuple):
    """One proposal per chain: ``x_prop`` ``(B, ...)``; ``log_accept``, ``entropy`` (exact
    ``H(q(·|x))`` estimate), ``energy_x``, ``energy_prop`` all ``(B,)``; gradient
    evaluations of the target per chain (``4K``: ``2K`` forward, ``2K`` reverse)."""

    x_prop: torch.Tensor
    log_accept: torch.Tensor
    entropy: torch.Tensor
    entropy_surrogate: torch.Tensor
    energy_x: torch.Tensor
    energy_prop: torch.Tensor
    n_grad_evals: int


class GradientCouplingProposal(nn.Module):
    """``x' = x + ε·f(v; x, ∇U)`` with ``K`` coupling blocks (``2K`` half-steps).

    Each half-step evaluates the target gradient at ``x + R(x, v_m)`` (official
    ``grad_mode='R'``), so one proposal with its reverse costs ``4K`` gradient evaluations.
    Images and other shapes are flattened to ``(B, d)``.

    Parameters
    ----------
    dim : int
        Flattened event size ``d``.
    n_blocks : int
        ``K`` coupling blocks (official ``N_steps``).
    hidden : int
        Conditioner width.
    step_size : float
        Initial ``ε`` (learned, stored as ``log ε``).
    generator : torch.Generator, optional
        Draws the random half masks (official MLP masks: a random half per block) and the
        conditioners' initial weights; with it, two proposals built from equally seeded
        generators are identical (without it the global RNG is used).

    Examples
    --------
    >>> import torch
    >>> prop = GradientCouplingProposal(3, n_blocks=1, hidden=8,
    ...                                 generator=torch.Generator().manual_seed(0))
    >>> out = prop.propose(torch.zeros(5, 3), lambda x: -0.5 * (x ** 2).sum(1),
    ...                    generator=torch.Generator().manual_seed(1))
    >>> out.x_prop.shape, out.log_accept.shape, out.n_grad_evals
    (torch.Size([5, 3]), torch.Size([5]), 4)
    """

    def __init__(self, dim: int, *, n_blocks: int = 1, hidden: int = 64,
                 step_size: float = 0.05, generator: torch.Generator | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        if not (isinstance(dim, int) and dim >= 2):
            raise ValueError(f"dim must be an int >= 2 for coupling blocks, got {dim!r}")
        if not (isinstance(n_blocks, int) and n_blocks >= 1):
            raise ValueError(f"n_blocks must be an int >= 1, got {n_blocks!r}")
        if not (isinstance(hidden, int) and hidden >= 1):
            raise ValueError(f"hidden must be an int >= 1, got {hidden!r}")
        if not (step_size > 0 and math.isfinite(step_size)):
            raise ValueError(f"step_size must be a finite number > 0, got {step_size}")
        kw = {"device": device, "dtype": dtype}
        self.dim, self.n_blocks, self.hidden = dim, n_blocks, hidden
        self.init_step_size = step_size
        self.net_v = ConditionerMLP(dim, hidden, 2 * n_blocks, n_in=3, n_out=3,
                                    last_act="tanh", generator=generator, **kw)
        self.net_r = ConditionerMLP(dim, hidden, 2 * n_blocks, n_in=2, n_out=1,
                                    last_act="relu", generator=generator, **kw)
        self.log_step_size = nn.Parameter(torch.empty((), **kw))
        masks = torch.zeros(n_blocks, dim, **kw)
        for k in range(n_blocks):
            perm = torch.randperm(dim, generator=generator)
            masks[k, perm[: dim // 2]] = 1.0
        self.register_buffer("masks", masks)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.net_v.reset_parameters()
        self.net_r.reset_parameters()
        with torch.no_grad():
            self.log_step_size.fill_(math.log(self.init_step_size))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, n_blocks={self.n_blocks}, hidden={self.hidden}, "
                f"step_size={float(self.log_step_size.detach().exp()):.3g}")

    # -- the flow ---------------------------------------------------------------------------
    def _energy_grad(self, logdensity_fn: Callable, y: torch.Tensor,
                     create_graph: bool) -> torch.Tensor:
        """``∇U(y) = −∇log p(y)``; differentiable in ``y`` when ``create_graph``."""
        with torch.enable_grad():
            if not create_graph or not y.requires_grad:
                y = y.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(-logdensity_fn(y).sum(), y, create_graph=create_graph)
        return grad if create_graph else grad.detach()

    def _half(self, x, v, step, mask, logdensity_fn, create_graph, reverse):
        eps = self.log_step_size.exp() / (2 * self.n_blocks)
        fixed = mask * v
        shift_r = self.net_r([x, fixed], step)[0]
        grad = self._energy_grad(logdensity_fn, x + shift_r, create_graph)
        s, q, t = self.net_v([x, fixed, grad], step)
        return F.coupling_half_step(v, s, q, t, grad, mask=mask, step_size=eps,
                                    reverse=reverse)

    def transform(self, x: torch.Tensor, v: torch.Tensor, logdensity_fn: Callable, *,
                  reverse: bool = False, create_graph: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``z = f(v; x)`` (or ``v = f⁻¹(z; x)`` with ``reverse``) on flat ``(B, d)`` tensors.

        Returns ``(out, logdet (B,), n_grad_evals)``.
        """
        logdet = x.new_zeros(x.shape[0])
        order = range(self.n_blocks) if not reverse else reversed(range(self.n_blocks))
        for k in order:
            m = self.masks[k]
            halves = [(2 * k, m), (2 * k + 1, 1.0 - m)]
            for step, mask in (halves if not reverse else halves[::-1]):
                v, ld = self._half(x, v, step, mask, logdensity_fn, create_graph, reverse)
                logdet = logdet + ld
        return v, logdet, 2 * self.n_blocks

    def propose(self, x: torch.Tensor, logdensity_fn: Callable, *,
                generator: torch.Generator, energy_x: torch.Tensor | None = None,
                create_graph: bool = False) -> ProposalOutput:
        """Draw ``x'`` for every chain and compute the exact MH ``log a`` and entropy.

        ``logdensity_fn`` maps ``x``'s shape ``(B, ...)`` to ``(B,)``. With ``create_graph``
        the outputs are differentiable in the proposal's parameters (training).
        """
        shape = x.shape
        flat = x.detach().flatten(1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"x has {flat.shape[1]} features per chain (shape {tuple(shape)}), "
                             f"the proposal was built for dim={self.dim}")

        def logp_flat(y: torch.Tensor) -> torch.Tensor:
            return logdensity_fn(y.view(-1, *shape[1:]))

        v = torch.randn(flat.shape, generator=generator, dtype=flat.dtype, device=flat.device)
        z, ld_f, n_f = self.transform(flat, v, logp_flat, create_graph=create_graph)
        x_prop = flat + self.log_step_size.exp() * z
        v_rev, ld_r, n_r = self.transform(x_prop, -z, logp_flat, reverse=True,
                                          create_graph=create_graph)
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            if energy_x is None:
                energy_x = -logp_flat(flat)
            energy_prop = -logp_flat(x_prop)
        log_a = F.log_acceptance(energy_x=energy_x.detach(), energy_xp=energy_prop, v=v,
                                 v_rev=v_rev, logdet_fwd=ld_f, logdet_rev=ld_r)
        surrogate = F.entropy_surrogate(ld_f, self.log_step_size, self.dim)
        entropy = F.proposal_entropy(ld_f, self.log_step_size, self.dim)
        if not create_graph:
            x_prop, log_a = x_prop.detach(), log_a.detach()
            surrogate, entropy, energy_prop = surrogate.detach(), entropy.detach(), \
                energy_prop.detach()
        return ProposalOutput(x_prop.view(shape), log_a, entropy, surrogate,
                              energy_x.detach(), energy_prop, n_f + n_r)
