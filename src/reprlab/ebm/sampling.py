"""MDSM sampling and inpainting on top of :func:`reprlab.samplers.annealed_langevin`.

Both follow the official ``functions/sampling.py``: annealed Langevin from noise
``0.5 + N(0, 1)`` under :func:`reprlab.ebm.annealing_schedule`, then one denoising jump
``x ← x − σ₀² ∇E(x)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from reprlab.ebm.functional import annealing_schedule, denoise
from reprlab.samplers import annealed_langevin
from reprlab.samplers.annealed import build_kernel
from reprlab.samplers.annealed import init as annealed_init
from reprlab.utils import progress_bar

__all__ = ["MDSMSamples", "sample", "inpaint"]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


class MDSMSamples(NamedTuple):
    """``samples``: after the denoising jump; ``langevin``: the last Langevin state (noisy);
    ``n_grad_evals``: gradient evaluations per chain (Langevin steps + 1 for the jump)."""

    samples: torch.Tensor
    langevin: torch.Tensor
    n_grad_evals: int


def _schedule(schedule):
    if schedule is None:
        return annealing_schedule()
    step_sizes, temperatures = schedule
    return torch.as_tensor(step_sizes), torch.as_tensor(temperatures)


def sample(energy_fn: EnergyFn, shape: tuple[int, ...], *,
           schedule: tuple[torch.Tensor, torch.Tensor] | None = None,
           init_mean: float = 0.5, init_std: float = 1.0, sigma0: float = 0.1,
           generator: torch.Generator | None = None, progress: bool = False) -> MDSMSamples:
    """Draw samples from an MDSM energy: annealed Langevin from noise, then one denoising jump.

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)``, ``p ∝ exp(−E)``. Put modules in eval mode and (for speed) turn
        off their parameters' ``requires_grad`` first.
    shape : tuple
        ``(N, C, H, W)`` (or any batch shape the energy accepts).
    schedule : (step_sizes, temperatures), optional
        Default: the official 2,700-step schedule of :func:`annealing_schedule`.
    init_mean, init_std : float
        The chains start at ``init_mean + init_std · N(0, I)`` (official: 0.5 + N(0, 1)).
    sigma0 : float
        Scale of the final denoising jump (the training ``σ₀``).
    generator : torch.Generator, optional

    Returns
    -------
    MDSMSamples
    """
    if len(shape) < 1 or shape[0] < 1:
        raise ValueError(f"shape must start with a positive batch size, got {shape}")
    step_sizes, temperatures = _schedule(schedule)
    x0 = init_mean + init_std * torch.randn(shape, generator=generator)
    res = annealed_langevin(energy_fn, x0, step_sizes=step_sizes, temperatures=temperatures,
                            generator=generator, progress=progress)
    out = denoise(energy_fn, res.samples, sigma0=sigma0)
    return MDSMSamples(out, res.samples, res.n_grad_evals + 1)


def inpaint(energy_fn: EnergyFn, x: torch.Tensor, mask: torch.Tensor, *,
            schedule: tuple[torch.Tensor, torch.Tensor] | None = None,
            init_mean: float = 0.5, init_std: float = 1.0, sigma0: float = 0.1,
            observed_noise: float = 0.1, generator: torch.Generator | None = None,
            progress: bool = False) -> MDSMSamples:
    """Fill the pixels where ``mask`` is 1 by annealed Langevin on those pixels only.

    As the official ``Annealed_Langevin_E_mask``: the observed pixels never move, but at
    step ``t`` the energy is evaluated with fresh noise of scale ``observed_noise · T_t^{1/4}``
    added to them, so the image the network sees is uniformly noisy (matching the noise level
    of the free pixels). Ends with a denoising jump of the free pixels.

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)``.
    x : Tensor, shape (N, ...)
        Images; the values under ``mask == 1`` are ignored (they are re-drawn).
    mask : Tensor
        Broadcastable to ``x``; 1 = unknown pixel to fill, 0 = observed.
    observed_noise : float
        Official 0.1; 0 turns the trick off.

    Returns
    -------
    MDSMSamples
        ``samples`` equal ``x`` wherever ``mask`` is 0.
    """
    mask = torch.as_tensor(mask, dtype=x.dtype)
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to x of "
                         f"shape {tuple(x.shape)}") from err
    if observed_noise < 0:
        raise ValueError(f"observed_noise must be >= 0, got {observed_noise}")
    step_sizes, temperatures = _schedule(schedule)
    if step_sizes.shape != temperatures.shape or step_sizes.dim() != 1:
        raise ValueError(f"schedule must be two equal 1-D tensors, got "
                         f"{tuple(step_sizes.shape)} and {tuple(temperatures.shape)}")
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    noise0 = init_mean + init_std * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    x0 = x.detach() * (1 - mask) + noise0 * mask
    kernel = build_kernel()
    state = annealed_init(x0)
    observed = 1 - mask
    for t in progress_bar(range(step_sizes.numel()), enabled=progress, desc="inpaint"):
        scale = observed_noise * float(temperatures[t]) ** 0.25
        jitter = scale * torch.randn(x.shape, generator=generator, dtype=x.dtype) * observed

        def logdensity(z, jitter=jitter):
            return -energy_fn(z + jitter)

        state, _ = kernel(generator, state, logdensity, float(step_sizes[t]),
                          float(temperatures[t]), mask)
    out = denoise(energy_fn, state.position, sigma0=sigma0, mask=mask)
    return MDSMSamples(out, state.position.detach(), state.n_grad_evals + 1)
