"""Annealed Langevin dynamics: unadjusted Langevin steps under a step-size/temperature schedule.

One step ``t`` of the schedule on an energy ``E`` (``p ∝ exp(−E)``)::

    x ← x − ε_t ∇E(x) + sqrt(2 ε_t T_t) ξ,     ξ ~ N(0, I)

so at fixed ``(ε, T)`` the chain targets ``≈ exp(−E/T)``; lowering ``T_t`` towards 1 (or
below) anneals from a broad to the sharp density. This is the sampler of MDSM
(arXiv:1910.07762), where a ``mask`` restricts the moves to the free (masked) pixels for
inpainting. Every step costs exactly one gradient evaluation per chain.

The chains live in the dtype and on the device of the starting position: every noise draw
comes from the explicit ``torch.Generator``, which must be on that device (a CPU generator
with CUDA chains is an error naming both devices, never a silent host-to-device copy). The
update runs under ``torch.no_grad``; only the gradient of the log density is taken with
autograd. A NaN starting point, a non-finite log density or gradient at the first step, and
a non-positive step size or a negative/NaN temperature raise a ``ValueError`` before the run
goes on.

Examples
--------
>>> import torch
>>> from reprlab.samplers import annealed_langevin
>>> energy = lambda x: 0.5 * (x ** 2).flatten(1).sum(1)
>>> out = annealed_langevin(energy, torch.randn(8, 2) * 5, step_sizes=[0.1] * 50,
...                         temperatures=torch.linspace(5, 1, 50),
...                         generator=torch.Generator().manual_seed(0))
>>> out.samples.shape, out.n_grad_evals
(torch.Size([8, 2]), 50)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from reprlab.samplers.base import LogDensityFn, SamplingAlgorithm, logdensity_and_grad

__all__ = [
    "AnnealedState",
    "AnnealedInfo",
    "AnnealedLangevinResult",
    "init",
    "check_position",
    "check_generator",
    "build_kernel",
    "annealed_langevin_algorithm",
    "annealed_langevin",
]


class AnnealedState(NamedTuple):
    """Position ``(B, ...)``, the schedule index of the next step, and the cumulative number
    of gradient evaluations per chain."""

    position: torch.Tensor
    step: int
    n_grad_evals: int


class AnnealedInfo(NamedTuple):
    """The step size and temperature used by the step, and its gradient evaluations (1)."""

    step_size: float
    temperature: float
    n_grad_evals: int


class AnnealedLangevinResult(NamedTuple):
    """Detached final samples ``(B, ...)`` and gradient evaluations per chain (``T``)."""

    samples: torch.Tensor
    n_grad_evals: int


def init(position: torch.Tensor, logdensity_fn: LogDensityFn | None = None) -> AnnealedState:
    """Start at ``position``; no gradient is evaluated (each step evaluates its own).

    Raises ``ValueError`` for a position that is not a floating-point tensor with a batch
    dimension, or that holds NaN/Inf.
    """
    del logdensity_fn  # the kernel evaluates the gradient at the current point itself
    check_position(position)
    return AnnealedState(position.detach(), 0, 0)


def check_position(position: torch.Tensor, name: str = "position") -> None:
    """``ValueError`` unless ``position`` is a finite floating tensor ``(B, ...)``."""
    if not isinstance(position, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(position).__name__}")
    if not position.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {position.dtype}")
    if position.dim() < 1 or position.shape[0] < 1:
        raise ValueError(f"{name} must have a non-empty batch dimension, got shape "
                         f"{tuple(position.shape)}")
    if not bool(torch.isfinite(position).all()):
        n_bad = int((~torch.isfinite(position)).sum())
        raise ValueError(f"{name} holds {n_bad} NaN/Inf value(s); start the chains at finite "
                         "points")


def check_generator(generator: torch.Generator, like: torch.Tensor,
                    name: str = "generator") -> None:
    """``ValueError`` unless ``generator`` is a ``torch.Generator`` on ``like``'s device."""
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"{name} must be a torch.Generator, got {type(generator).__name__}")
    gdev, xdev = torch.device(generator.device), like.device
    if gdev.type != xdev.type or (gdev.index is not None and xdev.index is not None
                                  and gdev.index != xdev.index):
        raise ValueError(f"{name} is on {gdev} but the chains are on {xdev}; pass "
                         f"torch.Generator(device={str(xdev)!r}).manual_seed(seed)")


def _as_schedule(name: str, values: Sequence[float] | torch.Tensor) -> torch.Tensor:
    sched = torch.as_tensor(values, dtype=torch.float64).flatten()
    if sched.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D schedule, got {tuple(sched.shape)}")
    if not torch.isfinite(sched).all():
        raise ValueError(f"{name} must be finite")
    return sched


