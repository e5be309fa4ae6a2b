"""``reprlab.transformer_factors`` — transformer factors (Yun et al., arXiv:2103.15949).

One sparse non-negative dictionary for the hidden states of every layer of any Hugging Face
model (encoders and decoders, GGUF included). Layered by concern:

* :mod:`~reprlab.transformer_factors.core` — pure tensor functions (normalisation,
  importance curves, peak kinds, LIME's ridge surrogate);
* :mod:`~reprlab.transformer_factors.text` — documents → contexts (cleaning, sentences,
  windows, the shuffled-context control);
* :mod:`~reprlab.transformer_factors.encoder` — loading a model offline, tokenising,
  streaming hidden states;
* :mod:`~reprlab.transformer_factors.engine` — the sparse-coding adapter over
  :mod:`reprlab.sparse`'s public API;
* :mod:`~reprlab.transformer_factors.fit` — fitting; :class:`TransformerFactors` saves
  and loads (safetensors + JSON);
* :mod:`~reprlab.transformer_factors.model` — encoding new text, its top factors and
  attributions;
* :mod:`~reprlab.transformer_factors.attribution` — LIME occlusion, polysemy splits;
* :mod:`~reprlab.transformer_factors.views` — browser views and ``reprlab factors fit``;
* :mod:`~reprlab.transformer_factors.reproduce` — the registered method.

The browser and the TopK SAE comparison are shared with word factors in
:mod:`reprlab.factors`.
"""

from reprlab.transformer_factors.core import (
    KINDS,
    layer_importance,
    lime_weights,
    normalize_states,
    peak_kinds,
)
from reprlab.transformer_factors.encoder import (
    Encoder,
    StateCache,
    TokenizedContexts,
    collect_states,
    iter_hidden_states,
    load_encoder,
    tokenize_contexts,
)
from reprlab.transformer_factors.engine import FactorEngine
from reprlab.transformer_factors.fit import (
    TransformerFactors,
    TransformerFactorsConfig,
    fit_transformer_factors,
)
from reprlab.transformer_factors.model import TextCodes, encode_text, explain_text, top_factors

__all__ = [
    "KINDS", "layer_importance", "lime_weights", "normalize_states", "peak_kinds",
    "Encoder", "StateCache", "TokenizedContexts", "collect_states", "iter_hidden_states",
    "load_encoder", "tokenize_contexts", "FactorEngine", "TransformerFactors",
    "TransformerFactorsConfig", "fit_transformer_factors", "TextCodes", "encode_text",
    "explain_text", "top_factors",
]
