"""Orthogonal convolutions (Wang et al., OCNN, arXiv:1911.12207) and conv spectra, as pure
tensor functions.

A conv layer with kernel ``K ∈ R^{M×C×k×k}`` and stride ``S`` is a linear operator ``𝒦``
(the doubly block-Toeplitz matrix). OCNN asks for ``𝒦𝒦ᵀ = I`` (row orthogonality) or
``𝒦ᵀ𝒦 = I`` (column orthogonality). Away from the boundary, ``𝒦𝒦ᵀ = I`` is equivalent
to (paper eq. 7)::

    Conv(K, K, padding=P, stride=S) = I_r0,      P = ⌊(k − 1)/S⌋ · S

with ``I_r0 ∈ R^{M×M×(2P/S+1)×(2P/S+1)}`` the identity over channels at the centre and zero
elsewhere; for ``S = 1`` column orthogonality is (eq. 11)
``Conv(Kᵀ, Kᵀ, padding=k−1, stride=1) = I_c0`` with ``Kᵀ`` the in/out-transposed kernel.
For ``S > 1`` we reduce to ``S = 1`` exactly with the polyphase kernel (a strided conv is a
stride-1 conv on the space-to-depth input), which gives both forms for any stride.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ortho_padding", "polyphase_kernel", "dilate_kernel", "orth_conv_loss",
           "kernel_orth_loss", "conv_operator_matrix", "conv_singular_values",
           "filter_similarity", "spectrum_stats"]


def _check_weight(weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight)
        raise ValueError(f"weight must be a (C_out, C_in, k_h, k_w) tensor, got {shape}")
    if not weight.is_floating_point():
        raise ValueError(f"weight must be a floating-point tensor, got {weight.dtype}")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _pair(v: int | tuple[int, int], name: str, minimum: int = 1) -> tuple[int, int]:
    out = (v, v) if _is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if out is None or len(out) != 2 or not all(_is_int(o) and o >= minimum for o in out):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return out  # type: ignore[return-value]


def _distance(diff: torch.Tensor, squared: bool) -> torch.Tensor:
    """``‖diff‖²_F`` (paper) or ``‖diff‖_F`` (official ``torch.norm``; ``vector_norm`` has a
    zero gradient at 0 where ``sqrt(sum(x²))`` gives NaN)."""
    if squared:
        return diff.square().sum()
    return torch.linalg.vector_norm(diff.flatten())


def ortho_padding(kernel_size: int, stride: int) -> int:
    """The paper's padding ``P = ⌊(k − 1)/S⌋ · S`` (the official code's fixed P = 1 misses
    overlaps for stride 2 and k ≠ 3)."""
    if not (_is_int(kernel_size) and _is_int(stride)) or kernel_size < 1 or stride < 1:
        raise ValueError(f"kernel_size and stride must be ints >= 1, got {kernel_size!r}, "
                         f"{stride!r}")
    return (kernel_size - 1) // stride * stride


def dilate_kernel(weight: torch.Tensor, dilation: int | tuple[int, int]) -> torch.Tensor:
    """The dense kernel of a dilated conv: ``(M, C, (k_h−1)d_h+1, (k_w−1)d_w+1)`` with the
    taps on the dilation grid and zeros between (``conv(x, K, dilation=d) ==
    conv(x, dilate_kernel(K, d))``), so every loss and spectrum below is exact for dilated
    layers too."""
    _check_weight(weight)
    dh, dw = _pair(dilation, "dilation")
    if (dh, dw) == (1, 1):
        return weight
    m, c, kh, kw = weight.shape
    out = weight.new_zeros(m, c, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
    out[:, :, ::dh, ::dw] = weight
    return out


def polyphase_kernel(weight: torch.Tensor, stride: int | tuple[int, int]) -> torch.Tensor:
    """The stride-1 kernel equivalent to a strided conv on the space-to-depth input.

    ``conv2d(x, K, stride=S) == conv2d(pixel_unshuffle(x), K', stride=1)`` (up to the
    boundary), with ``K'[m, c·S_h·S_w + r_h·S_w + r_w, q_h, q_w] = K[m, c, q_h·S_h + r_h,
    q_w·S_w + r_w]`` (zero where the kernel index passes ``k``).

    Parameters
    ----------
    weight : Tensor, shape (M, C, k_h, k_w)
    stride : int or (int, int)

    Returns
    -------
    Tensor, shape (M, C·S_h·S_w, ⌈k_h/S_h⌉, ⌈k_w/S_w⌉)
    """
    _check_weight(weight)
    sh, sw = _pair(stride, "stride")
    if (sh, sw) == (1, 1):
        return weight
    m, c, kh, kw = weight.shape
    qh, qw = -(-kh // sh), -(-kw // sw)
    padded = F.pad(weight, (0, qw * sw - kw, 0, qh * sh - kh))
    # (M, C, qh, sh, qw, sw) -> (M, C, sh, sw, qh, qw)
    out = padded.reshape(m, c, qh, sh, qw, sw).permute(0, 1, 3, 5, 2, 4)
    return out.reshape(m, c * sh * sw, qh, qw)


def _identity_target(out: torch.Tensor) -> torch.Tensor:
    """Zeros shaped like ``out`` (n, n, h, w) with the identity at the centre (h//2, w//2)."""
    target = torch.zeros_like(out)
    idx = torch.arange(out.shape[0], device=out.device)
    target[idx, idx, out.shape[2] // 2, out.shape[3] // 2] = 1.0
    return target


def orth_conv_loss(weight: torch.Tensor, *, stride: int | tuple[int, int] = 1,
                   dilation: int | tuple[int, int] = 1, form: str = "auto",
                   squared: bool = True) -> torch.Tensor:
    """OCNN orthogonal-convolution loss ``‖Conv(K, K, stride=S, padding=P) − I_r0‖²_F``.

    Parameters
    ----------
    weight : Tensor, shape (M, C, k_h, k_w)
        The conv kernel (for a grouped conv pass one group's slice; for a transposed conv
        its weight as stored, ``(C_in, C_out, k, k)``: the layer is the adjoint of the conv
        with that kernel, and an operator is orthogonal in the achievable sense iff its
        adjoint is).
    stride : int or (int, int)
        The layer's stride ``S``.
    dilation : int or (int, int)
        The layer's dilation; the kernel is expanded with :func:`dilate_kernel` (exact).
    form : {"auto", "row", "column"}
        ``"row"``: ``𝒦𝒦ᵀ = I`` (paper eq. 7, padding ``⌊(k−1)/S⌋·S``). ``"column"``:
        ``𝒦ᵀ𝒦 = I`` (eq. 11 on the polyphase kernel, so any stride). ``"auto"`` picks the
        form with fewer entries, which is the achievable one: row when ``M ≤ C·S_h·S_w``
        (the operator has no more rows than columns), column otherwise. For 1×1 kernels at
        stride 1 both reduce to ``‖KKᵀ − I‖²_F`` / ``‖KᵀK − I‖²_F`` on the ``M×C`` matrix.
    squared : bool
        ``True``: the squared Frobenius distance (the paper's loss). ``False``: the
        unsquared norm, as the official code's ``torch.norm`` (see
        :class:`reprlab.ortho.OrthogonalRegularizer` for the scales).

    Returns
    -------
    Tensor, scalar
        Zero iff the layer is an exact isometry of that kind away from the boundary.

    Examples
    --------
    >>> q, _ = torch.linalg.qr(torch.randn(4, 4))
    >>> delta = torch.zeros(4, 4, 3, 3); delta[:, :, 1, 1] = q
    >>> float(orth_conv_loss(delta)) < 1e-10
    True
    """
    _check_weight(weight)
    sh, sw = _pair(stride, "stride")
    if form not in ("auto", "row", "column"):
        raise ValueError(f"form must be 'auto', 'row' or 'column', got {form!r}")
    if not isinstance(squared, bool):
        raise ValueError(f"squared must be True or False, got {squared!r}")
    weight = dilate_kernel(weight, dilation)
    m, c, kh, kw = weight.shape
    if form == "auto":
        form = "row" if m <= c * sh * sw else "column"
    if kh == kw == 1 and (sh, sw) == (1, 1):
        mat = weight.reshape(m, c)
        gram = mat @ mat.T if form == "row" else mat.T @ mat
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        return _distance(gram - eye, squared)
    if form == "row":
        pad = (ortho_padding(kh, sh), ortho_padding(kw, sw))
        out = F.conv2d(weight, weight, stride=(sh, sw), padding=pad)
    else:
        kp = polyphase_kernel(weight, (sh, sw)).transpose(0, 1)
        out = F.conv2d(kp, kp, padding=(kp.shape[2] - 1, kp.shape[3] - 1))
    return _distance(out - _identity_target(out), squared)


def kernel_orth_loss(weight: torch.Tensor, *, squared: bool = True) -> torch.Tensor:
    """Kernel orthogonality ``‖K̃K̃ᵀ − I‖²_F`` on the ``M × (C·k·k)`` reshaped kernel (Gram
    of the smaller side; the official ``orth_dist``, there unsquared) — necessary but not
    sufficient for an orthogonal conv. Takes any weight with ``ndim >= 2`` (``nn.Linear``:
    the matrix itself)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight)
        raise ValueError(f"weight must be a tensor with >= 2 dims (C_out, C_in, ...), got "
                         f"{shape}")
    if not isinstance(squared, bool):
        raise ValueError(f"squared must be True or False, got {squared!r}")
    mat = weight.reshape(weight.shape[0], -1)
    gram = mat @ mat.T if mat.shape[0] <= mat.shape[1] else mat.T @ mat
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return _distance(gram - eye, squared)


def conv_operator_matrix(weight: torch.Tensor, input_size: int | tuple[int, int], *,
                         stride: int | tuple[int, int] = 1,
                         padding: int | tuple[int, int] = 0,
                         padding_mode: str = "zeros", groups: int = 1,
                         dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """The conv layer as an explicit matrix ``𝒦`` (for small sizes: tests and diagnostics).

    Parameters
    ----------
    weight : Tensor, shape (M, C/groups, k_h, k_w)
    input_size : int or (H, W)
    padding_mode : {"zeros", "circular"}
    groups, dilation : as in ``nn.Conv2d``

    Returns
    -------
    Tensor, shape (M·H'·W', C·H·W)
        Row ``(m, h', w')`` and column ``(c, h, w)`` in C order, so ``𝒦 @ x.flatten() ==
        conv(x).flatten()``.
    """
    _check_weight(weight)
    h, w = _pair(input_size, "input_size")
    ph, pw = _pair(padding, "padding", minimum=0)
    if not _is_int(groups) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"groups must be an int >= 1 dividing C_out={weight.shape[0]}, got "
                         f"{groups!r}")
    c = weight.shape[1] * groups
    basis = torch.eye(c * h * w, dtype=weight.dtype, device=weight.device)
    basis = basis.reshape(c * h * w, c, h, w)
    kw_ = {"stride": stride, "groups": groups, "dilation": dilation}
    if padding_mode == "circular":
        basis = F.pad(basis, (pw, pw, ph, ph), mode="circular")
        out = F.conv2d(basis, weight, **kw_)
    elif padding_mode == "zeros":
        out = F.conv2d(basis, weight, padding=(ph, pw), **kw_)
    else:
        raise ValueError(f"padding_mode must be 'zeros' or 'circular', got {padding_mode!r}")
    return out.reshape(c * h * w, -1).T


def _fold(kernel: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    """Wrap a kernel larger than the ``hp × wp`` period onto it (taps summed modulo the
    period): the circular conv it defines is the same operator."""
    kh, kw = kernel.shape[-2:]
    if kh <= hp and kw <= wp:
        return kernel
    nh, nw = -(-kh // hp), -(-kw // wp)
    padded = F.pad(kernel, (0, nw * wp - kw, 0, nh * hp - kh))
    return padded.reshape(*kernel.shape[:2], nh, hp, nw, wp).sum(dim=(2, 4))


def conv_singular_values(weight: torch.Tensor, input_size: int | tuple[int, int], *,
                         stride: int | tuple[int, int] = 1, groups: int = 1,
                         dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """All singular values of a circularly padded conv layer, exactly (Sedghi et al. 2019).

    With circular padding the operator is block-diagonalised by the 2-D DFT: its singular
    values are the union over frequencies ``(u, v)`` of those of the ``M × C`` matrices
    ``FFT2(K)[:, :, u, v]`` (kernel zero-padded to the input size; a kernel larger than the
    grid is wrapped onto it). Strided layers are first turned into stride-1 layers on the
    ``(H/S_h) × (W/S_w)`` polyphase grid; a grouped conv is block-diagonal over its groups
    (the union of each group's values); dilation expands the kernel.

    Parameters
    ----------
    weight : Tensor, shape (M, C/groups, k_h, k_w)
    input_size : int or (H, W)
        Each side must be divisible by its stride (otherwise the strided circular operator
        is not shift-invariant on a grid; use :func:`conv_operator_matrix`).
    stride : int or (int, int)
    groups : int
    dilation : int or (int, int)

    Returns
    -------
    Tensor, shape (groups·H'·W'·min(M/groups, (C/groups)·S_h·S_w),), sorted descending
    """
    _check_weight(weight)
    h, w = _pair(input_size, "input_size")
    sh, sw = _pair(stride, "stride")
    if not _is_int(groups) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"groups must be an int >= 1 dividing C_out={weight.shape[0]}, got "
                         f"{groups!r}")
    if h % sh or w % sw:
        raise ValueError(f"input_size {(h, w)} must be divisible by stride {(sh, sw)}; use "
                         "conv_operator_matrix for the explicit operator")
    kernel = dilate_kernel(weight.detach(), dilation)
    hp, wp = h // sh, w // sw
    per = weight.shape[0] // groups
    out = []
    for g in range(groups):
        kp = _fold(polyphase_kernel(kernel[g * per:(g + 1) * per], (sh, sw)), hp, wp)
        spec = torch.fft.fft2(kp, s=(hp, wp))  # (M/g, C', hp, wp)
        out.append(torch.linalg.svdvals(spec.permute(2, 3, 0, 1)).flatten())
    return torch.cat(out).sort(descending=True).values


def filter_similarity(weight: torch.Tensor) -> torch.Tensor:
    """Absolute cosine similarity of every pair of filters (the paper's redundancy measure).

    Parameters
    ----------
    weight : Tensor, shape (M, ...)
        A conv kernel ``(M, C, k_h, k_w)`` or a linear weight ``(M, C)``: row ``i`` is
        filter ``i``.

    Returns
    -------
    Tensor, shape (M·(M−1)/2,)
        ``|⟨f_i, f_j⟩| / (‖f_i‖‖f_j‖)`` for ``i < j`` (norms clamped away from zero).
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2 or weight.shape[0] < 2:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight)
        raise ValueError(f"weight must be a tensor (M, ...) with M >= 2 filters, got {shape}")
    mat = weight.detach().reshape(weight.shape[0], -1)
    mat = mat / mat.norm(dim=1, keepdim=True).clamp_min(1e-12)  # guard all-zero filters
    sim = (mat @ mat.T).abs()
    iu = torch.triu_indices(sim.shape[0], sim.shape[0], offset=1)
    return sim[iu[0], iu[1]]


def spectrum_stats(singular_values: torch.Tensor) -> dict[str, float]:
    """Condition number, extremes and relative spread (std/mean) of singular values."""
    if not isinstance(singular_values, torch.Tensor) or singular_values.numel() < 2:
        raise ValueError("singular_values must be a tensor with >= 2 values, got "
                         f"{singular_values!r}")
    sv = singular_values.detach().double()
    if not torch.isfinite(sv).all() or (sv < 0).any():
        raise ValueError("singular_values must be finite and >= 0")
    smax, smin = float(sv.max()), float(sv.min())
    return {"max": smax, "min": smin, "mean": float(sv.mean()),
            "condition_number": smax / smin if smin > 0 else float("inf"),
            "spread": float(sv.std() / sv.mean().clamp_min(1e-300))}
