"""Inpainting by maximum likelihood, local to the hole for an RG-Flow (O(log L) per step).

The missing pixels (logit space) are the free variables; the known pixels stay fixed; the
objective is ``log p(u)`` of the image in ``[0, 1]^D`` — the flow's ``log p(y)`` plus the
logit map's log-det. With an RG-Flow a missing pixel only reaches the blocks on its forward
path, so only the latents whose receptive fields meet the hole can change and only those
blocks depend on the free variables. :func:`local_plan` finds them (layer by layer, the
blocks holding a position already reached) and caches, once, the values every other position
has at each layer's input; :func:`local_log_prob` then recomputes only the reached blocks:
``O(#reached blocks)`` work per step, ``O(log L)`` for a fixed hole (the paper's claim),
against ``O(L²)`` for the whole flow. Both give the same objective up to a constant (the
unreached blocks' log-dets and latents' prior terms) and the same gradients, so the two paths
(``inpaint(..., local=True | False)``) take the same Adam steps (tested).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from reprlab.flows import functional as RF
from reprlab.flows.modules import RGFlow

__all__ = ["LocalLayer", "LocalPlan", "local_plan", "local_log_prob", "check_mask",
           "inpaint", "step_seconds", "scaling_benchmark"]


class LocalLayer(NamedTuple):
    """One layer of a :class:`LocalPlan`: ``block`` is the index into ``flow.blocks``;
    ``index`` (h, K²) the plan slots of the reached blocks' pixels; ``reached`` (h, K²) bool,
    whether a pixel was reached before this layer (then its value comes from the running
    slots, else from ``const``, the cached layer input, (B, C, h, K²))."""

    block: int
    index: torch.Tensor
    reached: torch.Tensor
    const: torch.Tensor


class LocalPlan(NamedTuple):
    """What :func:`local_log_prob` needs: ``positions`` (m,) flat pixel indices of every
    position the hole reaches (= the latents that can move), ``hole`` (n,) the slots of the
    missing pixels among them, ``start`` (B, C, m) the layer-0 values there, and the layers."""

    positions: torch.Tensor
    hole: torch.Tensor
    start: torch.Tensor
    layers: tuple[LocalLayer, ...]

    @property
    def n_blocks(self) -> int:
        """Blocks recomputed per evaluation (summed over layers)."""
        return sum(int(layer.index.shape[0]) for layer in self.layers)


def check_mask(mask: Any, size: int) -> torch.Tensor:
    """``mask`` as an (L, L) bool tensor with at least one missing and one known pixel."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = missing), got "
                        f"{getattr(mask, 'dtype', type(mask))}")
    if tuple(mask.shape) != (size, size):
        raise ValueError(f"mask must have shape ({size}, {size}), got {tuple(mask.shape)}")
    n = int(mask.sum())
    if n == mask.numel():
        raise ValueError("mask is all True: no known pixel is left to condition on; mark only "
                         "the missing pixels (or sample from the flow instead)")
    if n == 0:
        raise ValueError("mask is all False: there is no missing pixel to inpaint")
    return mask


@torch.no_grad()
def local_plan(flow: RGFlow, y: torch.Tensor, mask: torch.Tensor) -> LocalPlan:
    """The blocks a hole reaches and the cached values around them, for logit images ``y``.

    One full forward pass of ``y`` (B, C, L, L) caches each layer's input at the reached
    blocks' unreached pixels (their values never depend on the hole). ``y``'s values at the
    hole are only the start; :func:`local_log_prob` overwrites them.
    """
    size = flow.image_size
    check_mask(mask, size)
    flat = torch.arange(size * size).view(size, size)
    final = RF.touched_latents(flow.layout, size, mask)
    positions = flat[final]  # sorted flat indices
    slot = torch.full((size * size,), -1, dtype=torch.long)
    slot[positions] = torch.arange(positions.numel())
    reached = mask.clone()
    layers = []
    h = y
    for i, (block, (rows, cols)) in enumerate(zip(flow.blocks, flow.layout, strict=True)):
        hit = reached[rows, cols].any(dim=1)
        r, c = rows[hit], cols[hit]  # (h, K²)
        const = h[:, :, r, c]  # (B, C, h, K²): this layer's input at the reached blocks
        layers.append(LocalLayer(i, slot[flat[r, c]], reached[r, c].clone(), const))
        reached[r, c] = True
        patches, _ = block(RF.gather_blocks(h, rows, cols))
        h = RF.scatter_blocks(h, patches, rows, cols)
    hole = slot[flat[mask]]
    return LocalPlan(positions, hole, y.flatten(2)[:, :, positions].clone(), tuple(layers))


