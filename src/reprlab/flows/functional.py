"""RG-Flow math as pure tensor functions (arXiv:2010.00029, official code hongyehu/RG-Flow).

The RG-Flow of an ``L x L`` image with RG blocks of ``K x K`` pixels has
``n_levels = log2(L / K) + 1`` levels. Level ``h`` applies two bijective layers to ``K x K``
patches whose pixels are spaced ``2**h`` apart (dilation), tiling the ``2**h``-subgrid with
stride ``K * 2**h``:

* the *disentangler* at offset ``0`` mixes neighbouring patches' borders;
* the *decimator* at offset ``K * 2**h / 2`` (periodic boundary) then acts on patches that
  straddle the disentangler's; of its outputs, those on the ``2**(h+1)``-subgrid are passed
  to level ``h + 1`` and the other three quarters are the latents of level ``h``.

The top level's ``K x K`` outputs (the ``L/K``-subgrid) are its latents. This is the index
layout of the official ``mera.py`` (``get_indices`` with offsets ``0`` and
``kernel_size * 2**i // 2``), so a latent of level ``h`` sits at a pixel whose coordinates
are multiples of ``2**h`` but not both multiples of ``2**(h+1)``.

Also here: the dequantisation + logit preprocessing of the official ``logit_transform``
(constraint 0.9), bits per dimension, the Laplace and Gaussian priors (scale chosen so the
variance is ``temperature**2``), the affine coupling, and structural / autograd receptive
fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "check_image_size",
    "check_unit_images",
    "next_power_of_two",
    "pad_to_size",
    "num_levels",
    "block_indices",
    "rg_layout",
    "level_map",
    "gather_blocks",
    "scatter_blocks",
    "checkerboard_mask",
    "affine_coupling",
    "weight_norm_linear",
    "logit_preprocess",
    "logit_postprocess",
    "logit_log_det",
    "prior_log_prob",
    "prior_sample",
    "bits_per_dim",
    "structural_receptive_field",
    "touched_latents",
    "jacobian_columns",
    "hoyer_sparsity",
    "excess_kurtosis",
]

PRIORS = ("laplace", "gaussian")


def check_image_size(size: int, kernel_size: int) -> tuple[bool, str]:
    """Whether an ``size x size`` image can be cut into RG blocks of ``kernel_size``.

    Returns ``(ok, reason)``; both must be powers of two with ``size >= kernel_size >= 2``.
    """
    def pow2(n: int) -> bool:
        return isinstance(n, int) and n >= 1 and (n & (n - 1)) == 0

    if not pow2(kernel_size) or kernel_size < 2:
        return False, f"kernel_size must be a power of two >= 2, got {kernel_size!r}"
    if not pow2(size):
        return False, (f"image side must be a power of two, got {size!r}; pad with "
                       "reprlab.flows.functional.pad_to_size (zeros, centred; 28 -> 32)")
    if size < kernel_size:
        return False, f"image side {size} is smaller than kernel_size {kernel_size}"
    return True, ""


def check_unit_images(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Raise unless ``x`` is a floating tensor of finite values in [0, 1]; return it.

    RG-Flow's preprocessing (``u = (255 x + noise) / 256``, then a logit) assumes 8-bit
    images scaled to [0, 1]: 0..255 or [−1, 1] data would give NaN or silently wrong bits/dim.
    The error names the range found and the fix.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor in [0, 1], got "
                        f"{getattr(x, 'dtype', type(x))}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        hint = (" (looks like 0..255: divide by 255)" if hi > 1.5 else
                " (looks like [-1, 1]: map with (x + 1) / 2)" if lo < -0.5 else "")
        raise ValueError(f"{name} must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}]"
                         f"{hint}")
    return x


def next_power_of_two(n: int) -> int:
    """The smallest power of two ``>= n`` (``n >= 1``)."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return 1 << (n - 1).bit_length()


def pad_to_size(x: torch.Tensor, size: int | None = None, *,
                kernel_size: int = 4) -> torch.Tensor:
    """Zero-pad (B, C, H, W) images to ``size x size`` — the rule for sizes RG-Flow cannot cut.

    ``size`` defaults to the next power of two ``>= max(H, W, kernel_size)``. Padding is
    centred, with the odd pixel at the bottom/right (``top = (size − H) // 2``), with
    zeros — the background of MNIST-like data, as the official ``Pad(2)`` of 28 → 32. Bits
    per dimension of a padded image count the padded pixels too.
    """
    if x.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if size is None:
        size = next_power_of_two(max(h, w, kernel_size))
    _require_size(size, kernel_size)
    if h > size or w > size:
        raise ValueError(f"images of {h}x{w} are larger than size={size}; resize instead")
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(x, (left, size - w - left, top, size - h - top))


