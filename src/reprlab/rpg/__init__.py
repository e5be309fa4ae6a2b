"""Recurrent parameter generators (Wang et al., arXiv:2107.07110): conv weights of any model
generated from one shared parameter bank of any size."""

from reprlab.nets import count_params, resnet, resnet18
from reprlab.rpg.functional import balanced_indices, fan_scale, generate_weight, sign_mask
from reprlab.rpg.modules import (
    SHARE_MODES,
    ParameterBank,
    RPGConv2d,
    RPGNetwork,
    RPGSummary,
    rpg,
    summary,
)

__all__ = ["ParameterBank", "RPGConv2d", "RPGNetwork", "RPGSummary", "rpg", "summary",
           "SHARE_MODES", "balanced_indices", "sign_mask", "fan_scale", "generate_weight",
           "resnet", "resnet18", "count_params"]