def local_log_prob(flow: RGFlow, plan: LocalPlan, free: torch.Tensor) -> torch.Tensor:
    """The part of ``log p(u)`` (B,) that depends on the missing pixels' logits ``free``
    (B, C, n): prior of the reachable latents + log-dets of the reached blocks + the logit
    map's log-det at the hole. The rest of ``log p(u)`` is a constant of the plan."""
    v = plan.start.index_copy(2, plan.hole, free)
    b, c = v.shape[:2]
    k = flow.kernel_size
    ld = v.new_zeros(b)
    for layer in plan.layers:
        nb = layer.index.shape[0]
        inp = torch.where(layer.reached, v[:, :, layer.index], layer.const)  # (B, C, h, K²)
        patches = inp.permute(0, 2, 1, 3).reshape(b * nb, c, k, k)
        out, d = flow.blocks[layer.block](patches)
        ld = ld + d.view(b, nb).sum(1)
        out = out.reshape(b, nb, c, k * k).permute(0, 2, 1, 3).reshape(b, c, nb * k * k)
        v = v.index_copy(2, layer.index.reshape(-1), out)
    prior = RF.prior_log_prob(v, prior=flow.prior)
    return prior + ld + RF.logit_log_det(free, constraint=flow.constraint)


def _start(images: torch.Tensor, mask: torch.Tensor, constraint: float) -> torch.Tensor:
    """The free variables at their start: the logit of the known pixels' mean, (B, C, n)."""
    fill = images[:, :, ~mask].mean()
    y_fill, _ = RF.logit_preprocess(torch.full_like(images, float(fill)), dequantize=False,
                                    constraint=constraint)
    return y_fill[:, :, mask].clone().requires_grad_(True)


def _objective(model: nn.Module, y0: torch.Tensor, free: torch.Tensor, mask: torch.Tensor,
               local: bool):
    """``log p(u)`` (B,) as a function of ``free``, up to a constant when ``local``."""
    constraint = getattr(model, "constraint", 0.9)
    if local and not isinstance(model, RGFlow):
        raise TypeError(f"local inpainting needs an RGFlow (its block layout), got "
                        f"{type(model).__name__}; pass local=False to run the whole flow")
    if local:
        start = y0.clone()
        start[:, :, mask] = free.detach()
        plan = local_plan(model, start, mask)
        return lambda: local_log_prob(model, plan, free)

    def whole() -> torch.Tensor:
        y = y0.clone()
        y[:, :, mask] = free
        return model.log_prob(y) + RF.logit_log_det(y, constraint=constraint)
    return whole


