"""Recurrent parameter generators for any ``nn.Module``: :class:`ParameterBank`,
:class:`RPGConv2d`, :func:`rpg` and :func:`summary`.

:func:`rpg` walks a model, swaps each selected ``nn.Conv2d`` for an :class:`RPGConv2d` whose
``weight`` is generated from a shared :class:`ParameterBank` on every access, and returns an
:class:`RPGNetwork` that owns the banks. Indices and sign masks are registered buffers, so they
are saved in ``state_dict`` and follow ``.to()``; no device is hard-coded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from reprlab.rpg.functional import balanced_indices, fan, fan_scale, generate_weight, sign_mask

__all__ = ["ParameterBank", "RPGConv2d", "RPGNetwork", "RPGSummary", "rpg", "summary",
           "SHARE_MODES"]

SHARE_MODES = ("model", "stage", "block", "layer")
_CONV_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "transposed", "output_padding", "groups", "padding_mode",
               "_reversed_padding_repeated_twice")


class ParameterBank(nn.Module):
    """A flat bank ``W ∈ R^N`` of trainable parameters shared by generated layers.

    Initialised like the official ``SuperParams``: Kaiming normal for ``fan_ref`` (fan-out
    mode, ReLU gain), i.e. ``W ~ N(0, 2/fan_ref)``; each generated layer rescales by
    ``√(fan_ref/fan_i)`` so it starts with its own Kaiming scale.

    Parameters
    ----------
    num_params : int
        Bank size ``N >= 1``.
    fan_ref : int
        Reference fan (official default 512·3·3, ResNet18's widest 3×3 conv).

    Shape
    -----
    ``weight``: (N,)
    """

    def __init__(self, num_params: int, *, fan_ref: int = 512 * 9,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not isinstance(num_params, int) or isinstance(num_params, bool) or num_params < 1:
            raise ValueError(f"num_params must be an int >= 1, got {num_params!r}")
        if fan_ref < 1:
            raise ValueError(f"fan_ref must be >= 1, got {fan_ref}")
        self.num_params = num_params
        self.fan_ref = int(fan_ref)
        self.weight = nn.Parameter(torch.empty(num_params, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.normal_(0.0, math.sqrt(2.0 / self.fan_ref))

    def extra_repr(self) -> str:
        return f"num_params={self.num_params}, fan_ref={self.fan_ref}"


class RPGConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose ``weight`` is generated from a :class:`ParameterBank`.

    ``weight`` is a property, ``scale · sign ⊙ bank[index]`` reshaped, so everything that reads
    ``conv.weight`` (forward, an orthogonality regulariser, a spectrum diagnostic) sees the
    generated tensor and back-propagates into the bank. The bias (if any) stays unshared.

    Parameters
    ----------
    conv : nn.Conv2d
        The layer to replace; its hyperparameters and bias are taken over.
    bank : ParameterBank
        Held by reference (not registered here: :class:`RPGNetwork` owns it).
    index : Tensor, shape (T,), int64
    sign : Tensor, shape (T,), or None
    scale : float
    """

    def __init__(self, conv: nn.Conv2d, bank: ParameterBank, index: torch.Tensor,
                 sign: torch.Tensor | None, scale: float) -> None:
        nn.Module.__init__(self)
        for attr in _CONV_ATTRS:
            setattr(self, attr, getattr(conv, attr))
        self.register_parameter("bias", conv.bias)
        self.weight_shape = (conv.out_channels, conv.in_channels // conv.groups,
                             *conv.kernel_size)
        if index.numel() != math.prod(self.weight_shape):
            raise ValueError(f"index has {index.numel()} entries, weight shape "
                             f"{self.weight_shape} needs {math.prod(self.weight_shape)}")
        if int(index.max()) >= bank.num_params or int(index.min()) < 0:
            raise ValueError(f"index values must lie in [0, {bank.num_params})")
        self._bank = (bank,)  # a tuple so nn.Module does not register the bank twice
        self.register_buffer("index", index.long())
        self.register_buffer("sign", None if sign is None else sign.to(bank.weight.dtype))
        self.scale = float(scale)
        self._generated: torch.Tensor | None = None  # set by RPGNetwork during its forward

    @property
    def bank(self) -> ParameterBank:
        return self._bank[0]

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        if self._generated is not None:
            return self._generated
        return generate_weight(self.bank.weight, self.index, self.sign,
                               shape=self.weight_shape, scale=self.scale)

    def reset_parameters(self) -> None:
        """Only the bias is local; the bank is reset through :class:`ParameterBank`."""
        if self.bias is not None:
            bound = 1 / math.sqrt(max(1, math.prod(self.weight_shape[1:])))
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", generated from bank[{self.bank.num_params}], "
                f"signs={self.sign is not None}, scale={self.scale:.3g}")


