"""Annealed importance sampling (AIS) of an energy's log partition function, and bits/dim.

The official MDSM code (``functions/sampling.py``, class ``AIS_sampling``) estimates
``log Z = log ∫ exp(−E(x)/T) dx`` by AIS (Neal 2001) from a Gaussian reference
``p₀ = N(μ₀, σ²I)`` (official ``μ₀ = 0``) along the linear path of energies::

    E_β(x) = β E(x)/T + (1 − β) E₀(x),      E₀(x) = ‖x − μ₀‖² / (2σ²),    β: 0 → 1

Each chain starts from ``p₀``; at every ``β_k`` its log weight gains
``E_{β_{k−1}}(x) − E_{β_k}(x)`` and the chain then moves by one HMC transition (``L``
leapfrog steps, Metropolis correction) that leaves ``exp(−E_{β_k})`` invariant. Then
``Ẑ/Z₀ = mean_i exp(log w_i)`` with ``Z₀ = (2πσ²)^{D/2}``. ``E[Ẑ] = Z`` (unbiased), so
``log Ẑ`` underestimates ``log Z`` on average (Jensen) — NLLs derived from it err low.

Deviations from the official class (declared): (1) the leapfrog ends with the final half
momentum step, so the HMC move is exactly reversible (the official loop omits it);
(2) the momentum is drawn from ``N(0, I)`` and the kinetic energy is ``‖p‖²/2`` (the official
draws ``N(0, I)`` but divides by a mass ``m``; with its ``m = 1`` they agree); (3) by default the
leapfrog step size is adapted between temperatures towards an acceptance rate of 0.65 from
the acceptance of the previous transition (``adapt_step_size=False`` keeps it fixed, as the
official code). The official ``β`` schedule and step sizes are not in the repository (it
passes them as arguments); our defaults are the sigmoid schedule of Grosse et al. (2015)
with 1,000 temperatures.

The chains run in the dtype and on the device of the energy network (or those given); every
draw comes from the explicit ``generator`` on that device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from reprlab.ebm.functional import check_finite, model_dtype_device
from reprlab.samplers.annealed import check_generator
from reprlab.utils import progress_bar

__all__ = ["AISResult", "ais_betas", "ais_log_partition", "bits_per_dim", "log_mean_exp"]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


class AISResult(NamedTuple):
    """``log_z``: the AIS estimate of ``log Z`` (nats); ``log_z_se``: its delta-method
    standard error over chains; ``log_weights`` ``(n_chains,)``; ``ess``: effective sample size
    of the normalized weights (``n_chains`` when all are equal); ``acceptance``: mean HMC
    acceptance over temperatures and chains; ``samples``: the final states ``(n_chains, ...)``
    (approximate draws of ``exp(−E/T)``); ``n_grad_evals`` per chain; ``step_size``: the
    final leapfrog step."""

    log_z: float
    log_z_se: float
    log_weights: torch.Tensor
    ess: float
    acceptance: float
    samples: torch.Tensor
    n_grad_evals: int
    step_size: float


def log_mean_exp(values: torch.Tensor) -> torch.Tensor:
    """``log(mean(exp(values)))`` along the last axis, computed stably (float64)."""
    v = values.double()
    return torch.logsumexp(v, dim=-1) - math.log(v.shape[-1])


def ais_betas(n: int, *, kind: str = "sigmoid", sigmoid_scale: float = 4.0,
              dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Inverse temperatures ``0 = β₀ < … < β_n = 1``.

    ``kind="sigmoid"``: ``σ(δ(2k/n − 1))`` rescaled to [0, 1] (Grosse et al. 2015, δ =
    ``sigmoid_scale``), dense at both ends; ``"linear"``: evenly spaced; ``"geometric"``:
    ``β₁ = 1e-4`` then geometric to 1 (dense near 0).

    Returns
    -------
    Tensor, shape (n + 1,)
    """
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if kind == "linear":
        b = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
    elif kind == "sigmoid":
        if not sigmoid_scale > 0:
            raise ValueError(f"sigmoid_scale must be > 0, got {sigmoid_scale}")
        s = torch.sigmoid(sigmoid_scale * torch.linspace(-1.0, 1.0, n + 1, dtype=torch.float64))
        b = (s - s[0]) / (s[-1] - s[0])
    elif kind == "geometric":
        b = torch.cat([torch.zeros(1, dtype=torch.float64),
                       torch.logspace(-4, 0, n, dtype=torch.float64)])
    else:
        raise ValueError(f"kind must be 'sigmoid', 'linear' or 'geometric', got {kind!r}")
    b[0], b[-1] = 0.0, 1.0
    return b.to(dtype)


