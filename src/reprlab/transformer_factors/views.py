"""Views of fitted factors for the shared browser (:mod:`reprlab.factors.browser`), and
``reprlab factors fit`` end to end (:func:`build_browser`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from reprlab.transformer_factors.attribution import token_attribution
from reprlab.transformer_factors.encoder import load_encoder
from reprlab.transformer_factors.fit import (
    TransformerFactors,
    TransformerFactorsConfig,
    fit_transformer_factors,
)
from reprlab.transformer_factors.text import load_documents, make_contexts

__all__ = ["factor_views", "build_browser"]


def factor_views(factors: TransformerFactors, *, factor_ids: Sequence[int] | None = None,
                 n_contexts: int = 8, window: int = 24,
                 attributions: dict[int, list[tuple[int, int, int, torch.Tensor]]] | None = None,
                 layer_name: Callable[[int], str] | None = None) -> list[Any]:
    """:class:`~reprlab.factors.browser.FactorView` records of fitted factors.

    Each view has the importance curve over layers, the top ``n_contexts`` contexts at the
    peak layer first and then at every other layer (cut to ``window`` word pieces around the
    highlighted token), and the given attributions ``{factor: [(context, position,
    layer_index, weights)]}``. Factors that never activate are left out.
    """
    from reprlab.factors.browser import ContextView, FactorView

    name = layer_name or (lambda layer: "emb" if layer == 0 else f"L{layer}")
    ids = range(factors.dictionary.shape[0]) if factor_ids is None else factor_ids
    attributions = attributions or {}

    def view(c: int, p: int, score: float, weights: torch.Tensor | None = None,
             note: str = "") -> ContextView:
        toks = factors.contexts.tokens[c]
        lo = max(0, p - window // 2)
        hi = min(len(toks), lo + window)
        w = None if weights is None else [float(v) for v in weights[lo:hi]]
        return ContextView(tokens=toks[lo:hi], score=score, highlight=p - lo, weights=w,
                           note=note)

    out = []
    for f in ids:
        if float(factors.importance[f].max()) <= 0:
            continue
        peak = int(factors.peaks[f])
        order = [peak] + [i for i in range(len(factors.layers)) if i != peak]
        groups = []
        for li in order:
            items = [view(c, p, v) for v, c, p in factors.top_contexts(f, li, n_contexts)]
            tag = " (peak)" if li == peak else ""
            groups.append((f"top contexts at layer {name(factors.layers[li])}{tag}", items))
        attrs = []
        for c, p, li, w in attributions.get(f, []):
            code = float(factors.top.values[li, f].max())
            attrs.append(view(c, p, code, w, note=f"layer {name(factors.layers[li])}"))
        out.append(FactorView(
            id=int(f), label=factors.label(f), kind=factors.kinds[f],
            curve=[float(v) for v in factors.importance[f]],
            curve_labels=[name(layer) for layer in factors.layers], groups=groups,
            attributions=attrs,
            info={"peak layer": name(factors.layers[peak]),
                  "max activation": round(float(factors.top.values[:, f, 0].max()), 4)}))
    return out


def build_browser(corpus: str | Path, out: str | Path, *, model: str | Path | None = None,
                  config: TransformerFactorsConfig | None = None,
                  max_contexts: int | None = 2000, n_attributions: int = 20,
                  lime_samples: int = 128, seed: int = 0, progress: bool = False) -> Path:
    """``reprlab factors fit``: learn transformer factors on a corpus and write the browser.

    ``corpus`` is a text file with one document per line (or ``"gensim"`` for the offline
    Wikipedia + Lee text); documents are split into sentences/windows, the first
    ``max_contexts`` (shuffled) are used. Writes ``out/index.html`` + factor pages,
    the fitted model (``out/factors.safetensors`` + ``out/factors.json``, reloaded by
    :meth:`TransformerFactors.load` and ``reprlab factors encode OUT``) and
    ``out/summary.json`` (FVU, L0 per layer, kinds); a checkpoint in ``out/checkpoint.pt``
    (keyed on the settings) lets an interrupted run resume. Returns the index path.
    """
    import json

    from reprlab.checkpoint import atomic_write_text
    from reprlab.factors.browser import write_browser

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config or TransformerFactorsConfig(seed=seed)
    contexts = make_contexts(load_documents(corpus), max_contexts=max_contexts, seed=seed)
    if not contexts:
        raise ValueError(f"corpus {corpus} yields no sentence of ≥ 6 words")
    encoder = load_encoder(model, device=cfg.device)
    tf = fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                 checkpoint=out / "checkpoint.pt", progress=progress)
    active = [f for f in range(tf.dictionary.shape[0]) if float(tf.importance[f].max()) > 0]
    ranked = sorted(active, key=lambda f: -float(tf.importance[f].max()))[:n_attributions]
    attributions = {}
    for f in ranked:
        li = int(tf.peaks[f])
        tops = tf.top_contexts(f, li, 1)
        if tops:
            _, c, p = tops[0]
            attributions[f] = [(c, p, li, token_attribution(tf, encoder, c, p, f, li,
                                                            n_samples=lime_samples,
                                                            seed=seed))]
    views = factor_views(tf, factor_ids=active, attributions=attributions)
    name = encoder.name
    index = write_browser(out, views, title=f"Transformer factors of {Path(name).name}",
                          meta={"contexts": len(tf.contexts), "factors": tf.dictionary.shape[0],
                                "lambda": cfg.lam})
    tf.save(out)  # factors.safetensors + factors.json: `reprlab factors encode OUT`
    atomic_write_text(out / "summary.json", json.dumps({
        "model": name, "contexts": len(tf.contexts), "layers": tf.layers,
        "fvu": tf.fvu, "l0": tf.l0, "dead_fraction": tf.dead_fraction,
        "kinds": dict(Counter(tf.kinds[f] for f in active)), "seconds": tf.seconds}, indent=2))
    return index
