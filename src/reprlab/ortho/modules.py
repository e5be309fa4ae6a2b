"""The OCNN regulariser over a model's layers, and per-layer spectrum diagnostics.

:class:`OrthogonalRegularizer` finds its layers *when called* (so layers added, swapped or
RPG-generated after it was built are seen) and unwraps ``DistributedDataParallel``,
``DataParallel`` and ``torch.compile`` wrappers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from reprlab.ortho.functional import (
    conv_operator_matrix,
    conv_singular_values,
    filter_similarity,
    kernel_orth_loss,
    orth_conv_loss,
    spectrum_stats,
)

__all__ = ["OrthogonalRegularizer", "regularized_layers", "conv_layers", "layer_spectra",
           "model_redundancy", "unwrap", "LAYER_SETS"]

LAYER_SETS = ("official", "all")
_REG_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def unwrap(model: nn.Module) -> nn.Module:
    """``model`` without ``DistributedDataParallel``/``DataParallel``/``torch.compile``
    wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod  # torch._dynamo OptimizedModule
        else:
            return model


def conv_layers(model: nn.Module, *, skip_first: bool = False,
                select: Callable[[str, nn.Module], bool] | None = None
                ) -> list[tuple[str, nn.Conv2d]]:
    """``(name, conv)`` for every ``nn.Conv2d`` (RPG-generated ones too), in order."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if select is not None and not callable(select):
        raise ValueError(f"select must be a callable (name, layer) -> bool or None, got "
                         f"{select!r}")
    convs = [(n, m) for n, m in unwrap(model).named_modules() if isinstance(m, nn.Conv2d)]
    if skip_first:
        convs = convs[1:]
    if select is not None:
        convs = [(n, m) for n, m in convs if select(n, m)]
    return convs


def _is_block(m: nn.Module) -> bool:
    """A residual block: a non-container module holding >= 2 convs as direct children
    (torchvision/timm/reprlab BasicBlock and Bottleneck)."""
    if isinstance(m, _CONTAINERS):
        return False
    return sum(isinstance(c, nn.Conv2d) for c in m.children()) >= 2


def _is_1x1(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1)


def _official(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """The official scripts' layer set, generalised: in each residual block the first
    main-path conv with a kernel > 1×1 gets the conv loss and every 1×1 conv (main path and
    shortcut) the kernel loss. ResNet18/34 (``main_orth18/34.py``): each block's ``conv1``
    plus the ``downsample`` 1×1s; ResNet50 (``main_orth50.py``): ``conv2`` plus ``conv1``,
    ``conv3`` and ``downsample``. Convs outside blocks (the stem) are left alone."""
    named = list(model.named_modules())
    blocks = [(n, m) for n, m in named if _is_block(m)]
    out: list[tuple[str, nn.Module, str]] = []
    seen: set[int] = set()
    for bname, block in blocks:
        main = [(f"{bname}.{n}" if bname else n, c) for n, c in block.named_children()
                if isinstance(c, nn.Conv2d)]
        first = next(((n, c) for n, c in main if not _is_1x1(c)), None)
        plan = {id(first[1]): (first[0], first[1], "conv")} if first else {}
        for n, c in block.named_modules(prefix=bname):
            if _is_1x1(c) and id(c) not in plan:
                plan[id(c)] = (n, c, "kernel")
        for key, item in plan.items():
            if key not in seen:
                seen.add(key)
                out.append(item)
    order = {id(m): i for i, (_, m) in enumerate(named)}
    return sorted(out, key=lambda t: order[id(t[1])])


def regularized_layers(model: nn.Module, *, layers: str = "official", kind: str = "conv",
                       skip_first: bool = True,
                       select: Callable[[str, nn.Module], bool] | None = None
                       ) -> list[tuple[str, nn.Module, str]]:
    """``(name, layer, loss)`` with ``loss`` in {"conv", "kernel"}: the layers
    :class:`OrthogonalRegularizer` penalises, found now (see its docstring)."""
    _check_choice("layers", layers, LAYER_SETS)
    _check_choice("kind", kind, ("conv", "kernel"))
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if select is not None and not callable(select):
        raise ValueError(f"select must be a callable (name, layer) -> bool or None, got "
                         f"{select!r}")
    model = unwrap(model)
    if layers == "official":
        plan = _official(model)
        if not plan:
            raise ValueError("layers='official' found no residual blocks (modules holding two "
                             "or more nn.Conv2d as direct children, as in torchvision/timm "
                             "ResNets); pass layers='all' or a select= callable")
    else:
        found = [(n, m) for n, m in model.named_modules() if isinstance(m, _REG_TYPES)]
        if skip_first:
            found = found[1:]
        plan = [(n, m, "kernel" if isinstance(m, nn.Linear) else "conv") for n, m in found]
    if kind == "kernel":
        plan = [(n, m, "kernel") for n, m, _ in plan]
    if select is not None:
        plan = [(n, m, k) for n, m, k in plan if select(n, m)]
    return plan


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _layer_loss(layer: nn.Module, loss: str, squared: bool) -> torch.Tensor:
    w = layer.weight
    groups = getattr(layer, "groups", 1)
    per = w.shape[0] // groups
    parts = [w[g * per:(g + 1) * per] for g in range(groups)] if groups > 1 else [w]
    if loss == "kernel":
        return sum(kernel_orth_loss(p, squared=squared) for p in parts)
    return sum(orth_conv_loss(p, stride=layer.stride, dilation=layer.dilation,
                              squared=squared) for p in parts)


class OrthogonalRegularizer:
    """``λ · Σ_layers L(W_l)``: plug into ``reprlab.train.fit(regularizer=...)`` or add
    ``reg()`` to the loss of any training loop.

    Parameters
    ----------
    model : nn.Module
        Any model (``DistributedDataParallel``, ``DataParallel`` and ``torch.compile``
        wrappers are unwrapped). Its layers are collected on every call.
    weight : float
        ``λ >= 0``. Default 0.1, the official ResNet18/34 value (``-r``), on the official
        loss scale (``squared=False``); see "Scale" below.
    layers : {"official", "all"}
        ``"official"`` (default): the official scripts' set — in each residual block the
        first conv with a kernel > 1×1 gets the orthogonal-convolution loss and every 1×1
        conv (shortcuts; a bottleneck's ``conv1``/``conv3``) the kernel loss; the stem and
        the other convs are not regularised. ``"all"``: every ``nn.Conv2d`` and
        ``nn.ConvTranspose2d`` with the conv loss (1×1 at stride 1 reduces to the matrix
        loss) and every ``nn.Linear`` with the matrix loss, the first of them (the stem)
        left out when ``skip_first``. ``nn.Conv1d``/``nn.Conv3d`` are not regularised.
    kind : {"conv", "kernel"}
        ``"kernel"`` puts the kernel-orthogonality loss (the baseline) on the same layers.
    squared : bool
        ``False`` (default): each layer's loss is the Frobenius norm ``‖D_l‖_F``, as the
        official ``torch.norm``; ``True``: the paper's squared form ``‖D_l‖²_F``.
    skip_first : bool
        With ``layers="all"``: leave out the first layer (the stem), as the official code.
    select : callable, optional
        ``select(name, layer) -> bool`` restricts the layers.

    Scale
    -----
    The official scripts train with ``CE + r · Σ_l ‖D_l‖_F`` (``utils.deconv_orth_dist`` /
    ``orth_dist`` return ``torch.norm``, unsquared) and ``r = 0.1`` for ResNet18/34. With
    ``squared=False`` this regulariser computes exactly that sum, so ``weight=0.1`` *is* the
    official scale (one difference: the official conv loss uses padding 1 for every 3×3
    conv, which at stride 2 evaluates the odd shifts; we use the paper's
    ``P = ⌊(k−1)/S⌋·S``, see :func:`orth_conv_loss`). For the paper's squared form the
    gradient is ``2λ‖D_l‖ ∇‖D_l‖`` against the official ``r ∇‖D_l‖``: the two agree at
    distance ``d`` iff ``λ = r / (2d)``. ``d`` is ≈ 4–20 per layer at initialisation for the
    small ResNet of ``reprlab reproduce ortho`` (Kaiming init) and falls as training
    proceeds, so no fixed ``λ`` matches throughout: the squared form with ``λ = 0.1`` (the
    previous reprlab default) is ``2d`` ≈ 8–40× the official strength at initialisation,
    and ``λ ≈ r/(2·10) = 0.005`` matches it there.

    Calling it (``reg(model)`` or ``reg()``) returns the weighted sum as a scalar tensor; the
    argument is accepted for the ``fit`` signature and must be the same (possibly wrapped)
    model. Grouped convs are regularised per group (the sum of the groups' losses); dilated
    convs through their expanded kernel (exact).

    Examples
    --------
    >>> from reprlab.nets import resnet
    >>> model = resnet((8, 16), (1, 1))
    >>> reg = OrthogonalRegularizer(model)
    >>> [(name, loss) for name, _, loss in reg.layers()]
    [('layer1.0.conv1', 'conv'), ('layer2.0.conv1', 'conv'), ('layer2.0.downsample.0', 'kernel')]
    >>> bool(reg() > 0)
    True
    """

    def __init__(self, model: nn.Module, weight: float = 0.1, *, layers: str = "official",
                 kind: str = "conv", squared: bool = False, skip_first: bool = True,
                 select: Callable[[str, nn.Module], bool] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
                weight >= 0 and math.isfinite(weight)):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        for name, val in (("squared", squared), ("skip_first", skip_first)):
            if not isinstance(val, bool):
                raise ValueError(f"{name} must be True or False, got {val!r}")
        if select is not None and not callable(select):
            raise ValueError(f"select must be a callable (name, layer) -> bool or None, got "
                             f"{select!r}")
        self.model = unwrap(model)
        self.weight = float(weight)
        self.kind = kind
        self.layer_set = layers
        self.squared = squared
        self.skip_first = skip_first
        self.select = select
        if not self.layers():  # validates layers/kind and checks there is something to do
            raise ValueError("the model has no layers to regularise with these settings")

    def layers(self) -> list[tuple[str, nn.Module, str]]:
        """``(name, layer, loss)`` of the layers regularised now."""
        return regularized_layers(self.model, layers=self.layer_set, kind=self.kind,
                                  skip_first=self.skip_first, select=self.select)

    def layer_losses(self) -> dict[str, torch.Tensor]:
        """Unweighted loss of each layer, by qualified name."""
        return {name: _layer_loss(layer, loss, self.squared)
                for name, layer, loss in self.layers()}

    def __call__(self, model: nn.Module | None = None) -> torch.Tensor:
        if model is not None and unwrap(model) is not self.model:
            raise ValueError("OrthogonalRegularizer was built for another model; build one "
                             "per model")
        losses = list(self.layer_losses().values())
        if not losses:
            raise ValueError("the model has no layers to regularise any more (they were "
                             "removed or deselected after the regulariser was built)")
        return self.weight * torch.stack(losses).sum()

    def __repr__(self) -> str:
        return (f"OrthogonalRegularizer(weight={self.weight}, layers={self.layer_set!r}, "
                f"kind={self.kind!r}, squared={self.squared})")


def _padding(layer: nn.Module) -> tuple[int, int]:
    pad = layer.padding
    if isinstance(pad, str):  # "valid" / "same" (stride 1 only in torch)
        if pad == "valid":
            return (0, 0)
        return tuple(d * (k - 1) // 2 for d, k in zip(layer.dilation, layer.kernel_size,
                                                      strict=True))  # type: ignore[return-value]
    return tuple(pad)  # type: ignore[return-value]


def _layer_singular_values(name: str, layer: nn.Module, grid: tuple[int, int],
                           max_explicit: int) -> torch.Tensor:
    """Singular values of ``layer`` as a circular operator on ``grid`` (the conv's input
    grid; for a transposed conv its output grid, where its adjoint conv acts)."""
    w = layer.weight.detach()
    if isinstance(layer, nn.Linear):
        return torch.linalg.svdvals(w).sort(descending=True).values
    (h, wd), (sh, sw) = grid, layer.stride
    if h % sh == 0 and wd % sw == 0:
        return conv_singular_values(w, grid, stride=layer.stride, groups=layer.groups,
                                    dilation=layer.dilation)
    channels = w.shape[1] * layer.groups
    if channels * h * wd > max_explicit:
        raise ValueError(f"layer {name!r}: its {h}×{wd} grid is not divisible by its stride "
                         f"{tuple(layer.stride)}, so the FFT does not apply, and the explicit "
                         f"operator has {channels * h * wd} columns > max_explicit="
                         f"{max_explicit}; use an input size divisible by the strides or "
                         "raise max_explicit")
    mat = conv_operator_matrix(w, grid, stride=layer.stride, padding=_padding(layer),
                               padding_mode="circular", groups=layer.groups,
                               dilation=layer.dilation)
    return torch.linalg.svdvals(mat).sort(descending=True).values


@torch.no_grad()
def layer_spectra(model: nn.Module, input_size: int | tuple[int, int] | torch.Tensor, *,
                  in_channels: int | None = None, skip_first: bool = False,
                  select: Callable[[str, nn.Module], bool] | None = None,
                  max_explicit: int = 4096) -> dict[str, dict[str, Any]]:
    """Exact singular values of each ``Conv2d``/``ConvTranspose2d``/``Linear`` at its own
    input resolution, with circular padding (Sedghi et al. 2019).

    Parameters
    ----------
    model : nn.Module
        Wrappers (DDP, ``torch.compile``) are unwrapped.
    input_size : int, (H, W) or Tensor
        The model's input side(s), or an example input batch (any model). With a size, a
        zero batch ``(1, in_channels, H, W)`` is run.
    in_channels : int, optional
        Input channels for a size; default: the first ``Conv2d``'s ``in_channels``.
    skip_first, select
        Restrict the layers (``select(name, layer) -> bool``).
    max_explicit : int
        A conv whose grid is not divisible by its stride has no FFT form; its explicit
        operator is built when it has at most this many columns, else ``ValueError``.

    Returns
    -------
    dict
        ``{name: {"singular_values", "grid", **spectrum_stats}}``. Each layer's values are
        exact: per group and frequency of the polyphase kernel (strided, grouped, depthwise
        and dilated convs, non-square grids); a transposed conv has the singular values of
        its adjoint conv on its output grid; a linear layer those of its matrix.
    """
    model = unwrap(model)
    if not isinstance(max_explicit, int) or isinstance(max_explicit, bool) or max_explicit < 1:
        raise ValueError(f"max_explicit must be an int >= 1, got {max_explicit!r}")
    if select is not None and not callable(select):
        raise ValueError(f"select must be a callable (name, layer) -> bool or None, got "
                         f"{select!r}")
    if in_channels is not None and (isinstance(in_channels, bool) or
                                    not isinstance(in_channels, int) or in_channels < 1):
        raise ValueError(f"in_channels must be an int >= 1 or None, got {in_channels!r}")
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, _REG_TYPES)]
    if skip_first:
        layers = layers[1:]
    if select is not None:
        layers = [(n, m) for n, m in layers if select(n, m)]
    if not layers:
        raise ValueError("model has no Conv2d/ConvTranspose2d/Linear layer to analyse")
    if isinstance(input_size, torch.Tensor):
        example = input_size
    else:
        if isinstance(input_size, bool) or not (
                isinstance(input_size, int) and input_size >= 1 or
                isinstance(input_size, (tuple, list)) and len(input_size) == 2 and
                all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                    for v in input_size)):
            raise ValueError(f"input_size must be an int >= 1, a pair (H, W) of them or an "
                             f"example input tensor, got {input_size!r}")
        h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if in_channels is None:
            first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
            if first is None:
                raise ValueError("cannot infer the input channels (no Conv2d); pass "
                                 "in_channels= or an example input tensor")
            in_channels = first.in_channels
        ref = next(model.parameters())
        example = torch.zeros(1, in_channels, h, w, dtype=ref.dtype, device=ref.device)
    grids: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, layer in layers:
        def hook(m: nn.Module, inp: Any, out: Any, n: str = name) -> None:
            t = out if isinstance(m, nn.ConvTranspose2d) else inp[0]
            grids[n] = tuple(t.shape[-2:])
        hooks.append(layer.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        for h_ in hooks:
            h_.remove()
        model.train(was_training)
    out = {}
    for name, layer in layers:
        if name not in grids:
            continue  # not reached by this forward
        sv = _layer_singular_values(name, layer, grids[name], max_explicit)
        out[name] = {"singular_values": sv, "grid": grids[name], **spectrum_stats(sv)}
    return out


@torch.no_grad()
def model_redundancy(model: nn.Module, *, skip_first: bool = False,
                     select: Callable[[str, nn.Module], bool] | None = None
                     ) -> dict[str, float]:
    """Mean absolute pairwise filter cosine similarity per conv (lower = less redundant)."""
    return {name: float(filter_similarity(conv.weight).mean())
            for name, conv in conv_layers(model, skip_first=skip_first, select=select)
            if conv.out_channels > 1}
