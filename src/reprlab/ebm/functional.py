"""Multi-scale denoising score matching (MDSM, arXiv:1910.07762): the math as pure functions.

Convention: the model density is ``p(x) ∝ exp(−E(x))``, so the score is ``∇ log p = −∇E``.
A denoiser built from the energy is therefore ``x̂ = x − σ₀² ∇E(x)`` (Tweedie at scale σ₀).

The MDSM objective (paper eq. 9; official ``train.py``) corrupts each data point with its own
noise scale ``σ`` but always regresses towards the score of the *fixed small* scale ``σ₀``::

    L = 1/N Σ_i  ‖ (x_i − x̃_i) / (σ_i σ₀²) + ∇E(x̃_i) / σ_i ‖²,     x̃_i = x_i + σ_i ε_i

i.e. the per-sample squared error ``‖(x − x̃)/σ₀² + ∇E(x̃)‖²`` weighted by ``1/σ²``. The energy
is not conditioned on σ: one network must fit every scale, which is what lets annealed Langevin
sampling at temperature ``T`` move through the smoothed densities.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "noise_levels",
    "energy_and_grad",
    "dsm_loss",
    "denoise",
    "annealing_schedule",
    "gaussian_blur",
    "check_finite",
    "model_dtype_device",
]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


def check_finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Return ``x`` unchanged; ``ValueError`` naming ``name`` if it holds NaN or Inf."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds {int((~torch.isfinite(x)).sum())} NaN/Inf value(s); "
                         "pass finite values")
    return x


def model_dtype_device(energy_fn: object) -> tuple[torch.dtype | None, torch.device | None]:
    """The dtype and device of an ``nn.Module``'s first parameter (or buffer); ``(None, None)``
    for a plain function or a module without tensors."""
    if isinstance(energy_fn, torch.nn.Module):
        for t in (*energy_fn.parameters(), *energy_fn.buffers()):
            if t.is_floating_point():
                return t.dtype, t.device
    return None, None


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and value > 0 and value != float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def noise_levels(n: int, *, sigma_min: float, sigma_max: float, spacing: str = "lin",
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """The per-row noise scales of an MDSM batch, spread deterministically over a range.

    The official code gives row ``i`` of every batch the ``i``-th of ``n`` scales spaced
    linearly (CIFAR-10: 0.05 to 1.2) or geometrically (MNIST/Fashion-MNIST: 0.1 to 3).

    Parameters
    ----------
    n : int
        Batch size.
    sigma_min, sigma_max : float
        The range, ``0 < sigma_min <= sigma_max``.
    spacing : {"lin", "exp"}
        Linear (``linspace``) or geometric (``logspace``) spacing.

    Returns
    -------
    Tensor, shape (n,)

    Examples
    --------
    >>> noise_levels(3, sigma_min=0.1, sigma_max=0.3)
    tensor([0.1000, 0.2000, 0.3000])
    """
    if not n >= 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _positive("sigma_min", sigma_min)
    _positive("sigma_max", sigma_max)
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got sigma_min={sigma_min}, "
                         f"sigma_max={sigma_max}")
    if spacing == "lin":
        out = torch.linspace(sigma_min, sigma_max, n, dtype=torch.float64)
    elif spacing == "exp":
        out = torch.logspace(math.log10(sigma_min), math.log10(sigma_max), n, dtype=torch.float64)
    else:
        raise ValueError(f"spacing must be 'lin' or 'exp', got {spacing!r}")
    return out.to(device=device, dtype=dtype or torch.get_default_dtype())


def energy_and_grad(energy_fn: EnergyFn, x: torch.Tensor, *,
                    create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``E(x)`` per sample and ``∇ₓE(x)``.

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)`` energies.
    x : Tensor, shape (N, ...)
    create_graph : bool
        Keep the graph of the gradient (needed when the gradient enters a training loss).

    Returns
    -------
    energy : Tensor, shape (N,)
    grad : Tensor, shape (N, ...)
    """
    with torch.enable_grad():
        x = x if (x.requires_grad and create_graph) else x.detach().requires_grad_(True)
        energy = energy_fn(x)
        if energy.shape != (x.shape[0],):
            raise ValueError(f"energy_fn must return shape ({x.shape[0]},), got "
                             f"{tuple(energy.shape)}")
        (grad,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
    if not create_graph:
        energy, grad = energy.detach(), grad.detach()
    return energy, grad


def dsm_loss(energy_fn: EnergyFn, x: torch.Tensor, *, sigmas: torch.Tensor | float,
             sigma0: float = 0.1, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None,
             reduction: str = "mean") -> torch.Tensor:
    """The multi-scale denoising score matching loss (paper eq. 9).

    ``L_i = ‖(x_i − x̃_i)/σ₀² + ∇E(x̃_i)‖² / σ_i²`` with ``x̃_i = x_i + σ_i ε_i``. At the optimum
    ``∇E(x̃) = (x̃ − E[x | x̃]) / σ₀²`` averaged over the scales that could have produced x̃, so
    ``−∇E`` points from a noisy point back towards the data (the sign the Gaussian test checks).

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)``; not conditioned on the noise level.
    x : Tensor, shape (N, ...)
        Clean data.
    sigmas : Tensor of shape (N,) or float
        Noise scale of each row (see :func:`noise_levels`), or one scale for all.
    sigma0 : float
        The fixed small scale whose score is the regression target (paper: 0.1).
    noise : Tensor, shape (N, ...), optional
        The standard-normal ``ε``; drawn here (from ``generator``) when absent.
    generator : torch.Generator, optional
    reduction : {"mean", "sum", "none"}
        ``mean`` is the official ``sum / batch_size``.

    Returns
    -------
    Tensor
        Scalar, or shape (N,) for ``reduction="none"``. Multiply by ``σ₀⁴`` for the
        "normalized loss" the official code prints.
    """
    _positive("sigma0", sigma0)
    check_finite(x, "x")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n = x.shape[0]
    sig = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device)
    if sig.dim() == 0:
        sig = sig.expand(n)
    if sig.shape != (n,):
        raise ValueError(f"sigmas must be a float or have shape ({n},), got {tuple(sig.shape)}")
    if not bool((sig > 0).all()) or not bool(torch.isfinite(sig).all()):
        raise ValueError(f"sigmas must all be finite and > 0, got min {float(sig.min())}")
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    elif noise.shape != x.shape:
        raise ValueError(f"noise must have the shape of x {tuple(x.shape)}, got "
                         f"{tuple(noise.shape)}")
    sig_b = sig.view(n, *([1] * (x.dim() - 1)))
    x_noisy = (x + sig_b * noise).detach().requires_grad_(True)
    _, grad = energy_and_grad(energy_fn, x_noisy, create_graph=True)
    resid = (x - x_noisy) / sigma0**2 + grad
    per_sample = resid.pow(2).flatten(1).sum(1) / sig.pow(2)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def denoise(energy_fn: EnergyFn, x: torch.Tensor, *, sigma0: float = 0.1,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """One denoising jump ``x̂ = x − σ₀² ∇E(x)`` (the last step of MDSM sampling).

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)``.
    x : Tensor, shape (N, ...)
    sigma0 : float
        The training target scale.
    mask : Tensor, optional
        Broadcastable to ``x``; 1 where pixels may change (inpainting), 0 where they stay.

    Returns
    -------
    Tensor, shape (N, ...), detached, in ``x``'s dtype and on its device.
    """
    if not sigma0 >= 0:
        raise ValueError(f"sigma0 must be >= 0, got {sigma0}")
    check_finite(x, "x")
    _, grad = energy_and_grad(energy_fn, x)
    step = sigma0**2 * grad
    if mask is not None:
        step = step * mask
    return (x.detach() - step).detach()


def annealing_schedule(*, kind: str = "exp", n_warm: int = 500, n_anneal: int = 2000,
                       n_cool: int = 200, t_max: float = 100.0, t_min: float = 1.0,
                       step_size: float = 0.02,
                       dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The official MDSM temperature schedule, as per-step ``(step_sizes, temperatures)``.

    The official sampler (``functions/sampling.py``) updates
    ``x ← x − ½ s² ∇E(x) + s √T ξ`` with ``s = step_size`` (0.02). Written as the generic
    annealed Langevin step ``x ← x − ε ∇E + √(2 ε T) ξ`` this is ``ε = s²/2`` at every step
    and the temperature ``T`` of the schedule (``sample.py``): ``n_warm`` steps at
    ``t_max`` (100), ``n_anneal`` steps decaying geometrically (``kind="exp"``) or linearly
    (``"lin"``) from ``t_max`` towards ``t_min`` (1), then ``n_cool`` steps falling linearly
    from ``t_min`` to 0 (noise-free descent). Defaults give the official 2,700 steps.

    Returns
    -------
    step_sizes : Tensor, shape (K,)
    temperatures : Tensor, shape (K,)
    """
    for name, v in (("n_warm", n_warm), ("n_anneal", n_anneal), ("n_cool", n_cool)):
        if not (isinstance(v, int) and v >= 0):
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    if n_warm + n_anneal + n_cool == 0:
        raise ValueError("the schedule has no steps (n_warm = n_anneal = n_cool = 0)")
    _positive("t_min", t_min)
    _positive("t_max", t_max)
    if not t_min <= t_max:
        raise ValueError(f"need 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
    _positive("step_size", step_size)
    k = torch.arange(n_anneal, dtype=torch.float64)
    if kind == "exp":
        mid = t_max * torch.exp(-k * math.log(t_max / t_min) / max(n_anneal, 1))
    elif kind == "lin":
        mid = torch.linspace(t_max, t_min, n_anneal, dtype=torch.float64)
    else:
        raise ValueError(f"kind must be 'exp' or 'lin', got {kind!r}")
    temps = torch.cat([torch.full((n_warm,), t_max, dtype=torch.float64), mid,
                       t_min * torch.linspace(1.0, 0.0, n_cool, dtype=torch.float64)])
    steps = torch.full_like(temps, 0.5 * step_size**2)
    dtype = dtype or torch.get_default_dtype()
    return steps.to(dtype), temps.to(dtype)


def gaussian_blur(x: torch.Tensor, *, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of images ``(N, C, H, W)`` with reflect padding.

    Used for the "blurred noise" baseline of the Fréchet-distance claim.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
    _positive("sigma", sigma)
    k = kernel_size or (2 * math.ceil(3 * sigma) + 1)
    r = torch.arange(k, dtype=x.dtype, device=x.device) - (k - 1) / 2
    w = torch.exp(-0.5 * (r / sigma) ** 2)
    w = w / w.sum()
    c = x.shape[1]
    pad = k // 2
    out = torch.nn.functional.pad(x, (pad, pad, 0, 0), mode="reflect")
    out = torch.nn.functional.conv2d(out, w.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
    out = torch.nn.functional.pad(out, (0, 0, pad, pad), mode="reflect")
    return torch.nn.functional.conv2d(out, w.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)