class RPGNetwork(nn.Module):
    """A model whose shared convs are generated; owns the banks (``self.banks``).

    ``forward`` calls the wrapped model. ``params_before`` is the wrapped model's parameter
    count before :func:`rpg` replaced its convs.
    """

    def __init__(self, model: nn.Module, banks: dict[str, ParameterBank],
                 params_before: int, share: str) -> None:
        super().__init__()
        self.model = model
        self.banks = nn.ModuleDict(banks)
        self.params_before = int(params_before)
        self.share = share
        self._plans: dict[int, tuple] = {}  # gather plans per bank (see _generate_all)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped model with every generated weight gathered once per bank.

        One ``index_select`` per bank (instead of one per layer) means one scatter-add into
        the bank in the backward pass, instead of one dense bank-sized gradient per layer.
        """
        convs = [m for m in self.model.modules() if isinstance(m, RPGConv2d)]
        try:
            for bank in self.banks.values():
                members = [m for m in convs if m.bank is bank]
                if members:
                    _generate_all(bank, members, self._plans)
            return self.model(*args, **kwargs)
        finally:
            for m in convs:
                m._generated = None

    def extra_repr(self) -> str:
        sizes = {k: b.num_params for k, b in self.banks.items()}
        return f"share={self.share!r}, banks={sizes}"


def _plan_key(bank: ParameterBank, convs: list[RPGConv2d]) -> tuple:
    """Identity of the tensors a gather plan is built from; changes on in-place edits
    (``load_state_dict``), ``.to()`` and sign-mask swaps."""
    w = bank.weight
    parts: list[Any] = [w.device, w.dtype, bank.num_params]
    for m in convs:
        parts += [id(m), m.index.data_ptr(), m.index._version, m.scale]
        parts += [None] if m.sign is None else [m.sign.data_ptr(), m.sign._version]
    return tuple(parts)


def _gather_plan(bank: ParameterBank, convs: list[RPGConv2d]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated indices (int32 when they fit) and ``sign · scale`` of all ``convs``."""
    dtype = bank.weight.dtype
    index = torch.cat([m.index for m in convs])
    if bank.num_params < 2**31:
        index = index.to(torch.int32)
    coef = torch.cat([(m.sign if m.sign is not None
                       else torch.ones(m.index.shape, dtype=dtype, device=m.index.device))
                      * m.scale for m in convs]).to(dtype)
    return index, coef


def _generate_all(bank: ParameterBank, convs: list[RPGConv2d],
                  cache: dict[int, tuple]) -> None:
    """Gather the weights of all ``convs`` from ``bank`` in one ``index_select``.

    The concatenated indices and coefficients are cached per bank until a buffer changes.
    """
    key = _plan_key(bank, convs)
    hit = cache.get(id(bank))
    if hit is None or hit[0] != key:
        hit = (key, *_gather_plan(bank, convs))
        cache[id(bank)] = hit
    _, index, coef = hit
    flat = bank.weight.index_select(0, index) * coef
    for m, w in zip(convs, flat.split([m.index.numel() for m in convs]), strict=True):
        m._generated = w.view(m.weight_shape)


