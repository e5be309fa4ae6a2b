"""Orthogonality regulariser over a model's convs, and per-layer spectrum diagnostics."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from reprlab.ortho.functional import (
    conv_singular_values,
    filter_similarity,
    kernel_orth_loss,
    orth_conv_loss,
    spectrum_stats,
)

__all__ = ["OrthogonalRegularizer", "conv_layers", "layer_spectra", "model_redundancy"]


def conv_layers(model: nn.Module, *, skip_first: bool = False,
                select: Callable[[str, nn.Conv2d], bool] | None = None
                ) -> list[tuple[str, nn.Conv2d]]:
    """``(name, conv)`` for every ``nn.Conv2d`` (including RPG-generated ones), in order."""
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if skip_first:
        convs = convs[1:]
    if select is not None:
        convs = [(n, m) for n, m in convs if select(n, m)]
    return convs


def _group_loss(conv: nn.Conv2d, loss_fn: Callable[..., torch.Tensor]) -> torch.Tensor:
    w = conv.weight
    if conv.groups == 1:
        return loss_fn(w)
    per = w.shape[0] // conv.groups
    return sum(loss_fn(w[g * per:(g + 1) * per]) for g in range(conv.groups))


class OrthogonalRegularizer:
    """``λ · Σ_layers L_orth(K_l)``: plug into ``reprlab.train.fit(regularizer=...)``.

    Parameters
    ----------
    model : nn.Module
        Any model; its ``nn.Conv2d`` layers (RPG-generated ones too) are regularised.
    weight : float
        ``λ`` (0.01–0.5 in the paper; 0.1 in the official ResNet18 ImageNet script).
    kind : {"conv", "kernel"}
        ``"conv"``: OCNN orthogonal convolution (:func:`orth_conv_loss` with each layer's
        stride). ``"kernel"``: the kernel-orthogonality baseline (:func:`kernel_orth_loss`).
    skip_first : bool
        Leave out the first conv (the stem), as the official scripts do.
    select : callable, optional
        ``select(name, conv) -> bool`` restricts the layers.

    Calling it (``reg(model)`` or ``reg()``) returns the weighted sum as a scalar tensor; the
    argument is accepted for the ``fit`` signature and must be the same model.
    Dilated convs are regularised as if undilated (exact at stride 1).
    """

    def __init__(self, model: nn.Module, weight: float = 0.1, *, kind: str = "conv",
                 skip_first: bool = True,
                 select: Callable[[str, nn.Conv2d], bool] | None = None) -> None:
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if kind not in ("conv", "kernel"):
            raise ValueError(f"kind must be 'conv' or 'kernel', got {kind!r}")
        self.model = model
        self.weight = float(weight)
        self.kind = kind
        self.layers = conv_layers(model, skip_first=skip_first, select=select)
        if not self.layers:
            raise ValueError("model has no nn.Conv2d layers to regularise")

    def layer_losses(self) -> dict[str, torch.Tensor]:
        """Unweighted loss of each layer, by qualified name."""
        out = {}
        for name, conv in self.layers:
            if self.kind == "kernel":
                out[name] = _group_loss(conv, kernel_orth_loss)
            else:
                out[name] = _group_loss(
                    conv, lambda w, c=conv: orth_conv_loss(w, stride=c.stride))
        return out

    def __call__(self, model: nn.Module | None = None) -> torch.Tensor:
        if model is not None and model is not self.model:
            raise ValueError("OrthogonalRegularizer was built for another model; build one "
                             "per model")
        return self.weight * torch.stack(list(self.layer_losses().values())).sum()

    def __repr__(self) -> str:
        return (f"OrthogonalRegularizer(weight={self.weight}, kind={self.kind!r}, "
                f"layers={len(self.layers)})")


@torch.no_grad()
def layer_spectra(model: nn.Module, input_size: int, *, skip_first: bool = False
                  ) -> dict[str, dict[str, float | torch.Tensor]]:
    """Exact singular values (circular padding) of each conv at its input resolution.

    ``input_size`` is the model's input side; each layer's own input side is found with a
    forward hook on a zero batch. Returns ``{name: {"singular_values", **spectrum_stats}}``.
    """
    sizes: dict[str, int] = {}
    hooks = []
    layers = conv_layers(model, skip_first=skip_first)
    for name, conv in layers:
        hooks.append(conv.register_forward_hook(
            lambda m, inp, out, n=name: sizes.__setitem__(n, inp[0].shape[-1])))
    first = layers[0][1] if layers else None
    was_training = model.training
    model.eval()
    try:
        if first is not None:
            ref = next(model.parameters())
            in_ch = conv_layers(model)[0][1].in_channels
            model(torch.zeros(1, in_ch, input_size, input_size, dtype=ref.dtype,
                              device=ref.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for name, conv in layers:
        n = sizes[name]
        s = conv.stride[0]
        n = n - n % s
        sv = conv_singular_values(conv.weight, n, stride=conv.stride)
        out[name] = {"singular_values": sv, **spectrum_stats(sv)}
    return out


@torch.no_grad()
def model_redundancy(model: nn.Module, *, skip_first: bool = False) -> dict[str, float]:
    """Mean absolute pairwise filter cosine similarity per conv (lower = less redundant)."""
    return {name: float(filter_similarity(conv.weight).mean())
            for name, conv in conv_layers(model, skip_first=skip_first)
            if conv.out_channels > 1}