def _as_betas(betas: torch.Tensor) -> torch.Tensor:
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    if b.numel() < 2:
        raise ValueError(f"betas must hold at least 2 values (0 … 1), got {b.numel()}")
    if not bool(torch.isfinite(b).all()):
        raise ValueError("betas must be finite")
    if float(b[0]) != 0.0 or float(b[-1]) != 1.0:
        raise ValueError(f"betas must start at 0 and end at 1, got {float(b[0])} … "
                         f"{float(b[-1])}")
    if not bool((b[1:] > b[:-1]).all()):
        raise ValueError("betas must increase strictly")
    return b


def ais_log_partition(energy_fn: EnergyFn, shape: tuple[int, ...], *,
                      n_steps: int = 1000, betas: torch.Tensor | None = None,
                      ref_mean: float | torch.Tensor = 0.0, ref_std: float = 1.0,
                      temperature: float = 1.0, step_size: float = 0.05,
                      n_leapfrog: int = 5, adapt_step_size: bool = True,
                      target_acceptance: float = 0.65,
                      generator: torch.Generator | None = None,
                      dtype: torch.dtype | None = None, device: torch.device | str | None = None,
                      progress: bool = False) -> AISResult:
    """Estimate ``log Z = log ∫ exp(−E(x)/T) dx`` by AIS with HMC transitions.

    Parameters
    ----------
    energy_fn : callable
        ``(N, ...) -> (N,)`` energies. Modules: eval mode, parameters with
        ``requires_grad=False`` for speed.
    shape : tuple
        ``(n_chains, ...)``: the number of AIS chains and the shape of one point.
    n_steps : int
        Number of intermediate temperatures (ignored when ``betas`` is given).
    betas : Tensor, optional
        The full schedule ``0 = β₀ < … < β_K = 1``; default :func:`ais_betas` ``(n_steps)``.
    ref_mean, ref_std : float or Tensor, float
        The Gaussian reference ``N(ref_mean, ref_std² I)`` (official: mean 0, std ``sigma``).
        ``ref_mean`` may be a tensor of one point's shape (e.g. the data mean).
    temperature : float
        ``T`` in ``exp(−E/T)`` (official ``T``; 1 gives the model's own ``log Z``).
    step_size : float
        Initial leapfrog step (official ``epsi``).
    n_leapfrog : int
        Leapfrog steps per HMC transition (official ``L``).
    adapt_step_size : bool
        Adapt the step between temperatures (multiply by 1.02 when the last transition's mean
        acceptance exceeded ``target_acceptance``, else by 0.98).
    generator : torch.Generator, optional
        On the chains' device; a fresh unseeded one when omitted.
    dtype, device : optional
        Default: those of ``energy_fn``'s parameters, else torch's default dtype on CPU.

    Returns
    -------
    AISResult

    Examples
    --------
    >>> energy = lambda x: 0.5 * (x ** 2).sum(1)            # Z = (2π)^{D/2}
    >>> r = ais_log_partition(energy, (64, 3), n_steps=50,
    ...                       generator=torch.Generator().manual_seed(0))
    >>> abs(r.log_z - 1.5 * math.log(2 * math.pi)) < 0.05
    True
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or shape[0] < 1:
        raise ValueError(f"shape must be (n_chains, ...) with n_chains >= 1, got {shape}")
    for name, v in (("ref_std", ref_std), ("temperature", temperature),
                    ("step_size", step_size)):
        if not (isinstance(v, (int, float)) and 0 < v < float("inf")):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not (isinstance(n_leapfrog, int) and n_leapfrog >= 1):
        raise ValueError(f"n_leapfrog must be an int >= 1, got {n_leapfrog!r}")
    if not 0 < target_acceptance < 1:
        raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance}")
    b = _as_betas(ais_betas(n_steps) if betas is None else betas)
    m_dtype, m_device = model_dtype_device(energy_fn)
    dtype = dtype or m_dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else (m_device or torch.device("cpu"))
    if generator is None:
        generator = torch.Generator(device=device)
        generator.seed()
    check_generator(generator, torch.empty(0, device=device))
    mu0 = torch.as_tensor(ref_mean, dtype=dtype, device=device)
    check_finite(mu0, "ref_mean")
    try:
        torch.broadcast_shapes(mu0.shape, shape[1:])
    except RuntimeError as err:
        raise ValueError(f"ref_mean of shape {tuple(mu0.shape)} does not broadcast to one "
                         f"point of shape {shape[1:]}") from err
    n, dim = shape[0], math.prod(shape[1:])
    var0, temp = float(ref_std) ** 2, float(temperature)
    red = tuple(range(1, len(shape)))

    def parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(E/T, E₀, ∇(E/T), ∇E₀) at x."""
        with torch.enable_grad():
            z = x.detach().requires_grad_(True)
            e = energy_fn(z)
            if e.shape != (n,):
                raise ValueError(f"energy_fn must return shape ({n},), got {tuple(e.shape)}")
            (g,) = torch.autograd.grad(e.sum(), z)
        e0 = (x - mu0).pow(2).sum(red) / (2 * var0)
        return e.detach() / temp, e0, g.detach() / temp, (x - mu0) / var0

    def mix(beta: float, e: torch.Tensor, e0: torch.Tensor) -> torch.Tensor:
        return beta * e + (1 - beta) * e0

    with torch.no_grad():
        x = mu0 + float(ref_std) * torch.randn(shape, generator=generator, dtype=dtype,
                                               device=device)
        e, e0, g, g0 = parts(x)
        if not (bool(torch.isfinite(e).all()) and bool(torch.isfinite(g).all())):
            raise ValueError("the energy or its gradient is NaN/Inf at the reference draws; "
                             "check the energy (or ref_mean/ref_std)")
        log_w = torch.zeros(n, dtype=torch.float64, device=device)
        eps, acc_sum, n_grad = float(step_size), 0.0, 1
        for k in progress_bar(range(1, b.numel()), enabled=progress, desc="AIS"):
            beta, beta_prev = float(b[k]), float(b[k - 1])
            log_w += (mix(beta_prev, e, e0) - mix(beta, e, e0)).double()
            # one HMC transition leaving exp(−E_β) invariant
            p = torch.randn(shape, generator=generator, dtype=dtype, device=device)
            h_start = mix(beta, e, e0) + 0.5 * p.pow(2).sum(red)
            grad = beta * g + (1 - beta) * g0
            xn, pn = x, p - 0.5 * eps * grad
            for step in range(n_leapfrog):
                xn = xn + eps * pn
                en, e0n, gn, g0n = parts(xn)
                grad = beta * gn + (1 - beta) * g0n
                pn = pn - (eps if step < n_leapfrog - 1 else 0.5 * eps) * grad
            n_grad += n_leapfrog
            h_end = mix(beta, en, e0n) + 0.5 * pn.pow(2).sum(red)
            log_accept = (h_start - h_end).double()
            log_accept = torch.where(torch.isfinite(log_accept), log_accept,
                                     torch.full_like(log_accept, -math.inf))
            u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
            accept = torch.log(u) < log_accept
            acc = accept.double().mean().item()
            acc_sum += acc
            sel = accept.view(n, *([1] * (len(shape) - 1)))
            x = torch.where(sel, xn, x)
            e, e0 = torch.where(accept, en, e), torch.where(accept, e0n, e0)
            g, g0 = torch.where(sel, gn, g), torch.where(sel, g0n, g0)
            if adapt_step_size:
                eps *= 1.02 if acc > target_acceptance else 0.98
    if not bool(torch.isfinite(log_w).all()):
        raise FloatingPointError("AIS log weights became NaN/Inf; lower step_size or use "
                                 "more temperatures")
    log_z0 = 0.5 * dim * math.log(2 * math.pi * var0)
    log_ratio = float(log_mean_exp(log_w))
    w = torch.exp(log_w - log_w.max())
    ess = float(w.sum() ** 2 / w.pow(2).sum())
    se = float(w.std() / (math.sqrt(n) * w.mean())) if n > 1 else float("nan")
    return AISResult(log_z0 + log_ratio, se, log_w, ess, acc_sum / (b.numel() - 1), x,
                     n_grad, eps)


