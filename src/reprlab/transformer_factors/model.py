"""Using a fitted (or reloaded) factor model on new text.

    tf = TransformerFactors.load("my-factors")        # safetensors + JSON
    enc = load_encoder(tf.model_name)                  # the encoder it was fitted on
    tc = encode_text(tf, enc, "The bank raised its rate.")
    tc.codes.shape                                      # (n_layers, n_tokens, n_factors)
    top_factors(tf, enc, "The bank raised its rate.", k=5)
    explain_text(tf, enc, "The bank raised its rate.", k=3)   # + LIME attributions

The same normalisation (per-layer means of the fit) and λ are used as when fitting, and
the text is tokenised the way the model's contexts were (``config.add_special_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from reprlab.transformer_factors.core import normalize_states
from reprlab.transformer_factors.encoder import (
    Encoder,
    forward_hidden_states,
    load_encoder,
    tokenize_contexts,
)
from reprlab.transformer_factors.fit import TransformerFactors, _as_encoder

__all__ = ["TextCodes", "encode_text", "top_factors", "explain_text", "encoder_for"]


@dataclass
class TextCodes:
    """Per-token codes of one text: ``codes[l, t, c]`` is factor ``c``'s activation at real
    token ``t`` of layer ``layers[l]``."""

    text: str
    tokens: list[str]
    ids: list[int]
    full_ids: list[int]
    start: int
    layers: list[int]
    codes: torch.Tensor

    def to_json(self, *, k: int = 5) -> dict[str, Any]:
        """Each token's ``k`` strongest (factor, activation) pairs per layer (non-zero)."""
        out = []
        for t, tok in enumerate(self.tokens):
            per = {}
            for li, layer in enumerate(self.layers):
                vals, idx = self.codes[li, t].topk(min(k, self.codes.shape[-1]))
                per["emb" if layer == 0 else f"L{layer}"] = [
                    [int(i), round(float(v), 5)] for v, i in zip(vals, idx) if v > 0]
            out.append({"token": tok, "factors": per})
        return {"text": self.text, "tokens": out}


def encoder_for(factors: TransformerFactors, device: str | torch.device = "cpu") -> Encoder:
    """The encoder a saved model names (``factors.model_name``), loaded offline."""
    if not factors.model_name:
        raise ValueError("this factor model records no encoder name; pass encoder= yourself")
    name = None if factors.model_name == "all-MiniLM-L6-v2" else factors.model_name
    return load_encoder(name, device=device)


@torch.no_grad()
def encode_text(factors: TransformerFactors, encoder: Encoder | tuple[Any, Any] | None,
                text: str) -> TextCodes:
    """Codes of every real token of ``text`` at every layer of the model."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    enc = _as_encoder(encoder) if encoder is not None else encoder_for(factors)
    cfg = factors.config
    tc = tokenize_contexts(enc.tokenizer, [text], max_length=cfg.max_length,
                           add_special_tokens=cfg.add_special_tokens)
    ids, full, start = tc.ids[0], tc.full_ids[0], tc.start[0]
    if not ids:
        raise ValueError(f"text {text!r} has no word piece after tokenisation")
    dim = int(enc.model.config.hidden_size)
    if dim != factors.dictionary.shape[1]:
        raise ValueError(f"the encoder's hidden size {dim} differs from the dictionary's "
                         f"{factors.dictionary.shape[1]}: use the model it was fitted on "
                         f"({factors.model_name or 'unknown'})")
    device = next(enc.model.parameters()).device
    input_ids = torch.tensor([full], device=device)
    hs = forward_hidden_states(enc.model, input_ids, torch.ones_like(input_ids),
                               factors.layers)[:, 0, start:start + len(ids)].float()
    x = normalize_states(hs, mean=factors.mean.to(hs.device), mode=cfg.normalize)
    engine = factors.get_engine()
    codes = engine.encode(x.reshape(-1, dim), max_iter=cfg.encode_max_iter)
    codes = codes.float().cpu().reshape(len(factors.layers), len(ids), -1)
    return TextCodes(text=text, tokens=tc.tokens[0], ids=ids, full_ids=full, start=start,
                     layers=list(factors.layers), codes=codes)


def top_factors(factors: TransformerFactors, encoder: Encoder | tuple[Any, Any] | None,
                text: str | TextCodes, *, k: int = 5, layer_index: int | None = None
                ) -> list[dict[str, Any]]:
    """The text's ``k`` strongest factors: each factor's largest activation over the text's
    tokens (at one layer, or at any), with where it peaks and the factor's label."""
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    tc = text if isinstance(text, TextCodes) else encode_text(factors, encoder, text)
    n_layers = tc.codes.shape[0]
    if layer_index is not None and not 0 <= layer_index < n_layers:
        raise ValueError(f"layer_index must be in [0, {n_layers}), got {layer_index}")
    codes = tc.codes if layer_index is None else tc.codes[layer_index:layer_index + 1]
    flat = codes.permute(2, 0, 1).reshape(codes.shape[2], -1)  # (K, layers*tokens)
    best, where = flat.max(1)
    out = []
    for f in best.argsort(descending=True)[:k].tolist():
        if not float(best[f]) > 0:
            break
        li, t = divmod(int(where[f]), codes.shape[1])
        li = li if layer_index is None else layer_index
        out.append({"factor": int(f), "activation": float(best[f]), "layer_index": li,
                    "layer": factors.layer_name(li), "position": t, "token": tc.tokens[t],
                    "label": factors.label(f), "kind": factors.kinds[f]})
    return out


def explain_text(factors: TransformerFactors, encoder: Encoder | tuple[Any, Any] | None,
                 text: str, *, k: int = 3, n_samples: int = 128, seed: int = 0
                 ) -> list[dict[str, Any]]:
    """:func:`top_factors` plus each one's LIME token weights (``"weights"``, one per token)."""
    from reprlab.transformer_factors.attribution import occlusion_attribution

    enc = _as_encoder(encoder) if encoder is not None else encoder_for(factors)
    tc = encode_text(factors, enc, text)
    rows = top_factors(factors, enc, tc, k=k)
    for r in rows:
        w = occlusion_attribution(factors, enc, tc.full_ids, tc.start, len(tc.ids),
                                  r["position"], r["factor"], r["layer_index"],
                                  n_samples=n_samples, seed=seed)
        r["weights"] = [round(float(v), 5) for v in w]
        r["tokens"] = tc.tokens
    return rows
