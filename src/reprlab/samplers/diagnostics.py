"""Chain diagnostics through ArviZ: bulk/tail ESS, split-R̂, ESS per second and per gradient.

Draws are given as a tensor ``(n_draws, n_chains, ...)`` (the layout of
:func:`reprlab.samplers.sample_chain`); ArviZ wants ``(chain, draw, ...)`` and we transpose.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

__all__ = ["ess", "rhat", "summarize"]


def _to_arviz(draws: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = draws.detach().cpu().double().numpy() if isinstance(draws, torch.Tensor) else draws
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"draws must have shape (n_draws, n_chains, ...), got {arr.shape}")
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    return np.swapaxes(arr, 0, 1)  # (chain, draw, dim)


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz

    return arviz


def ess(draws: torch.Tensor | np.ndarray, *, method: str = "bulk") -> np.ndarray:
    """Effective sample size per coordinate (``method`` = ``"bulk"`` or ``"tail"``, ArviZ).

    Returns an array ``(d,)`` over the flattened event dimensions.
    """
    if method not in ("bulk", "tail", "mean"):
        raise ValueError(f"method must be 'bulk', 'tail' or 'mean', got {method!r}")
    az = _arviz()
    arr = _to_arviz(draws)
    # one call over all coordinates (ArviZ vectorises over the variable's dimensions)
    return np.asarray(az.ess(az.convert_to_dataset(arr), method=method)["x"].values,
                      dtype=np.float64).reshape(-1)


def rhat(draws: torch.Tensor | np.ndarray) -> np.ndarray:
    """Rank-normalised split-R̂ per coordinate (ArviZ), array ``(d,)``."""
    az = _arviz()
    arr = _to_arviz(draws)
    return np.asarray(az.rhat(az.convert_to_dataset(arr), method="rank")["x"].values,
                      dtype=np.float64).reshape(-1)


def summarize(
    draws: torch.Tensor | np.ndarray,
    *,
    n_grad_evals: float | torch.Tensor | np.ndarray | None = None,
    seconds: float | None = None,
    tail: bool = True,
) -> dict[str, Any]:
    """Minimum bulk/tail ESS over coordinates, max split-R̂, and efficiency.

    ``n_grad_evals`` is the number of gradient evaluations per chain spent producing the
    draws: one number shared by every chain, or one per chain ``(n_chains,)`` (NUTS and
    jittered HMC spend different numbers per chain). ESS per gradient evaluation is
    ``min ESS / (gradient evaluations summed over chains)`` (ESS is summed over chains by
    ArviZ). ``seconds`` is the wall time of the sampling run.
    """
    bulk = ess(draws, method="bulk")
    n_chains = draws.shape[1]
    out: dict[str, Any] = {
        "min_ess_bulk": float(bulk.min()),
        "min_ess_tail": float(ess(draws, method="tail").min()) if tail else float("nan"),
        "max_rhat": float(rhat(draws).max()),
        "n_draws": int(draws.shape[0]),
        "n_chains": int(n_chains),
    }
    if n_grad_evals is not None:
        counts = np.asarray(n_grad_evals.detach().cpu() if isinstance(n_grad_evals, torch.Tensor)
                            else n_grad_evals, dtype=np.float64)
        if counts.ndim == 0:
            total = n_chains * float(counts)
        elif counts.shape == (n_chains,):
            total = float(counts.sum())
        else:
            raise ValueError(f"n_grad_evals must be a number or have shape ({n_chains},), "
                             f"got shape {counts.shape}")
        out["n_grad_evals"] = total
        out["ess_per_grad"] = out["min_ess_bulk"] / max(total, 1)
    if seconds is not None:
        out["ess_per_second"] = out["min_ess_bulk"] / max(seconds, 1e-12)
    return out
