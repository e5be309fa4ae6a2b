"""Attribution and polysemy of transformer factors.

:func:`token_attribution` is LIME-style occlusion (the official ``generate_salient_map``):
which input tokens drive a factor at one token. It works on any token sequence, so a
reloaded model attributes new text as well as its own contexts. :func:`word_sense_split`
measures how a polysemous word's occurrences split across factors.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from reprlab.transformer_factors.core import lime_weights, normalize_states
from reprlab.transformer_factors.encoder import Encoder, forward_hidden_states
from reprlab.transformer_factors.fit import TransformerFactors, _as_encoder

__all__ = ["occlusion_attribution", "token_attribution", "word_sense_split"]


@torch.no_grad()
def occlusion_attribution(factors: TransformerFactors, encoder: Encoder | tuple[Any, Any],
                          full_ids: Sequence[int], start: int, n_real: int, position: int,
                          factor: int, layer_index: int, *, n_samples: int = 256,
                          batch_size: int = 64, seed: int = 0) -> torch.Tensor:
    """LIME occlusion weights of ``factor`` at real token ``position`` of one input.

    ``full_ids`` is the model input, whose real word pieces are ``full_ids[start:start +
    n_real]``. Draw ``n_samples - 1`` masks (each hides a uniformly random number of the
    real pieces, replaced by the unknown token — or the pad/EOS token for tokenizers without
    one; row 0 hides nothing), run the model, normalise the hidden state at ``position`` in
    layer ``layers[layer_index]``, sparse-code it, and fit :func:`lime_weights` of the
    factor's activation on the masks. Returns one weight per real piece.
    """
    enc = _as_encoder(encoder)
    if not 0 <= position < n_real:
        raise ValueError(f"position must be in [0, {n_real}), got {position}")
    if not 0 <= factor < factors.n_factors:
        raise ValueError(f"factor must be in [0, {factors.n_factors}), got {factor}")
    if not 0 <= layer_index < len(factors.layers):
        raise ValueError(f"layer_index must be in [0, {len(factors.layers)}), got {layer_index}")
    if not (isinstance(n_samples, int) and n_samples >= 2):
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    tok = enc.tokenizer
    rng = np.random.default_rng(seed)
    masks = np.ones((n_samples, n_real))
    for i in range(1, n_samples):
        hide = rng.choice(n_real, size=int(rng.integers(1, n_real + 1)), replace=False)
        masks[i, hide] = 0
    unk = next((t for t in (tok.unk_token_id, tok.pad_token_id, tok.eos_token_id)
                if t is not None), 0)
    layer = factors.layers[layer_index]
    mean = factors.mean[layer_index]
    device = next(enc.model.parameters()).device
    engine = factors.get_engine()
    ids = list(full_ids[start:start + n_real])
    targets = []
    for s in range(0, n_samples, batch_size):
        rows = []
        for m in masks[s:s + batch_size]:
            full = list(full_ids)
            full[start:start + n_real] = [t if keep else unk for t, keep in zip(ids, m)]
            rows.append(full)
        input_ids = torch.tensor(rows, device=device)
        hs = forward_hidden_states(enc.model, input_ids, torch.ones_like(input_ids), [layer])[0]
        x = normalize_states(hs[:, start + position].float(), mean=mean[0].to(hs.device),
                             mode=factors.config.normalize)
        codes = engine.encode(x, max_iter=factors.config.encode_max_iter)
        targets.append(codes[:, factor].float().cpu())
    return lime_weights(torch.from_numpy(masks).float(), torch.cat(targets))


def token_attribution(factors: TransformerFactors, encoder: Encoder | tuple[Any, Any],
                      context: int, position: int, factor: int, layer_index: int, *,
                      n_samples: int = 256, batch_size: int = 64, seed: int = 0
                      ) -> torch.Tensor:
    """:func:`occlusion_attribution` for context ``context`` of ``factors.contexts``.

    Returns
    -------
    Tensor, shape (n_tokens_in_context,) — one weight per word piece.
    """
    c = factors.contexts
    if not 0 <= context < len(c):
        raise ValueError(f"context must be in [0, {len(c)}), got {context}")
    return occlusion_attribution(factors, encoder, c.full_ids[context], c.start[context],
                                 len(c.ids[context]), position, factor, layer_index,
                                 n_samples=n_samples, batch_size=batch_size, seed=seed)


def _bag_of_words(tokens: Sequence[str], skip: int) -> Counter:
    return Counter(t for i, t in enumerate(tokens) if i != skip and t.isalpha() and len(t) > 2)


def _cosine(a: Counter, b: Counter) -> float:
    num = sum(v * b.get(k, 0) for k, v in a.items())
    den = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return num / den if den > 0 else 0.0


def word_sense_split(factors: TransformerFactors, word: str, layer_index: int, *,
                     shared: float = 0.9) -> dict[str, Any]:
    """How a word's occurrences split across factors at one layer.

    Factors active in ≥ ``shared`` of the word's occurrences encode the word itself and are
    set aside; each occurrence is then assigned its dominant remaining factor (-1 if none).
    Returns the normalised entropy of that assignment (0 = one factor for all occurrences,
    1 = spread evenly), the number of factors holding ≥ 10% of occurrences, the mean
    bag-of-words cosine between the contexts of occurrences that share a dominant factor
    (``same``) and that do not (``different``) — a split by sense shows ``same >
    different`` — and ``code_context_corr``, the Spearman correlation over pairs of
    occurrences between the cosine of their codes and of their contexts' bags of words.
    """
    from scipy.stats import spearmanr

    if word not in factors.tracked:
        raise ValueError(f"word {word!r} was not tracked; add it to config.track_words")
    rec = factors.tracked[word]
    codes = rec["codes"][layer_index].clone()  # (n_occ, K)
    n = codes.shape[0]
    active_share = (codes > 0).double().mean(0)
    common = (active_share >= shared).nonzero().flatten().tolist()
    rest = codes.clone()
    rest[:, common] = 0
    dom = [int(i) if float(v) > 0 else -1 for v, i in zip(*rest.max(1))]
    counts = Counter(dom)
    probs = np.array(list(counts.values()), dtype=float) / n
    entropy = float(-(probs * np.log(probs)).sum() / math.log(n)) if n > 1 else 0.0
    bows = [_bag_of_words(factors.contexts.tokens[c], p)
            for c, p in zip(rec["context"], rec["position"])]
    unit = codes / codes.norm(dim=1, keepdim=True).clamp_min(1e-12)
    code_sim = (unit @ unit.T).tolist()
    same, diff, cs, xs = [], [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            sim = _cosine(bows[i], bows[j])
            cs.append(code_sim[i][j])
            xs.append(sim)
            if dom[i] >= 0 and dom[j] >= 0:
                (same if dom[i] == dom[j] else diff).append(sim)
    corr = float(spearmanr(cs, xs).statistic) if len(cs) > 2 and np.std(cs) > 0 else float("nan")
    return {
        "word": word, "n": n, "entropy": entropy, "shared_factors": common,
        "n_major_factors": sum(1 for k, v in counts.items() if k >= 0 and v >= 0.1 * n),
        "dominant": counts.most_common(), "assignment": dom,
        "same": float(np.mean(same)) if same else float("nan"),
        "different": float(np.mean(diff)) if diff else float("nan"),
        "code_context_corr": corr,
    }
