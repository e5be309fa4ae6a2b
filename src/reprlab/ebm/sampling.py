"""MDSM sampling and inpainting on top of :func:`reprlab.samplers.annealed_langevin`.

Both follow the official ``functions/sampling.py``: annealed Langevin from noise
``0.5 + N(0, 1)`` under :func:`reprlab.ebm.annealing_schedule`, then one denoising jump
``x ← x − σ₀² ∇E(x)``.

Dtype and device follow the model: :func:`sample` draws its chains in the dtype and on the
device of the energy network's parameters (or those given), :func:`inpaint` in those of the
images, and every random draw comes from the explicit ``generator``, which must live on that
device (``torch.Generator(device="cuda")`` for CUDA chains).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from reprlab.ebm.functional import annealing_schedule, check_finite, denoise, model_dtype_device
from reprlab.samplers.annealed import _schedules, build_kernel, check_generator, check_position
from reprlab.samplers.annealed import init as annealed_init
from reprlab.utils import progress_bar

__all__ = ["MDSMSamples", "sample", "inpaint", "make_generator"]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


class MDSMSamples(NamedTuple):
    """``samples``: after the denoising jump; ``langevin``: the last Langevin state (noisy);
    ``n_grad_evals``: gradient evaluations per chain (Langevin steps + 1 for the jump)."""

    samples: torch.Tensor
    langevin: torch.Tensor
    n_grad_evals: int


def make_generator(device: torch.device | str = "cpu", seed: int | None = None) -> torch.Generator:
    """A ``torch.Generator`` on ``device``, seeded with ``seed`` (fresh entropy when None)."""
    g = torch.Generator(device=torch.device(device))
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def _schedule(schedule) -> tuple[torch.Tensor, torch.Tensor]:
    if schedule is None:
        schedule = annealing_schedule(dtype=torch.float64)
    try:
        step_sizes, temperatures = schedule
    except (TypeError, ValueError) as err:
        raise ValueError("schedule must be a pair (step_sizes, temperatures), got "
                         f"{type(schedule).__name__}") from err
    return _schedules(step_sizes, temperatures)


def _check_sigma0(sigma0: float) -> None:
    if not sigma0 >= 0:
        raise ValueError(f"sigma0 must be >= 0 (0 skips the denoising jump), got {sigma0}")


def _check_init(init_mean: float, init_std: float) -> None:
    if not (isinstance(init_mean, (int, float)) and abs(init_mean) < float("inf")):
        raise ValueError(f"init_mean must be a finite number, got {init_mean}")
    if not init_std > 0 or init_std == float("inf"):
        raise ValueError(f"init_std must be a finite number > 0, got {init_std}")


def sample(energy_fn: EnergyFn, shape: tuple[int, ...], *,
           schedule: tuple[torch.Tensor, torch.Tensor] | None = None,
           init_mean: float = 0.5, init_std: float = 1.0, sigma0: float = 0.1,
           generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None, progress: bool = False) -> MDSMSamples:
    """Draw samples from an MDSM energy: annealed Langevin from noise, then one denoising jump.

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)``, ``p ∝ exp(−E)``. Put modules in eval mode and (for speed) turn
        off their parameters' ``requires_grad`` first.
    shape : tuple
        ``(N, C, H, W)`` (or any batch shape the energy accepts).
    schedule : (step_sizes, temperatures), optional
        Default: the official 2,700-step schedule of :func:`annealing_schedule`. Step sizes
        must be > 0, temperatures >= 0 (NaN is rejected).
    init_mean, init_std : float
        The chains start at ``init_mean + init_std · N(0, I)`` (official: 0.5 + N(0, 1)).
    sigma0 : float
        Scale of the final denoising jump (the training ``σ₀``).
    generator : torch.Generator, optional
        On the chains' device; a fresh unseeded one when omitted.
    dtype, device : optional
        Of the chains; default those of ``energy_fn``'s parameters when it is an
        ``nn.Module`` (float64 models sample in float64, CUDA models on CUDA), else torch's
        default dtype on the CPU.

    Returns
    -------
    MDSMSamples

    Examples
    --------
    >>> energy = lambda x: 0.5 * (x - 0.5).pow(2).flatten(1).sum(1)
    >>> out = sample(energy, (4, 2), schedule=annealing_schedule(n_warm=5, n_anneal=10,
    ...              n_cool=5), generator=torch.Generator().manual_seed(0))
    >>> out.samples.shape, out.n_grad_evals
    (torch.Size([4, 2]), 21)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or shape[0] < 1:
        raise ValueError(f"shape must start with a positive batch size, got {shape}")
    _check_sigma0(sigma0)
    _check_init(init_mean, init_std)
    m_dtype, m_device = model_dtype_device(energy_fn)
    dtype = dtype or m_dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else (m_device or torch.device("cpu"))
    if m_device is not None and m_device != device:
        raise ValueError(f"device={device} but the energy's parameters are on {m_device}; "
                         "move the model or pass the same device")
    step_sizes, temperatures = _schedule(schedule)
    if generator is None:
        generator = make_generator(device)
    probe = torch.empty(0, device=device)
    check_generator(generator, probe)
    x0 = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    x0 = init_mean + init_std * x0
    kernel = build_kernel()
    state = annealed_init(x0)

    def logdensity(z):
        return -energy_fn(z)

    for t in progress_bar(range(step_sizes.numel()), enabled=progress, desc="annealed Langevin"):
        state, _ = kernel(generator, state, logdensity, float(step_sizes[t]),
                          float(temperatures[t]))
    out = denoise(energy_fn, state.position, sigma0=sigma0) if sigma0 > 0 else state.position
    return MDSMSamples(out, state.position.detach(), state.n_grad_evals + 1)


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
        ``(N, ...) -> (N,)``; its parameters (if a module) must be in ``x``'s dtype/device.
    x : Tensor, shape (N, ...)
        Images; the values under ``mask == 1`` are ignored (they are re-drawn). The chains run
        in ``x``'s dtype and on its device. Must be finite.
    mask : Tensor
        Broadcastable to ``x``; 1 = unknown pixel to fill, 0 = observed.
    observed_noise : float
        Official 0.1; 0 turns the trick off.
    generator : torch.Generator, optional
        On ``x``'s device; a fresh unseeded one when omitted.

    Returns
    -------
    MDSMSamples
        ``samples`` equal ``x`` wherever ``mask`` is 0.
    """
    check_position(x, "x")
    check_finite(x, "x")
    _check_sigma0(sigma0)
    _check_init(init_mean, init_std)
    m_dtype, m_device = model_dtype_device(energy_fn)
    if m_device is not None and m_device != x.device:
        raise ValueError(f"x is on {x.device} but the energy's parameters are on {m_device}; "
                         "move one of them")
    if m_dtype is not None and m_dtype != x.dtype:
        raise ValueError(f"x has dtype {x.dtype} but the energy's parameters are {m_dtype}; "
                         f"pass x.to({m_dtype})")
    mask = torch.as_tensor(mask).to(dtype=x.dtype, device=x.device)
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to x of "
                         f"shape {tuple(x.shape)}") from err
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (observed) and 1 (to fill)")
    if not observed_noise >= 0:
        raise ValueError(f"observed_noise must be >= 0, got {observed_noise}")
    step_sizes, temperatures = _schedule(schedule)
    if generator is None:
        generator = make_generator(x.device)
    check_generator(generator, x)
    noise0 = init_mean + init_std * torch.randn(x.shape, generator=generator, dtype=x.dtype,
                                                device=x.device)
    x0 = x.detach() * (1 - mask) + noise0 * mask
    kernel = build_kernel()
    state = annealed_init(x0)
    observed = 1 - mask
    for t in progress_bar(range(step_sizes.numel()), enabled=progress, desc="inpaint"):
        scale = observed_noise * float(temperatures[t]) ** 0.25
        jitter = scale * torch.randn(x.shape, generator=generator, dtype=x.dtype,
                                     device=x.device) * observed

        def logdensity(z, jitter=jitter):
            return -energy_fn(z + jitter)

        state, _ = kernel(generator, state, logdensity, float(step_sizes[t]),
                          float(temperatures[t]), mask)
    out = (denoise(energy_fn, state.position, sigma0=sigma0, mask=mask) if sigma0 > 0
           else state.position)
    return MDSMSamples(out, state.position.detach(), state.n_grad_evals + 1)