def bits_per_dim(energy: torch.Tensor, log_z: float, dim: int, *, temperature: float = 1.0,
                 n_levels: int | None = 256) -> torch.Tensor:
    """Negative log likelihood in bits per dimension from energies and ``log Z``.

    ``−log p(x) = E(x)/T + log Z``; with ``n_levels`` (256 for 8-bit images scaled to
    [0, 1]) the density is turned into the probability of the pixel bin of width
    ``1/n_levels``, which adds ``log₂ n_levels`` bits per dimension (the usual convention);
    ``n_levels=None`` gives the continuous NLL per dimension in bits.

    Parameters
    ----------
    energy : Tensor, shape (N,)
    log_z : float
        From :func:`ais_log_partition` (same ``temperature``).
    dim : int
        Dimensions of one point (784 for MNIST).

    Returns
    -------
    Tensor, shape (N,)
    """
    check_finite(energy, "energy")
    if not (isinstance(dim, int) and dim >= 1):
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    if not math.isfinite(log_z):
        raise ValueError(f"log_z must be finite, got {log_z}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    nll = energy.double() / temperature + log_z
    out = nll / (dim * math.log(2))
    if n_levels is not None:
        if not (isinstance(n_levels, int) and n_levels >= 2):
            raise ValueError(f"n_levels must be an int >= 2 or None, got {n_levels!r}")
        out = out + math.log2(n_levels)
    return out
