"""Recurrent parameter generators (Wang et al., arXiv:2107.07110): layer weights of any model
generated from one shared parameter bank of any size.

``rpg(model, N)`` generates the weights in place (the bank joins ``model.parameters()`` and
``model.state_dict()``); ``export(model)`` materialises a plain model for deployment.
"""

from reprlab.rpg.functional import balanced_indices, fan_scale, generate_weight, sign_mask
from reprlab.rpg.modules import (
    CONV_TYPES,
    LAYER_TYPES,
    SHARE_MODES,
    ParameterBank,
    RPGSummary,
    RPGWeight,
    banks,
    export,
    generated_layers,
    rpg,
    summary,
)

__all__ = ["ParameterBank", "RPGWeight", "RPGSummary", "rpg", "export", "summary", "banks",
           "generated_layers", "SHARE_MODES", "CONV_TYPES", "LAYER_TYPES",
           "balanced_indices", "sign_mask", "fan_scale", "generate_weight"]
