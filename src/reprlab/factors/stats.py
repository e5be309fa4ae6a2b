"""Controls and permutation tests shared by the factor claims.

Every qualitative factor claim is measured the same way three times: on the learned
dictionary with real contexts, on a **random dictionary** of the same size (unit Gaussian
atoms, :func:`random_dictionary`) and on the learned dictionary with **shuffled contexts**
(the control each method defines). It passes only when the real measurement beats the best
control by a margin fixed in its :class:`~reprlab.claims.ClaimSpec` before the run, and a
one-sided permutation test (:func:`paired_permutation_p`, :func:`two_sample_permutation_p`)
says the difference is not chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["random_dictionary", "paired_permutation_p", "two_sample_permutation_p"]


def random_dictionary(n_factors: int, dim: int, *, seed: int = 0) -> torch.Tensor:
    """The random-dictionary control: ``n_factors`` unit-norm Gaussian atoms (K, d)."""
    if not (isinstance(n_factors, int) and n_factors >= 1):
        raise ValueError(f"n_factors must be an int >= 1, got {n_factors!r}")
    if not (isinstance(dim, int) and dim >= 1):
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    g = torch.Generator().manual_seed(int(seed))
    d = torch.randn(n_factors, dim, generator=g)
    return d / d.norm(dim=1, keepdim=True)


def _clean(values: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"{name} is empty; a permutation test needs at least one value")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


def paired_permutation_p(diffs: Sequence[float], *, n_perm: int = 10_000, seed: int = 0
                         ) -> float:
    """One-sided sign-flip test of ``mean(diffs) > 0`` (paired differences, e.g. per word:
    real − control). Returns the p-value, (1 + #{flips ≥ observed}) / (1 + n_perm)."""
    d = _clean(diffs, "diffs")
    if not (isinstance(n_perm, int) and n_perm >= 1):
        raise ValueError(f"n_perm must be an int >= 1, got {n_perm!r}")
    rng = np.random.default_rng(seed)
    obs = d.mean()
    signs = rng.choice((-1.0, 1.0), size=(n_perm, d.size))
    null = (signs * d).mean(1)
    return float((1 + np.sum(null >= obs - 1e-12)) / (1 + n_perm))


def two_sample_permutation_p(a: Sequence[float], b: Sequence[float], *, n_perm: int = 10_000,
                             seed: int = 0) -> float:
    """One-sided permutation test of ``mean(a) > mean(b)`` (labels shuffled between the two
    samples). Returns the p-value."""
    x, y = _clean(a, "a"), _clean(b, "b")
    if not (isinstance(n_perm, int) and n_perm >= 1):
        raise ValueError(f"n_perm must be an int >= 1, got {n_perm!r}")
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([x, y])
    obs = x.mean() - y.mean()
    count = 0
    for _ in range(n_perm):
        p = rng.permutation(pooled)
        count += (p[:x.size].mean() - p[x.size:].mean()) >= obs - 1e-12
    return float((1 + count) / (1 + n_perm))
