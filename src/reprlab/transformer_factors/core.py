"""Pure tensor functions of transformer factors (arXiv:2103.15949): normalisation of hidden
states, the layer-importance curve :math:`I_c(l)`, peak kinds and LIME's ridge surrogate."""

from __future__ import annotations

import math

import torch

from reprlab.utils import check_shape

__all__ = ["KINDS", "NORMALIZE_MODES", "normalize_states", "layer_importance", "peak_kinds",
           "lime_weights"]

KINDS = ("word-level", "sentence-level", "long-range")
NORMALIZE_MODES = ("center_unit", "unit", "none")


def normalize_states(x: torch.Tensor, *, mean: torch.Tensor | None = None,
                     mode: str = "center_unit", eps: float = 1e-8) -> torch.Tensor:
    """Normalise hidden states before sparse coding.

    Parameters
    ----------
    x : Tensor, shape (..., d)
        Hidden states (any leading dimensions, e.g. ``(n_layers, n_tokens, d)``).
    mean : Tensor, shape (d,) or broadcastable to ``x`` (e.g. ``(n_layers, 1, d)``), optional
        Per-layer mean to subtract for ``mode="center_unit"``; required then.
    mode : {"center_unit", "unit", "none"}
        ``center_unit``: subtract ``mean`` then scale each vector to unit ℓ2 norm; ``unit``:
        unit norm only; ``none``: unchanged (the official code's raw states).
    eps : float
        Guard against dividing a zero vector.

    Returns
    -------
    Tensor, same shape as ``x``.

    Examples
    --------
    >>> x = torch.tensor([[3.0, 4.0]])
    >>> normalize_states(x, mode="unit")
    tensor([[0.6000, 0.8000]])
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    if mode == "none":
        return x
    if mode == "center_unit":
        if mean is None:
            raise ValueError("mode='center_unit' needs mean=, the per-layer mean of the states")
        x = x - mean
    # a zero vector stays zero instead of becoming NaN
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def layer_importance(top_values: torch.Tensor, *, n: int | None = None) -> torch.Tensor:
    """Importance :math:`I_c(l)` = mean of factor ``c``'s top-``n`` activations at layer ``l``.

    Parameters
    ----------
    top_values : Tensor, shape (n_layers, n_factors, k)
        Each factor's ``k`` largest activations per layer, sorted descending (zeros pad).
    n : int, optional
        How many of them to average (default: all ``k``).

    Returns
    -------
    Tensor, shape (n_factors, n_layers)
    """
    check_shape("top_values", top_values, ndim=3)
    k = top_values.shape[-1]
    n = k if n is None else n
    if not 1 <= n <= k:
        raise ValueError(f"n must be in [1, {k}] (the kept top activations), got {n}")
    return top_values[..., :n].mean(-1).T.contiguous()


def peak_kinds(importance: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Peak layer of each factor's importance curve and its kind.

    The layers are cut in thirds: a peak in the first third is ``word-level`` (polysemy
    disambiguation), in the middle third ``sentence-level`` (patterns), in the last third
    ``long-range`` (the paper's low / mid / high-level factors).

    Parameters
    ----------
    importance : Tensor, shape (n_factors, n_layers)

    Returns
    -------
    peaks : LongTensor, shape (n_factors,)
    kinds : list of str, length n_factors
    """
    check_shape("importance", importance, ndim=2)
    n_layers = importance.shape[1]
    peaks = importance.argmax(dim=1)
    kinds = [KINDS[min(2, int(3 * int(p) // n_layers))] for p in peaks]
    return peaks, kinds


def lime_weights(masks: torch.Tensor, targets: torch.Tensor, *, kernel_width: float = 25.0,
                 alpha: float = 1.0) -> torch.Tensor:
    """LIME's local linear surrogate: per-feature weights of a weighted ridge regression.

    Samples are weighted by LIME's text kernel on the cosine distance (×100) of each mask to
    the all-ones mask, :math:`\\pi = \\sqrt{\\exp(-d^2/w^2)}`, as ``LimeTextExplainer`` and the
    official ``generate_salient_map`` do; the ridge penalty ``alpha`` is sklearn's ``Ridge``
    default used by LIME.

    Parameters
    ----------
    masks : Tensor, shape (n_samples, n_features)
        1 where a token is kept, 0 where it is occluded; row 0 is conventionally all ones.
    targets : Tensor, shape (n_samples,)
        The factor activation for each masked input.

    Returns
    -------
    Tensor, shape (n_features,)
        Weight of each token: how much keeping it raises the factor's activation.
    """
    check_shape("masks", masks, ndim=2)
    check_shape("targets", targets, ndim=1, size={0: masks.shape[0]})
    m = masks.double()
    y = targets.double()
    cos = (m @ torch.ones(m.shape[1], dtype=m.dtype)) / (
        m.norm(dim=1).clamp_min(1e-12) * math.sqrt(m.shape[1]))
    dist = (1.0 - cos) * 100.0
    w = torch.sqrt(torch.exp(-(dist**2) / kernel_width**2))
    # weighted ridge with an unpenalised intercept: centre by the weighted means
    wsum = w.sum()
    mx = (w[:, None] * m).sum(0) / wsum
    my = (w * y).sum() / wsum
    xc, yc = m - mx, y - my
    gram = xc.T @ (w[:, None] * xc) + alpha * torch.eye(m.shape[1], dtype=m.dtype)
    coef = torch.linalg.solve(gram, xc.T @ (w * yc))
    return coef.to(targets.dtype)

