"""A TopK sparse autoencoder with AuxK, the modern baseline for dictionary features (beyond
the papers), compared side by side with non-negative sparse coding on held-out data.

Gao et al. 2024 (*Scaling and evaluating sparse autoencoders*): ``z = TopK(ReLU(W_enc (x −
b_dec) + b_enc))``, ``x̂ = z W_dec + b_dec`` with unit-norm decoder rows; the TopK fixes L0
exactly, so it can be matched to the L0 of sparse coding. **AuxK** (their §A.2): latents that
have not fired for ``dead_steps`` steps are "dead"; the ``k_aux`` largest of their
pre-activations reconstruct the main model's residual ``x − x̂``, and that MSE (scaled by
``aux_coef`` = 1/32, divided by the residual's variance) is added to the loss, which revives
dead latents. :func:`train_topk_sae` trains on the rows you give; score it on other rows
(:func:`evaluate_codes`) — the factor methods split contexts into train and held-out sets.

SAELens interop: :func:`export_saelens` writes a fitted SAE — or a sparse-coding dictionary —
in SAELens's on-disk format (``cfg.json`` + ``sae_weights.safetensors``, architecture
``topk``), loadable with ``sae_lens.SAE.load_from_disk``; :func:`import_saelens` reads such
a folder (ours or one saved by SAELens) back into a :class:`TopKSAE`. Neither needs
``sae_lens`` installed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reprlab.utils import check_shape

__all__ = ["topk_activation", "TopKSAE", "train_topk_sae", "evaluate_codes",
           "export_saelens", "import_saelens", "sae_from_dictionary"]


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
    if not (isinstance(k, int) and 1 <= k <= pre.shape[1]):
        raise ValueError(f"k must be an int in [1, {pre.shape[1]}], got {k!r}")
    vals, idx = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, idx, torch.relu(vals))


class TopKSAE(nn.Module):
    """TopK sparse autoencoder with ``n_latents`` features on ``dim``-dimensional inputs.

    Shape: input (N, dim) → codes (N, n_latents) → reconstruction (N, dim).
    """

    def __init__(self, dim: int, n_latents: int, *, k: int, device: Any = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"dim must be an int >= 1, got {dim!r}")
        if not (isinstance(n_latents, int) and n_latents >= 1):
            raise ValueError(f"n_latents must be an int >= 1, got {n_latents!r}")
        if not (isinstance(k, int) and 1 <= k <= n_latents):
            raise ValueError(f"k must be an int in [1, n_latents={n_latents}], got {k!r}")
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

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.b_dec) @ self.w_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return topk_activation(self.pre_activation(x), k=self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.w_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_latents={self.n_latents}, k={self.k}"


def train_topk_sae(x: torch.Tensor, *, n_latents: int, k: int, epochs: int = 20,
                   batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                   aux_k: int | None = None, aux_coef: float = 1 / 32,
                   dead_steps: int | None = None) -> tuple[TopKSAE, dict[str, float]]:
    """Train a :class:`TopKSAE` on rows ``x`` (N, d) with Adam on the MSE plus AuxK.

    Decoder rows are renormalised to unit norm after each step (and the gradient component
    along them removed), as Gao et al. ``aux_k`` dead latents (default ``min(d // 2,
    n_latents)``; 0 turns AuxK off) reconstruct the residual, weighted by ``aux_coef``; a
    latent is dead after ``dead_steps`` steps without firing (default: one epoch's steps,
    at least 1). The main loss is the MSE normalised by the batch's variance, and the AuxK
    MSE by the residual's, as Gao et al. Returns the model and ``{"seconds", "final_loss",
    "dead_fraction_train"}``.
    """
    check_shape("x", x, ndim=2)
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not aux_coef >= 0:
        raise ValueError(f"aux_coef must be >= 0, got {aux_coef!r}")
    n, d = x.shape
    aux_k = min(d // 2, n_latents) if aux_k is None else aux_k
    if not (isinstance(aux_k, int) and 0 <= aux_k <= n_latents):
        raise ValueError(f"aux_k must be an int in [0, {n_latents}], got {aux_k!r}")
    steps_per_epoch = max(1, -(-n // batch_size))
    dead_steps = steps_per_epoch if dead_steps is None else dead_steps
    if not (isinstance(dead_steps, int) and dead_steps >= 1):
        raise ValueError(f"dead_steps must be an int >= 1, got {dead_steps!r}")
    gen = torch.Generator().manual_seed(seed)
    sae = TopKSAE(d, n_latents, k=k, dtype=x.dtype)
    sae.reset_parameters(generator=gen)
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    since_fired = torch.zeros(n_latents, dtype=torch.long)
    t0 = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            xb = x[perm[s:s + batch_size]]
            pre = sae.pre_activation(xb)
            z = topk_activation(pre, k=sae.k)
            xh = sae.decode(z)
            mse = ((xh - xb) ** 2).sum(1).mean()
            var_x = ((xb - xb.mean(0)) ** 2).sum(1).mean().clamp_min(1e-12)
            loss = mse / var_x  # normalised MSE, as Gao et al. (AuxK term on the same scale)
            fired = (z > 0).any(0)
            since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
            dead = since_fired >= dead_steps
            n_dead = int(dead.sum())
            if aux_k > 0 and n_dead > 0 and aux_coef > 0:
                resid = (xb - xh).detach()
                masked = pre.masked_fill(~dead, -float("inf"))
                za = topk_activation(masked, k=min(aux_k, n_dead))
                za = torch.nan_to_num(za, nan=0.0)
                aux = ((za @ sae.w_dec - resid) ** 2).sum(1).mean()
                scale = ((resid - resid.mean(0)) ** 2).sum(1).mean().clamp_min(1e-12)
                loss = loss + aux_coef * aux / scale
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():  # keep the step tangent to the unit sphere of each row
                w = sae.w_dec
                w.grad -= (w.grad * w).sum(1, keepdim=True) * w
            opt.step()
            with torch.no_grad():
                sae.w_dec /= sae.w_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)
    dead_train = float((since_fired >= dead_steps).double().mean())
    return sae, {"seconds": time.perf_counter() - t0, "final_loss": float(loss.detach()),
                 "dead_fraction_train": dead_train}


def evaluate_codes(x: torch.Tensor, codes: torch.Tensor, x_hat: torch.Tensor
                   ) -> dict[str, float]:
    """FVU, mean L0 and dead fraction of codes/reconstructions of rows ``x`` (held out)."""
    from reprlab.sparse import dead_fraction, fvu, mean_l0

    return {"FVU": float(fvu(x, x_hat)), "L0": float(mean_l0(codes)),
            "dead_fraction": float(dead_fraction(codes))}


def sae_from_dictionary(dictionary: torch.Tensor, *, k: int) -> TopKSAE:
    """A :class:`TopKSAE` whose decoder is a sparse-coding dictionary (K, d) and whose
    encoder is its transpose (matching pursuit's first step): how a dictionary learned by
    :mod:`reprlab.sparse` travels to SAELens. Codes from this encoder are an approximation
    of the FISTA codes, not equal to them."""
    check_shape("dictionary", dictionary, ndim=2)
    kk, d = dictionary.shape
    sae = TopKSAE(d, kk, k=k, dtype=dictionary.dtype)
    with torch.no_grad():
        sae.w_dec.copy_(dictionary)
        sae.w_enc.copy_(dictionary.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def export_saelens(sae: TopKSAE, directory: str | Path, *,
                   metadata: dict[str, Any] | None = None) -> Path:
    """Write ``sae`` in SAELens's on-disk format: ``cfg.json`` (architecture ``topk``,
    ``d_in``, ``d_sae``, ``k``) and ``sae_weights.safetensors`` (``W_enc`` (d, K),
    ``b_enc``, ``W_dec`` (K, d), ``b_dec``), each written atomically."""
    from safetensors.torch import save as st_save

    from reprlab.checkpoint import atomic_write_bytes, atomic_write_text, check_writable_dir

    out = check_writable_dir(directory, "directory")
    tensors = {"W_enc": sae.w_enc.detach().float().contiguous(),
               "b_enc": sae.b_enc.detach().float().contiguous(),
               "W_dec": sae.w_dec.detach().float().contiguous(),
               "b_dec": sae.b_dec.detach().float().contiguous()}
    atomic_write_bytes(out / "sae_weights.safetensors", st_save(tensors))
    cfg = {"architecture": "topk", "d_in": sae.dim, "d_sae": sae.n_latents, "k": sae.k,
           "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "none", "reshape_activations": "none",
           "rescale_acts_by_decoder_norm": False, "metadata": {}}
    atomic_write_text(out / "cfg.json", json.dumps(cfg, indent=2))
    if metadata:  # kept beside, so SAELens's own metadata schema is never violated
        atomic_write_text(out / "reprlab_metadata.json", json.dumps(metadata, indent=2))
    return out


def import_saelens(directory: str | Path) -> TopKSAE:
    """A :class:`TopKSAE` from a SAELens folder (``cfg.json`` + ``sae_weights.safetensors``)
    of a TopK SAE; other architectures raise ``ValueError`` naming the one found."""
    from safetensors.torch import load_file

    d = Path(directory)
    cfg_path, w_path = d / "cfg.json", d / "sae_weights.safetensors"
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: directory={str(d)!r} must be a SAELens "
                                    "SAE folder (cfg.json + sae_weights.safetensors)")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    arch = cfg.get("architecture", "standard")
    if arch != "topk":
        raise ValueError(f"{cfg_path}: architecture {arch!r} is not supported; only 'topk'")
    w = load_file(str(w_path))
    k = int(cfg.get("k") or cfg.get("activation_fn_kwargs", {}).get("k"))
    sae = TopKSAE(int(cfg["d_in"]), int(cfg["d_sae"]), k=k)
    with torch.no_grad():
        sae.w_enc.copy_(w["W_enc"])
        sae.b_enc.copy_(w["b_enc"])
        sae.w_dec.copy_(w["W_dec"])
        sae.b_dec.copy_(w["b_dec"])
    if cfg.get("apply_b_dec_to_input", True) is False:
        raise ValueError(f"{cfg_path}: apply_b_dec_to_input=false is not supported")
    return sae