def inpaint(model: nn.Module, images: torch.Tensor, mask: torch.Tensor, *, steps: int = 200,
            lr: float = 0.05, local: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill ``mask`` (L, L bool, True = missing) by maximising the model's likelihood.

    Parameters
    ----------
    model : RGFlow, or any flow with ``log_prob(y)`` of logit images and ``constraint``
    images : Tensor (B, C, L, L) in [0, 1]
    mask : bool Tensor (L, L); not all True (nothing to condition on) nor all False
    steps, lr : Adam steps on the missing pixels' logits and their learning rate
    local : bool
        True (default): recompute only the blocks the hole reaches each step (RG-Flow only;
        O(log L) per step for a fixed hole, after one full forward pass to build the
        :func:`local_plan`). False: run the whole flow every step (any model; O(L²)).

    Returns
    -------
    images : Tensor (B, C, L, L)
        Inpainted images in [0, 1]; known pixels are the mid-bin values ``(255x + 0.5)/256``.
    change : Tensor (C, L, L)
        ``max_b |z_after − z_before|`` per latent position (zeros for non-RG models): zero
        outside :func:`~reprlab.flows.functional.touched_latents`.

    Starts from the mean of the known pixels. The model's parameters get no gradients and
    its training mode is restored.
    """
    constraint = getattr(model, "constraint", 0.9)
    RF.check_unit_images(images, "images")
    size = images.shape[-1]
    check_mask(mask, size)
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if local and not isinstance(model, RGFlow):
        raise TypeError(f"local inpainting needs an RGFlow (its block layout), got "
                        f"{type(model).__name__}; pass local=False to run the whole flow")
    y0, _ = RF.logit_preprocess(images, dequantize=False, constraint=constraint)
    free = _start(images, mask, constraint)
    opt = torch.optim.Adam([free], lr=lr)
    was_training = model.training
    model.eval()
    try:
        objective = _objective(model, y0, free, mask, local)
        for _ in range(steps):
            loss = -objective().mean()
            (grad,) = torch.autograd.grad(loss, [free])
            free.grad = grad
            opt.step()
        with torch.no_grad():
            y = y0.clone()
            y[:, :, mask] = free
            out = RF.logit_postprocess(y, constraint=constraint)
            change = torch.zeros(images.shape[1:], dtype=images.dtype)
            if isinstance(model, RGFlow):
                change = (model(y)[0] - model(y0)[0]).abs().amax(0)
    finally:
        model.train(was_training)
    return out, change


def step_seconds(model: nn.Module, images: torch.Tensor, mask: torch.Tensor, *,
                 local: bool = True, steps: int = 10, warmup: int = 2) -> dict[str, float]:
    """Wall seconds of one inpainting step (objective, gradient, Adam) and of the setup.

    Returns ``{"step": median seconds per step over ``steps`` timed steps after ``warmup``,
    "setup": seconds to build the objective (for ``local``: the plan's one full pass),
    "blocks": blocks evaluated per step}``.
    """
    import statistics
    import time

    RF.check_unit_images(images, "images")
    check_mask(mask, images.shape[-1])
    constraint = getattr(model, "constraint", 0.9)
    was_training = model.training
    model.eval()
    try:
        y0, _ = RF.logit_preprocess(images, dequantize=False, constraint=constraint)
        free = _start(images, mask, constraint)
        opt = torch.optim.Adam([free], lr=0.05)
        t0 = time.perf_counter()
        objective = _objective(model, y0, free, mask, local)
        setup = time.perf_counter() - t0
        times = []
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            loss = -objective().mean()
            (grad,) = torch.autograd.grad(loss, [free])
            free.grad = grad
            opt.step()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    if isinstance(model, RGFlow):
        blocks = (local_plan(model, y0, mask).n_blocks if local
                  else sum(int(r.shape[0]) for r, _ in model.layout))
    else:
        blocks = float("nan")
    return {"step": statistics.median(times), "setup": setup, "blocks": float(blocks)}


def scaling_benchmark(sizes: tuple[int, ...] = (16, 32, 64, 128), *, hole: int = 4,
                      kernel_size: int = 4, hidden: int = 32, n_layers: int = 2,
                      batch: int = 1, steps: int = 10, seed: int = 0,
                      ) -> list[dict[str, float]]:
    """Seconds per inpainting step for a fixed ``hole x hole`` hole at each image side, both
    paths, on the same randomly perturbed RG-Flow (time does not depend on training).

    The hole sits at the centre. One row per size: ``size``, ``local_step``,
    ``whole_step``, ``local_setup``, ``local_blocks``, ``whole_blocks``.
    """
    rows = []
    for size in sizes:
        torch.manual_seed(seed)
        flow = RGFlow(size, 1, kernel_size=kernel_size, n_layers=n_layers, hidden=hidden,
                      n_resblocks=1, n_mlp=1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in flow.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        x = torch.round(torch.rand(batch, 1, size, size, generator=g) * 255) / 255
        mask = torch.zeros(size, size, dtype=torch.bool)
        c = size // 2 - hole // 2
        mask[c:c + hole, c:c + hole] = True
        loc = step_seconds(flow, x, mask, local=True, steps=steps)
        who = step_seconds(flow, x, mask, local=False, steps=steps)
        rows.append({"size": size, "local_step": loc["step"], "whole_step": who["step"],
                     "local_setup": loc["setup"], "local_blocks": loc["blocks"],
                     "whole_blocks": who["blocks"]})
    return rows
