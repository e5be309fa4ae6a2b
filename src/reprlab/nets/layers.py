"""Small building blocks shared by several sections."""

from __future__ import annotations

from torch import nn

__all__ = ["create_act", "count_params"]


def create_act(act: str | type[nn.Module] | nn.Module) -> nn.Module:
    """An activation module from a name (``"elu"``, ``"swish"``, ``"relu"``, ``"softplus"``)
    or a class."""
    if isinstance(act, nn.Module):
        return act
    if isinstance(act, type) and issubclass(act, nn.Module):
        return act()
    table = {"elu": nn.ELU, "swish": nn.SiLU, "silu": nn.SiLU, "relu": nn.ReLU,
             "softplus": nn.Softplus}
    if act not in table:
        raise ValueError(f"act must be one of {sorted(table)} or an nn.Module class, got {act!r}")
    return table[act]()


def count_params(model: nn.Module, *, convs_only: bool = False) -> int:
    """Number of distinct parameters (shared tensors counted once)."""
    if convs_only:
        return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    return sum(p.numel() for p in model.parameters())