def _group_key(name: str, share: str | Callable[[str], str]) -> str:
    if callable(share):
        return str(share(name))
    parts = name.split(".")
    if share == "model":
        return "all"
    if share == "stage":
        return parts[0]
    if share == "block":
        return ".".join(parts[:2])
    return name  # "layer"


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _split_budget(num_params: int, sizes: list[int]) -> list[int]:
    """Bank size per group, proportional to the group's conv parameters, summing to N."""
    total = sum(sizes)
    alloc = [max(1, math.floor(num_params * s / total)) for s in sizes]
    # hand the rounding remainder to the largest groups
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    i = 0
    while sum(alloc) < num_params:
        alloc[order[i % len(order)]] += 1
        i += 1
    while sum(alloc) > num_params:
        j = max(range(len(alloc)), key=lambda k: alloc[k])
        alloc[j] -= 1
    return alloc


def rpg(model: nn.Module, num_params: int, *, share: str | Callable[[str], str] = "model",
        signs: bool = True, skip_first: bool = True,
        select: Callable[[str, nn.Conv2d], bool] | None = None, mode: str = "fan_out",
        seed: int = 0) -> RPGNetwork:
    """Generate ``model``'s conv weights from shared parameter bank(s) of total size N.

    The model is modified in place (deep-copy it first to keep the original) and wrapped in
    an :class:`RPGNetwork` that owns the bank(s).

    Parameters
    ----------
    model : nn.Module
        Any module containing ``nn.Conv2d`` layers.
    num_params : int
        Total bank size ``N`` over all banks (>= number of banks). May exceed the number of
        generated weights; the extra entries are then unused.
    share : {"model", "stage", "block", "layer"} or callable
        Sharing granularity from the paper: one bank for the whole network; one per top-level
        child (``layer1``…); one per block (first two name components, ``layer1.0``); one per
        conv layer. A callable maps a conv's qualified name to its group key. With several
        banks, N is split in proportion to each group's conv parameters.
    signs : bool
        Fixed random ±1 masks (paper default); ``False`` is the sign ablation.
    skip_first : bool
        Leave the first conv (the stem) unshared, as the official code does. Linear layers
        (classifier) and normalisation layers are never touched.
    select : callable, optional
        ``select(name, conv) -> bool`` further restricts which convs are generated.
    mode : {"fan_out", "fan_in"}
        Fan used for the per-layer scale ``√(fan_ref/fan_i)``; ``fan_ref`` is the largest fan
        in the bank's group. The official code uses fan-out.
    seed : int
        Seeds the index tiling and the sign masks.

    Returns
    -------
    RPGNetwork

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten())
    >>> rnet = rpg(net, 50, skip_first=False)
    >>> rnet(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 64])
    """
    if not isinstance(num_params, int) or isinstance(num_params, bool) or num_params < 1:
        raise ValueError(f"num_params must be an int >= 1, got {num_params!r}")
    if not callable(share) and share not in SHARE_MODES:
        raise ValueError(f"share must be one of {SHARE_MODES} or a callable, got {share!r}")
    if mode not in ("fan_out", "fan_in"):
        raise ValueError(f"mode must be 'fan_out' or 'fan_in', got {mode!r}")
    params_before = sum(p.numel() for p in model.parameters())
    convs = [(n, m) for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and not isinstance(m, RPGConv2d)]
    if skip_first and convs:
        convs = convs[1:]
    if select is not None:
        convs = [(n, m) for n, m in convs if select(n, m)]
    if not convs:
        raise ValueError("model has no nn.Conv2d to generate (after skip_first/select); "
                         "pass skip_first=False or a model with conv layers")
    groups: dict[str, list[tuple[str, nn.Conv2d]]] = {}
    for name, conv in convs:
        groups.setdefault(_group_key(name, share), []).append((name, conv))
    if num_params < len(groups):
        raise ValueError(f"num_params={num_params} is smaller than the number of banks "
                         f"({len(groups)} for share={share!r}); each bank needs >= 1 entry")
    sizes = [sum(c.weight.numel() for _, c in members) for members in groups.values()]
    budget = _split_budget(num_params, sizes)
    g = torch.Generator().manual_seed(seed)
    banks: dict[str, ParameterBank] = {}
    used_keys: set[str] = set()
    for (key, members), size, n_bank in zip(groups.items(), sizes, budget, strict=True):
        ref = members[0][1].weight
        fan_ref = max(fan(c.weight.shape, mode=mode) for _, c in members)
        bank = ParameterBank(n_bank, fan_ref=fan_ref, device=ref.device, dtype=ref.dtype)
        idx_all = balanced_indices(n_bank, size, generator=g)
        start = 0
        for name, conv in members:
            numel = conv.weight.numel()
            idx = idx_all[start:start + numel].to(ref.device)
            start += numel
            sgn = sign_mask(numel, generator=g, dtype=ref.dtype).to(ref.device) if signs else None
            scale = fan_scale(conv.weight.shape, fan_ref=fan_ref, mode=mode)
            _set_submodule(model, name, RPGConv2d(conv, bank, idx, sgn, scale))
        bank_key = re.sub(r"[^0-9a-zA-Z_]", "_", key) or "all"
        while bank_key in used_keys:
            bank_key += "_"
        used_keys.add(bank_key)
        banks[bank_key] = bank
    share_name = share if isinstance(share, str) else "custom"
    return RPGNetwork(model, banks, params_before, share_name)