def _schedules(step_sizes: Sequence[float] | torch.Tensor,
               temperatures: Sequence[float] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both schedules as 1-D tensors of equal length, steps > 0 and temperatures >= 0."""
    eps = _as_schedule("step_sizes", step_sizes)
    temps = _as_schedule("temperatures", temperatures)
    if eps.numel() != temps.numel():
        raise ValueError(
            f"step_sizes and temperatures must have equal length, got {eps.numel()} and "
            f"{temps.numel()}"
        )
    if not bool((eps > 0).all()):
        raise ValueError(f"step_sizes must all be > 0, got min {float(eps.min())} at step "
                         f"{int(eps.argmin())}")
    if not bool((temps >= 0).all()):
        raise ValueError(f"temperatures must all be >= 0, got min {float(temps.min())} at "
                         f"step {int(temps.argmin())}")
    return eps, temps


def _check_mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    mask = torch.as_tensor(mask).to(dtype=x.dtype, device=x.device)
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to x of shape "
            f"{tuple(x.shape)}"
        ) from err
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (frozen) and 1 (free) values")
    return mask


def build_kernel():
    """Kernel ``kernel(generator, state, logdensity_fn, step_size, temperature, mask=None)``.

    ``mask`` (broadcastable to the position, 1 = free) freezes the entries where it is 0.
    The noise is drawn from ``generator`` in the position's dtype and on its device; the
    update runs under ``torch.no_grad``. The first step (``state.step == 0``) checks the
    generator's device and that the log density and its gradient are finite.
    """

    def kernel(
        generator: torch.Generator,
        state: AnnealedState,
        logdensity_fn: LogDensityFn,
        step_size: float,
        temperature: float,
        mask: torch.Tensor | None = None,
    ) -> tuple[AnnealedState, AnnealedInfo]:
        step_size, temperature = float(step_size), float(temperature)
        if not step_size > 0:  # NaN fails too
            raise ValueError(f"step_size must be > 0, got {step_size}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        x = state.position
        if state.step == 0:
            check_generator(generator, x)
        logp, grad = logdensity_and_grad(logdensity_fn, x)
        if state.step == 0 and not (bool(torch.isfinite(logp).all())
                                    and bool(torch.isfinite(grad).all())):
            raise ValueError("the log density or its gradient is NaN/Inf at the starting "
                             f"points ({int((~torch.isfinite(logp)).sum())} of {logp.numel()} "
                             "chains); check the energy and the starting points")
        with torch.no_grad():
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            delta = step_size * grad + (2.0 * step_size * temperature) ** 0.5 * noise
            if mask is not None:
                delta = delta * mask
            new = AnnealedState(x + delta, state.step + 1, state.n_grad_evals + 1)
        return new, AnnealedInfo(step_size, temperature, 1)

    return kernel


def annealed_langevin_algorithm(
    logdensity_fn: LogDensityFn,
    *,
    step_sizes: Sequence[float] | torch.Tensor,
    temperatures: Sequence[float] | torch.Tensor,
    mask: torch.Tensor | None = None,
) -> SamplingAlgorithm:
    """Annealed Langevin as a :class:`SamplingAlgorithm` whose ``step`` follows the schedule
    (step ``state.step`` uses ``step_sizes[state.step]``; past the end it keeps the last)."""
    eps, temps = _schedules(step_sizes, temperatures)
    kernel = build_kernel()

    def init_fn(position: torch.Tensor) -> AnnealedState:
        return init(position, logdensity_fn)

    def step_fn(generator: torch.Generator, state: AnnealedState):
        t = min(state.step, eps.numel() - 1)
        m = _check_mask(mask, state.position)
        return kernel(generator, state, logdensity_fn, float(eps[t]), float(temps[t]), m)

    return SamplingAlgorithm(init_fn, step_fn)


def annealed_langevin(
    energy_fn: Callable[[torch.Tensor], torch.Tensor],
    x_init: torch.Tensor,
    *,
    step_sizes: Sequence[float] | torch.Tensor,
    temperatures: Sequence[float] | torch.Tensor,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> AnnealedLangevinResult:
    """Run annealed Langevin dynamics on an energy from ``x_init``.

    Parameters
    ----------
    energy_fn : callable
        Maps a batch ``(B, ...)`` to energies ``(B,)``; ``p ∝ exp(−E)``.
    x_init : torch.Tensor
        Starting points ``(B, ...)``.
    step_sizes, temperatures : 1-D sequences or tensors of equal length ``T``
        One Langevin step per entry: ``x ← x − ε_t ∇E(x) + sqrt(2 ε_t T_t) ξ``.
    mask : torch.Tensor, optional
        Same shape as ``x_init`` or broadcastable; 1 = free to move, 0 = frozen (the frozen
        entries keep their ``x_init`` value — inpainting).
    generator : torch.Generator, optional
        Source of the noise, on ``x_init``'s device; a fresh unseeded one on that device
        when omitted.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    AnnealedLangevinResult
        ``samples`` ``(B, ...)`` (detached) and ``n_grad_evals`` = ``T`` per chain.
    """
    from reprlab.utils import progress_bar

    eps, temps = _schedules(step_sizes, temperatures)
    check_position(x_init, "x_init")
    if generator is None:
        generator = torch.Generator(device=x_init.device)
        generator.seed()
    check_generator(generator, x_init)
    m = _check_mask(mask, x_init)

    def logdensity_fn(x: torch.Tensor) -> torch.Tensor:
        return -energy_fn(x)

    kernel = build_kernel()
    state = init(x_init)
    for t in progress_bar(range(eps.numel()), enabled=progress, desc="annealed Langevin"):
        state, _ = kernel(generator, state, logdensity_fn, float(eps[t]), float(temps[t]), m)
    return AnnealedLangevinResult(state.position.detach(), state.n_grad_evals)
