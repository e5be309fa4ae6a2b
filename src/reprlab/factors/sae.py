"""A TopK sparse autoencoder, the modern baseline for dictionary features (beyond the papers).

Gao et al. 2024 (*Scaling and evaluating sparse autoencoders*): ``z = TopK(ReLU(W_enc (x −
b_dec) + b_enc))``, ``x̂ = z W_dec + b_dec`` with unit-norm decoder rows; the TopK fixes L0
exactly, so it can be matched to the L0 of non-negative sparse coding. Used by
``reprlab reproduce factors`` to compare FVU, dead fraction and time at matched L0.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from reprlab.utils import check_shape

__all__ = ["topk_activation", "TopKSAE", "train_topk_sae"]


def topk_activation(pre: torch.Tensor, *, k: int) -> torch.Tensor:
    """Keep the ``k`` largest of ``ReLU(pre)`` per row, zero the rest.

    Parameters
    ----------
    pre : Tensor, shape (N, K)
    k : int, keyword-only, 1 ≤ k ≤ K

    Returns
    -------
    Tensor, shape (N, K) with at most ``k`` non-zeros per row.
    """
    check_shape("pre", pre, ndim=2)
    if not 1 <= k <= pre.shape[1]:
        raise ValueError(f"k must be in [1, {pre.shape[1]}], got {k}")
    vals, idx = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, idx, torch.relu(vals))


class TopKSAE(nn.Module):
    """TopK sparse autoencoder with ``n_latents`` features on ``dim``-dimensional inputs.

    Shape: input (N, dim) → codes (N, n_latents) → reconstruction (N, dim).
    """

    def __init__(self, dim: int, n_latents: int, *, k: int, device: Any = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 1 <= k <= n_latents:
            raise ValueError(f"k must be in [1, n_latents={n_latents}], got {k}")
        kw = {"device": device, "dtype": dtype}
        self.dim, self.n_latents, self.k = dim, n_latents, k
        self.w_enc = nn.Parameter(torch.empty(dim, n_latents, **kw))
        self.b_enc = nn.Parameter(torch.empty(n_latents, **kw))
        self.w_dec = nn.Parameter(torch.empty(n_latents, dim, **kw))
        self.b_dec = nn.Parameter(torch.empty(dim, **kw))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm decoder rows, encoder initialised as its transpose (Gao et al.)."""
        with torch.no_grad():
            w = torch.randn(self.n_latents, self.dim, generator=generator)
            w = w / w.norm(dim=1, keepdim=True)
            self.w_dec.copy_(w)
            self.w_enc.copy_(w.T)
            self.b_enc.zero_()
            self.b_dec.zero_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return topk_activation((x - self.b_dec) @ self.w_enc + self.b_enc, k=self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.w_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_latents={self.n_latents}, k={self.k}"


def train_topk_sae(x: torch.Tensor, *, n_latents: int, k: int, epochs: int = 20,
                   batch_size: int = 256, lr: float = 1e-3, seed: int = 0
                   ) -> tuple[TopKSAE, dict[str, float]]:
    """Train a :class:`TopKSAE` on rows ``x`` (N, d) with Adam on the MSE.

    Decoder rows are renormalised to unit norm after each step (and the gradient component
    along them removed), as Gao et al. Returns the model and ``{"seconds", "final_mse"}``.
    """
    check_shape("x", x, ndim=2)
    gen = torch.Generator().manual_seed(seed)
    sae = TopKSAE(x.shape[1], n_latents, k=k)
    sae.reset_parameters(generator=gen)
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    t0 = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for s in range(0, x.shape[0], batch_size):
            xb = x[perm[s:s + batch_size]]
            loss = ((sae(xb) - xb) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():  # keep the step tangent to the unit sphere of each row
                w = sae.w_dec
                w.grad -= (w.grad * w).sum(1, keepdim=True) * w
            opt.step()
            with torch.no_grad():
                sae.w_dec /= sae.w_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return sae, {"seconds": time.perf_counter() - t0, "final_mse": float(loss.detach())}