@dataclass
class RPGSummary:
    """Parameter counts before/after :func:`rpg` and per-bank usage.

    ``banks[key]`` holds ``size``, ``layers``, ``generated`` (weights drawn from it),
    ``unused`` (entries never drawn) and ``usage_histogram`` ({times used: number of entries}).
    """

    params_before: int
    params_after: int
    generated_weights: int
    bank_params: int
    banks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def compression(self) -> float:
        return self.params_before / max(self.params_after, 1)

    def __str__(self) -> str:
        lines = [f"parameters: {self.params_before:,} -> {self.params_after:,} "
                 f"({self.compression:.1f}x fewer); {self.generated_weights:,} conv weights "
                 f"generated from {self.bank_params:,} bank entries"]
        for key, b in self.banks.items():
            lines.append(f"  bank {key}: size {b['size']:,}, {b['layers']} layers, "
                         f"unused {b['unused']:,}, usage histogram {b['usage_histogram']}")
        return "\n".join(lines)


def summary(net: RPGNetwork) -> RPGSummary:
    """Parameter count before/after and the bank usage histogram of an :class:`RPGNetwork`."""
    if not isinstance(net, RPGNetwork):
        raise ValueError(f"net must be an RPGNetwork returned by rpg(), got {type(net).__name__}")
    per_bank: dict[int, list[RPGConv2d]] = {}
    for m in net.modules():
        if isinstance(m, RPGConv2d):
            per_bank.setdefault(id(m.bank), []).append(m)
    banks = {}
    for key, bank in net.banks.items():
        layers = per_bank.get(id(bank), [])
        counts = torch.zeros(bank.num_params, dtype=torch.long)
        for m in layers:
            counts += torch.bincount(m.index.cpu(), minlength=bank.num_params)
        values, freq = torch.unique(counts, return_counts=True)
        banks[key] = {"size": bank.num_params, "layers": len(layers),
                      "generated": int(counts.sum()), "unused": int((counts == 0).sum()),
                      "usage_histogram": {int(v): int(f) for v, f in zip(values, freq,
                                                                            strict=True)}}
    return RPGSummary(
        params_before=net.params_before,
        params_after=sum(p.numel() for p in net.parameters()),
        generated_weights=sum(b["generated"] for b in banks.values()),
        bank_params=sum(b["size"] for b in banks.values()),
        banks=banks,
    )