def _require_size(size: int, kernel_size: int) -> None:
    ok, reason = check_image_size(size, kernel_size)
    if not ok:
        raise ValueError(reason)


def num_levels(size: int, *, kernel_size: int = 4) -> int:
    """``log2(size / kernel_size) + 1``: the number of RG levels (official ``args.depth / 2``).

    Examples
    --------
    >>> num_levels(32, kernel_size=4)
    4
    """
    _require_size(size, kernel_size)
    return int(round(math.log2(size // kernel_size))) + 1


def block_indices(size: int, *, kernel_size: int, level: int,
                  offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the RG blocks of one layer.

    Parameters
    ----------
    size : int
        Image side ``L``.
    kernel_size : int
        Block side ``K``.
    level : int
        RG level ``h``: dilation ``2**h``, stride ``K * 2**h``.
    offset : int
        Shift of the block grid (periodic boundary).

    Returns
    -------
    (I, J) : LongTensor, each (num_blocks, K*K)
        Pixel ``(I[b, k], J[b, k])`` is the ``k``-th (row-major) pixel of block ``b``.
    """
    _require_size(size, kernel_size)
    dil, stride = 2 ** level, kernel_size * 2 ** level
    n_out = (size - dil * (kernel_size - 1) - 1) // stride + 1
    if n_out < 1:
        raise ValueError(f"level must be < {num_levels(size, kernel_size=kernel_size)} for "
                         f"size {size} and kernel_size {kernel_size}, got {level}")
    k = torch.arange(kernel_size) * dil
    i0 = k.repeat_interleave(kernel_size)          # (K*K,)
    j0 = k.repeat(kernel_size)
    o = torch.arange(n_out) * stride
    i1 = o.repeat_interleave(n_out)                # (nb,)
    j1 = o.repeat(n_out)
    rows = (i1[:, None] + i0[None, :] + offset) % size
    cols = (j1[:, None] + j0[None, :] + offset) % size
    return rows, cols


def rg_layout(size: int, *, kernel_size: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Block indices of all ``2 * n_levels`` layers, in the order the flow applies them.

    Layer ``2h`` is level ``h``'s disentangler (offset 0), layer ``2h + 1`` its decimator
    (offset ``K * 2**h // 2``), as in the official ``mera_indices``.
    """
    layout = []
    for h in range(num_levels(size, kernel_size=kernel_size)):
        layout.append(block_indices(size, kernel_size=kernel_size, level=h, offset=0))
        layout.append(block_indices(size, kernel_size=kernel_size, level=h,
                                    offset=kernel_size * 2 ** h // 2))
    return layout


def level_map(size: int, *, kernel_size: int = 4) -> torch.Tensor:
    """The RG level of the latent at every pixel position, (size, size) int64.

    A position belongs to level ``h`` when its coordinates are multiples of ``2**h`` but not
    both multiples of ``2**(h+1)``; the ``L/K``-subgrid belongs to the top level.

    Examples
    --------
    >>> level_map(8, kernel_size=4)[::2, ::2].min().item()
    1
    """
    n = num_levels(size, kernel_size=kernel_size)
    out = torch.zeros(size, size, dtype=torch.long)
    for h in range(1, n):
        out[:: 2 ** h, :: 2 ** h] = h
    return out


def gather_blocks(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Cut ``x`` (B, C, L, L) into blocks (B * num_blocks, C, K, K)."""
    b, c = x.shape[:2]
    nb, kk = rows.shape
    k = int(round(math.sqrt(kk)))
    blocks = x[:, :, rows, cols]                   # (B, C, nb, K*K)
    return blocks.permute(0, 2, 1, 3).reshape(b * nb, c, k, k)


def scatter_blocks(x: torch.Tensor, blocks: torch.Tensor, rows: torch.Tensor,
                   cols: torch.Tensor) -> torch.Tensor:
    """Write ``blocks`` (B * num_blocks, C, K, K) back into a copy of ``x`` (B, C, L, L)."""
    b, c = x.shape[:2]
    nb, kk = rows.shape
    out = x.clone()
    out[:, :, rows, cols] = blocks.reshape(b, nb, c, kk).permute(0, 2, 1, 3)
    return out


def checkerboard_mask(channels: int, kernel_size: int, *, parity: int = 0,
                      dtype: torch.dtype | None = None) -> torch.Tensor:
    """Checkerboard mask (C, K, K) of the official RNVP: ones where ``(i + j) % 2 == parity``."""
    i = torch.arange(kernel_size)
    m = ((i[:, None] + i[None, :]) % 2 == parity).to(dtype or torch.get_default_dtype())
    return m.expand(channels, kernel_size, kernel_size).clone()


def affine_coupling(x: torch.Tensor, s_net: Callable[[torch.Tensor], torch.Tensor],
                    t_net: Callable[[torch.Tensor], torch.Tensor], *, mask: torch.Tensor,
                    inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Real NVP affine coupling: ``y = m x + (1 - m) (x exp(s(m x)) + t(m x))``.

    Parameters
    ----------
    x : Tensor (N, ...)
    s_net, t_net : callables mapping ``m * x`` to a tensor of ``x``'s shape
    mask : Tensor broadcastable to ``x``; 1 marks the conditioning half
    inverse : bool
        Apply ``x = m y + (1 - m) (y - t) exp(-s)`` instead.

    Returns
    -------
    y : Tensor, shape of ``x``
    log_det : Tensor (N,)
        ``log |det dy/dx|`` (negative of the forward one when ``inverse``).
    """
    inv = 1 - mask
    xm = x * mask
    s = inv * s_net(xm)
    t = inv * t_net(xm)
    if inverse:
        y = xm + inv * (x - t) * torch.exp(-s)
        return y, -s.flatten(1).sum(1)
    y = xm + inv * (x * torch.exp(s) + t)
    return y, s.flatten(1).sum(1)


def weight_norm_linear(x: torch.Tensor, direction: torch.Tensor, gain: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    """Weight-normalised linear map ``x (g v / ||v||)^T + b`` (Salimans & Kingma 2016).

    Numerical guard: ``||v||`` is clamped at 1e-12 so an all-zero ``v`` gives a zero map
    instead of NaN (a block with zero weights is then the identity).
    """
    norm = direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return F.linear(x, direction * (gain[:, None] / norm), bias)


def logit_preprocess(x: torch.Tensor, *, dequantize: bool = True, constraint: float = 0.9,
                     generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels in [0, 1] -> logit space, with the log-det of the map (official ``logit_transform``).

    ``u = (255 x + noise) / 256`` with ``noise ~ U[0, 1)`` (uniform dequantisation; 0.5 when
    ``dequantize=False``), ``p = 0.5 + constraint (u - 0.5)`` in ``[0.05, 0.95]``,
    ``y = log p - log(1 - p)``.

    Returns
    -------
    y : Tensor, shape of ``x``
    log_det : Tensor (B,)
        ``sum log |dy/du|`` over all dimensions, so that
        ``log p(u) = log p(y) + log_det`` for the density of ``u`` on ``[0, 1]^D``.
    """
    if not (0.0 < constraint < 1.0):
        raise ValueError(f"constraint must be in (0, 1), got {constraint}")
    check_unit_images(x, "images")
    if dequantize:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    else:
        noise = torch.full_like(x, 0.5)
    u = (x * 255.0 + noise) / 256.0
    p = 0.5 + constraint * (u - 0.5)
    y = torch.log(p) - torch.log1p(-p)
    return y, logit_log_det(y, constraint=constraint)


def logit_log_det(y: torch.Tensor, *, constraint: float = 0.9) -> torch.Tensor:
    """``sum log |dy/du|`` of the logit preprocessing at logit-space ``y`` (B, ...) -> (B,).

    ``dy/du = constraint / (p (1 - p))`` with ``p = sigmoid(y)``; written with softplus
    (``-log p(1-p) = softplus(y) + softplus(-y)``) so it stays finite for large ``|y|``.
    """
    log_det = F.softplus(y) + F.softplus(-y) + math.log(constraint)
    return log_det.flatten(1).sum(1)


def logit_postprocess(y: torch.Tensor, *, constraint: float = 0.9) -> torch.Tensor:
    """Inverse of :func:`logit_preprocess` (without the noise): logit space -> [0, 1]."""
    p = torch.sigmoid(y)
    return ((p - 0.5) / constraint + 0.5).clamp(0.0, 1.0)


def _prior_scale(prior: str, temperature: float) -> float:
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # Laplace scale T / sqrt(2) has variance T^2, as the official get_prior
    return temperature / math.sqrt(2.0) if prior == "laplace" else temperature


def prior_log_prob(z: torch.Tensor, *, prior: str = "laplace",
                   temperature: float = 1.0) -> torch.Tensor:
    """Factorised prior log-density summed over all but the batch dim, (B,).

    ``laplace``: ``-|z| / b - log 2b`` with ``b = T / sqrt 2``; ``gaussian``:
    ``-z^2 / 2T^2 - log T - log(2 pi) / 2``.
    """
    b = _prior_scale(prior, temperature)
    if prior == "laplace":
        lp = -z.abs() / b - math.log(2 * b)
    else:
        lp = -0.5 * (z / b) ** 2 - math.log(b) - 0.5 * math.log(2 * math.pi)
    return lp.flatten(1).sum(1)


def prior_sample(shape: tuple[int, ...], *, prior: str = "laplace", temperature: float = 1.0,
                 generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Draw from the factorised prior at ``temperature`` (standard deviation ``T``)."""
    b = _prior_scale(prior, temperature)
    if prior == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype) * b
    # inverse CDF; u in (-1, 1) away from the ends so log1p(-|u|) stays finite
    eps = torch.finfo(dtype or torch.get_default_dtype()).eps
    u = torch.rand(shape, generator=generator, dtype=dtype) * (2 - 2 * eps) - (1 - eps)
    return -b * u.sign() * torch.log1p(-u.abs())


def bits_per_dim(log_prob_y: torch.Tensor, log_det_logit: torch.Tensor, *,
                 num_dims: int) -> torch.Tensor:
    """Bits per dimension of 8-bit data, (B,), as the official ``main.py``.

    ``bpd = (-(log p(y) + log_det) / D + log 256) / log 2``: the density of the dequantised
    ``u in [0, 1]^D`` is turned into a discrete likelihood on ``{0..255}^D``.
    """
    nats = -(log_prob_y + log_det_logit) / num_dims
    return (nats + math.log(256.0)) / math.log(2.0)


def structural_receptive_field(layout: list[tuple[torch.Tensor, torch.Tensor]], size: int,
                               seeds: torch.Tensor, *, inverse: bool = True) -> torch.Tensor:
    """Positions reachable from ``seeds`` through the blocks of ``layout``, (size, size) bool.

    With ``inverse=True`` the layers are walked from the last to the first (latent -> pixels):
    from a latent's position this is the support its Jacobian column can have. With
    ``inverse=False`` (pixels -> latents) it gives every latent a pixel set can influence.
    Any block that holds a marked position marks all its positions.
    """
    mark = seeds.clone().bool()
    order = reversed(layout) if inverse else layout
    for rows, cols in order:
        hit = mark[rows, cols].any(dim=1)          # (nb,)
        if hit.any():
            mark[rows[hit], cols[hit]] = True
    return mark


def touched_latents(layout: list[tuple[torch.Tensor, torch.Tensor]], size: int,
                    mask: torch.Tensor) -> torch.Tensor:
    """Latent positions whose receptive field meets ``mask`` (size, size) bool.

    These are the only latents that change when the masked pixels change, so inpainting needs
    only them (the paper's ``O(log L)`` count for a fixed-size hole).
    """
    return structural_receptive_field(layout, size, mask, inverse=False)


def jacobian_columns(decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                     positions: list[tuple[int, int, int]]) -> torch.Tensor:
    """``d decode(z) / d z[c, i, j]`` for each ``(c, i, j)`` in ``positions``, (P, C, L, L).

    ``z`` is one latent (C, L, L). One forward-mode product per position, batched: copy ``z``
    ``P`` times and push the ``p``-th basis vector through the ``p``-th copy.
    """
    zs = z.detach().unsqueeze(0).repeat(len(positions), 1, 1, 1)
    tangent = torch.zeros_like(zs)
    for p, (c, i, j) in enumerate(positions):
        tangent[p, c, i, j] = 1.0
    _, cols = torch.autograd.functional.jvp(decode, zs, tangent)
    return cols


def hoyer_sparsity(z: torch.Tensor) -> torch.Tensor:
    """Hoyer sparsity of each row of ``z`` (B, D): ``(sqrt D - |z|_1/|z|_2) / (sqrt D - 1)``.

    0 for a constant-magnitude vector, 1 for a one-hot one; about 0.20 for i.i.d. Gaussian and
    0.29 for i.i.d. Laplace entries.
    """
    z = z.flatten(1)
    d = z.shape[1]
    ratio = z.abs().sum(1) / z.norm(dim=1).clamp_min(1e-12)
    return (math.sqrt(d) - ratio) / (math.sqrt(d) - 1)


def excess_kurtosis(z: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Excess kurtosis along ``dim``: 0 for a Gaussian, 3 for a Laplace distribution."""
    c = z - z.mean(dim, keepdim=True)
    var = c.pow(2).mean(dim).clamp_min(1e-12)
    return c.pow(4).mean(dim) / var.pow(2) - 3.0
