"""``reprlab factors words``: word factors of a vector file, shown in the shared browser."""

from __future__ import annotations

from pathlib import Path

import torch

from reprlab.factors.browser import word_factor_views, write_browser
from reprlab.word_factors.model import fit_word_factors
from reprlab.word_factors.word_vectors import load_word_vectors, log_frequency_weights

__all__ = ["build_word_browser"]


def build_word_browser(vectors: str | Path, out: str | Path, *, n_factors: int = 1000,
                       lam: float = 0.5, max_words: int | None = None, binary: bool = False,
                       n_steps: int = 2000, seed: int = 0, n_top: int = 20,
                       progress: bool = False) -> Path:
    """Word factors of a GloVe/word2vec file, written as a browser in ``out``.

    Samples words ∝ log frequency (``wordfreq``; uniform if no word is known), fits
    :func:`~reprlab.word_factors.model.fit_word_factors` (checkpointed in
    ``out/checkpoint.pt``, keyed on the settings), saves the model (``WordFactors.save``:
    ``out/word_factors.safetensors`` + ``.json``) and shows each factor's top words
    ("contexts" of one word, scored by their coefficient). Returns the index path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    words, vecs = load_word_vectors(vectors, fmt="word2vec-bin" if binary else "auto",
                                    limit=max_words)
    weights = log_frequency_weights(words)
    wf = fit_word_factors(vecs, words, n_factors=n_factors, lam=lam,
                          weights=weights if float(weights.sum()) > 0 else None,
                          n_steps=n_steps, seed=seed, checkpoint=out / "checkpoint.pt",
                          progress=progress)
    wf.save(out)
    vals, idx = torch.topk(wf.codes, min(n_top, wf.codes.shape[0]), dim=0)  # (n_top, K)
    top = [[(wf.words[int(i)], float(v)) for v, i in zip(vals[:, f], idx[:, f]) if v > 0]
           for f in range(wf.n_factors)]
    m = wf.metrics()
    return write_browser(out, word_factor_views(top), title=f"Word factors of {Path(vectors).name}",
                         meta={"words": len(words), "factors": n_factors, "lambda": lam,
                               "FVU": round(m["fvu"], 3), "L0": round(m["l0"], 2)})
