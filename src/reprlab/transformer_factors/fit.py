"""Fitting transformer factors: one sparse dictionary for the hidden states of every layer.

Yun, Chen, Olshausen & LeCun, *Transformer visualization via dictionary learning:
contextualized embedding as a linear superposition of transformer factors* (arXiv:2103.15949).
A hidden state :math:`x^{(l)}_t` of token ``t`` at layer ``l`` is written as a sparse
non-negative superposition of the factors of one dictionary shared by all layers,
:math:`x^{(l)}_t \\approx \\Phi \\alpha^{(l)}_t,\\ \\alpha \\ge 0` (FISTA in
:mod:`reprlab.sparse`). A factor is shown through the contexts whose token activates it
most, per layer; its importance :math:`I_c(l)` is the mean of its top-``n`` activations at
layer ``l`` (:func:`~reprlab.transformer_factors.core.layer_importance`).

:func:`fit_transformer_factors` streams hidden states (or reads a :class:`StateCache`),
takes dictionary steps on shuffled, normalised, frequency-weighted tokens of all layers
(pass 1), then codes every token with the dictionary fixed (pass 2) for top contexts,
importance curves, per-layer FVU and L0. The result, :class:`TransformerFactors`, saves to
and loads from a folder (``save(dir)`` / ``TransformerFactors.load(dir)``: safetensors +
JSON) and encodes new text (:mod:`reprlab.transformer_factors.model`).

Deviations from the official code (``zeyuyun1/TransformerVis``), stated for CPU scale:

* Official: raw BERT-base hidden states. MiniLM-L6's states differ in norm by ~2.5x across
  layers and share a large per-layer mean, so by default each layer's states are centred by
  that layer's mean (first ``stats_contexts`` contexts) and scaled to unit norm
  (``normalize="center_unit"``); ``normalize="none"`` is the official setting. λ is on the
  unit-norm scale (default 0.1; the paper's 0.3 is for raw BERT vectors of norm ~15-25).
* Paper: 2,000 factors for 768 dimensions; scaled to 384-d MiniLM that is 1,000. All hidden
  states are used (the official code uses every other BERT layer).
* Each token's gradient weight is ``1/sqrt(count)`` of its word piece, as the official code
  divides the residual by ``sqrt(frequency)``.
* Contexts are tokenised without special tokens, as the official code
  (``add_special_tokens`` in :class:`TransformerFactorsConfig` turns them on).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reprlab.transformer_factors.core import (
    NORMALIZE_MODES,
    layer_importance,
    normalize_states,
    peak_kinds,
)
from reprlab.transformer_factors.encoder import (
    Encoder,
    HiddenStateBatch,
    StateCache,
    TokenizedContexts,
    iter_hidden_states,
    load_encoder,
    tokenize_contexts,
)
from reprlab.transformer_factors.engine import FactorEngine
from reprlab.utils import check_finite, progress_bar

__all__ = ["TopActivations", "LayerStats", "TransformerFactorsConfig", "TransformerFactors",
           "fit_transformer_factors", "context_fingerprint"]

log = logging.getLogger(__name__)

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
    ``max_length`` word pieces per context; ``add_special_tokens`` feed [CLS]/[SEP]/BOS
    (official: no); ``top_k`` contexts kept per factor and layer; ``importance_n`` top
    activations averaged in I(l); ``stats_contexts`` contexts for the per-layer means;
    ``frequency_weighting`` 1/sqrt(count) token weights; ``working_set`` the working-set
    size :func:`reprlab.sparse.sparse_encode` codes with (None: the engine's default);
    ``track_words`` single-piece words whose occurrences' codes are kept (≤ ``track_max``)
    for polysemy; ``device`` where the dictionary and codes live.
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
    tol: float = 1e-4
    learn_fraction: float = 1.0
    lr: float = 0.005
    bias_correction: bool = False
    resample_every: int = 0
    max_length: int = 64
    add_special_tokens: bool = False
    top_k: int = 20
    importance_n: int = 10
    stats_contexts: int = 200
    frequency_weighting: bool = True
    working_set: int | None = None
    track_words: tuple[str, ...] = ()
    track_max: int = 200
    seed: int = 0
    device: str = "cpu"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first invalid setting."""
        def _int(name: str, lo: int) -> None:
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= lo):
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")

        for name in ("n_factors", "epochs", "context_batch", "code_batch", "max_iter",
                     "encode_max_iter", "top_k", "importance_n", "stats_contexts",
                     "track_max"):
            _int(name, 1)
        _int("max_length", 3)
        _int("resample_every", 0)
        if not self.lam >= 0:
            raise ValueError(f"lam must be >= 0, got {self.lam!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, "
                             f"got {self.normalize!r}")
        if not 0 < self.learn_fraction <= 1:
            raise ValueError(f"learn_fraction must be in (0, 1], got {self.learn_fraction!r}")
        if not self.importance_n <= self.top_k:
            raise ValueError(f"importance_n must be in [1, top_k={self.top_k}], "
                             f"got {self.importance_n}")
        if self.working_set is not None and not (isinstance(self.working_set, int)
                                                 and self.working_set >= 1):
            raise ValueError(f"working_set must be None or an int >= 1, got "
                             f"{self.working_set!r}")
        if self.layers is not None and (not self.layers or any(
                not isinstance(v, int) or v < 0 for v in self.layers)):
            raise ValueError(f"layers must be None or non-negative ints, got {self.layers!r}")


_FORMAT = "reprlab-transformer-factors"
_FORMAT_VERSION = 1


def context_fingerprint(texts: Sequence[str]) -> str:
    """SHA-256 of the contexts (keys checkpoints on the data they were fitted on)."""
    import hashlib

    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class TransformerFactors:
    """A fitted factor model and everything the browser and the claims need.

    Attributes
    ----------
    config : TransformerFactorsConfig
    dictionary : Tensor, shape (n_factors, d) — unit-norm factors as rows
    layers : list of int — which ``hidden_states`` were used (0 = embeddings)
    mean : Tensor, shape (n_layers, 1, d) — per-layer means used by the normalisation
    contexts : TokenizedContexts — the contexts the top activations point into
    top : TopActivations
    importance : Tensor, shape (n_factors, n_layers)
    peaks : LongTensor, shape (n_factors,); kinds : list of str
    fvu, l0 : list of float per layer; dead_fraction : float
    tracked : dict word -> {"codes": (n_layers, n_occ, K), "context", "position"} (not saved)
    model_name : the encoder a saved model reloads (``load_encoder(model_name)``)
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
    tracked: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    engine: FactorEngine | None = None
    model_name: str = ""

    @property
    def n_factors(self) -> int:
        return int(self.dictionary.shape[0])

    def get_engine(self) -> FactorEngine:
        """The engine that encodes with this dictionary (rebuilt after :meth:`load`)."""
        if self.engine is None:
            self.engine = FactorEngine.from_dictionary(
                self.dictionary, lam=self.config.lam, max_iter=self.config.encode_max_iter,
                tol=self.config.tol, working_set=self.config.working_set,
                device=self.config.device)
        return self.engine

    def layer_name(self, layer_index: int) -> str:
        layer = self.layers[layer_index]
        return "emb" if layer == 0 else f"L{layer}"

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

    def active_factors(self) -> list[int]:
        """Factors with a non-zero importance at some layer."""
        return [f for f in range(self.n_factors) if float(self.importance[f].max()) > 0]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``factors.safetensors`` (tensors) and ``factors.json`` (config, layers,
        kinds, metrics, contexts, encoder name) into ``directory``, each atomically; the
        JSON, written last, holds the SHA-256 of the tensors so a half-written pair is
        detected on :meth:`load`. Tracked-word codes are not saved."""
        import dataclasses
        import hashlib
        import json

        from safetensors.torch import save as st_save

        from reprlab.checkpoint import atomic_write_bytes, atomic_write_text, check_writable_dir

        out = check_writable_dir(directory, "directory")
        tensors = {"dictionary": self.dictionary, "mean": self.mean,
                   "importance": self.importance, "peaks": self.peaks,
                   "top_values": self.top.values, "top_context": self.top.context,
                   "top_position": self.top.position}
        blob = st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        atomic_write_bytes(out / "factors.safetensors", blob)
        c = self.contexts
        meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "model": self.model_name,
                "config": dataclasses.asdict(self.config), "layers": list(self.layers),
                "kinds": list(self.kinds), "fvu": list(self.fvu), "l0": list(self.l0),
                "dead_fraction": float(self.dead_fraction), "seconds": dict(self.seconds),
                "contexts": {"texts": c.texts, "tokens": c.tokens, "ids": c.ids,
                             "full_ids": c.full_ids, "start": c.start},
                "tensors_sha256": hashlib.sha256(blob).hexdigest()}
        atomic_write_text(out / "factors.json", json.dumps(meta))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TransformerFactors:
        """A model written by :meth:`save`; ``ValueError`` names a missing, foreign or
        mismatched file."""
        import hashlib
        import json

        from safetensors.torch import load as st_load

        d = Path(directory)
        jpath, tpath = d / "factors.json", d / "factors.safetensors"
        for p in (jpath, tpath):
            if not p.is_file():
                raise FileNotFoundError(f"{p} not found: directory={str(d)!r} must hold a "
                                        "model written by TransformerFactors.save")
        try:
            meta = json.loads(jpath.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{jpath} is not valid JSON ({err}); save the model again") from err
        if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{jpath} is not a {_FORMAT} v{_FORMAT_VERSION} file "
                             f"(format={meta.get('format')!r}, version={meta.get('version')!r})")
        blob = tpath.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
            raise ValueError(f"{tpath} does not match {jpath} (an interrupted or mixed save); "
                             "save the model again")
        t = st_load(blob)
        cfg_d = dict(meta["config"])
        for k in ("layers", "track_words"):
            if cfg_d.get(k) is not None:
                cfg_d[k] = tuple(cfg_d[k])
        cfg = TransformerFactorsConfig(**cfg_d)
        c = meta["contexts"]
        ctx = TokenizedContexts(c["texts"], c["tokens"], c["ids"], c["full_ids"], c["start"])
        n_layers, k_f, top_k = t["top_values"].shape
        top = TopActivations(n_layers, k_f, top_k)
        top.values, top.context, top.position = (t["top_values"], t["top_context"],
                                                 t["top_position"])
        return cls(config=cfg, dictionary=t["dictionary"], layers=list(meta["layers"]),
                   mean=t["mean"], contexts=ctx, top=top, importance=t["importance"],
                   peaks=t["peaks"], kinds=list(meta["kinds"]), fvu=list(meta["fvu"]),
                   l0=list(meta["l0"]), dead_fraction=float(meta["dead_fraction"]),
                   seconds=dict(meta.get("seconds", {})), model_name=str(meta["model"]))


def _as_encoder(encoder: Any) -> Encoder:
    if isinstance(encoder, Encoder):
        return encoder
    if isinstance(encoder, tuple) and len(encoder) == 2:
        return Encoder(encoder[0], encoder[1], "")
    raise TypeError(f"encoder must be an Encoder (load_encoder) or (tokenizer, model), got "
                    f"{type(encoder).__name__}")


def _normalizer_mean(source: Callable[[list[int]], HiddenStateBatch], keep: list[int], *,
                     n_contexts: int, batch_size: int) -> torch.Tensor:
    total, count = None, 0
    first = keep[:n_contexts]
    for s in range(0, len(first), batch_size):
        batch = source(first[s:s + batch_size])
        sm = batch.states.double().sum(1, keepdim=True)
        total = sm if total is None else total + sm
        count += batch.states.shape[1]
    if total is None or count == 0:
        raise ValueError("contexts produced no tokens; give non-empty text")
    return (total / count).float()


def fit_transformer_factors(contexts: Sequence[str] | TokenizedContexts, *,
                            config: TransformerFactorsConfig | None = None,
                            model: str | Path | None = None,
                            encoder: Encoder | tuple[Any, torch.nn.Module] | None = None,
                            states: StateCache | None = None,
                            engine_factory: Callable[..., FactorEngine] | None = None,
                            dictionary: torch.Tensor | None = None,
                            mean: torch.Tensor | None = None, views: bool = True,
                            checkpoint: str | Path | None = None, checkpoint_every: int = 50,
                            progress: bool = False) -> TransformerFactors:
    """Learn one dictionary for the hidden states of all layers and collect factor views.

    Pass 1 (``config.epochs`` times) takes dictionary steps on shuffled, normalised,
    frequency-weighted tokens of all layers, chunk by chunk. Pass 2 codes every token with
    the dictionary fixed: each factor's top contexts, its importance curve, per-layer FVU
    and L0.

    Parameters
    ----------
    contexts : list of str or TokenizedContexts
    config : TransformerFactorsConfig
    model : str or Path, optional
        Any ``AutoModel`` name/path, ``"smollm2"`` or a ``.gguf`` path (default MiniLM-L6);
        ignored when ``encoder`` is given.
    encoder : Encoder from :func:`load_encoder` (or ``(tokenizer, model)``), optional
    states : StateCache, optional
        Hidden states of ``contexts`` already computed (:func:`collect_states`): no
        forward pass is run. Several dictionaries (seeds, controls) can share one.
    engine_factory : callable, optional
        ``(n_factors, dim, lam=, seed=, max_iter=, tol=, lr=, bias_correction=,
        resample_every=, device=) -> FactorEngine``.
    dictionary : Tensor (K, d), optional
        Skip pass 1 and collect the views of this fixed dictionary (the controls: a random
        dictionary, or a learned one on other contexts).
    mean : Tensor (n_layers, 1, d), optional
        Per-layer means to normalise with (those of the fit, when coding other contexts
        with its ``dictionary``); default: estimated on the first contexts.
    views : bool
        ``False`` skips pass 2 (no top contexts, importance or metrics: a dictionary only).
    checkpoint : path, optional
        Progress saved there every ``checkpoint_every`` chunks (atomic, keyed on the config
        and the contexts; other settings start fresh).

    Returns
    -------
    TransformerFactors
    """
    from reprlab.checkpoint import load_checkpoint, save_checkpoint

    cfg = config or TransformerFactorsConfig()
    cfg.check()
    if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
        raise ValueError(f"checkpoint_every must be an int >= 1, got {checkpoint_every!r}")
    enc = _as_encoder(encoder) if encoder is not None else load_encoder(model,
                                                                        device=cfg.device)
    tokenizer, net = enc.tokenizer, enc.model
    ctx = contexts if isinstance(contexts, TokenizedContexts) else tokenize_contexts(
        tokenizer, contexts, max_length=cfg.max_length,
        add_special_tokens=cfg.add_special_tokens)
    keep = [i for i, ids in enumerate(ctx.ids) if ids]
    if not keep:
        raise ValueError("contexts are empty after tokenisation")
    layers = list(cfg.layers) if cfg.layers is not None else list(
        range(net.config.num_hidden_layers + 1))
    n_layers = len(layers)
    dim = int(net.config.hidden_size)
    if dictionary is not None and tuple(dictionary.shape) != (cfg.n_factors, dim):
        raise ValueError(f"dictionary must have shape ({cfg.n_factors}, {dim}), got "
                         f"{tuple(dictionary.shape)}")
    gen = torch.Generator().manual_seed(cfg.seed)
    seconds: dict[str, float] = {}

    def source(chunk: list[int]) -> HiddenStateBatch:
        if states is not None:
            return states.batch(chunk)
        return next(iter_hidden_states(net, tokenizer, ctx, layers=layers,
                                       batch_size=len(chunk), indices=chunk))

    t0 = time.perf_counter()
    if mean is not None:
        if tuple(mean.shape) != (n_layers, 1, dim):
            raise ValueError(f"mean must have shape ({n_layers}, 1, {dim}), got "
                             f"{tuple(mean.shape)}")
        mean = mean.float()
    elif cfg.normalize == "center_unit":
        mean = _normalizer_mean(source, keep, n_contexts=cfg.stats_contexts,
                                batch_size=cfg.context_batch)
    else:
        mean = torch.zeros(n_layers, 1, dim)
    counts = ctx.token_counts()
    if dictionary is not None:
        engine = FactorEngine.from_dictionary(dictionary, lam=cfg.lam,
                                              max_iter=cfg.encode_max_iter, tol=cfg.tol,
                                              working_set=cfg.working_set, device=cfg.device)
    else:
        factory = engine_factory or FactorEngine
        kw = {} if cfg.working_set is None else {"working_set": cfg.working_set}
        engine = factory(cfg.n_factors, dim, lam=cfg.lam, seed=cfg.seed, max_iter=cfg.max_iter,
                         tol=cfg.tol, lr=cfg.lr, bias_correction=cfg.bias_correction,
                         resample_every=cfg.resample_every, device=cfg.device, **kw)

    def prep(batch: HiddenStateBatch) -> torch.Tensor:
        x = normalize_states(batch.states.to(cfg.device), mean=mean.to(cfg.device),
                             mode=cfg.normalize)
        check_finite("hidden states", x)
        return x

    import dataclasses

    settings = {"config": dataclasses.asdict(cfg), "contexts": context_fingerprint(ctx.texts),
                "model": enc.name, "layers": layers,
                "fixed_dictionary": None if dictionary is None else
                context_fingerprint([str(dictionary.double().sum().item())])}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    resume: dict[str, Any] = {}
    if ckpt is not None:
        resume = load_checkpoint(ckpt, settings=settings, on_mismatch="fresh") or {}
        if resume:
            log.info("resuming transformer factors from %s (phase %s)", ckpt, resume["phase"])
            mean = resume["mean"]
            engine.load_state_dict(resume["engine"])

    def save(state: dict[str, Any]) -> None:
        if ckpt is not None:
            save_checkpoint(ckpt, {**state, "mean": mean, "engine": engine.state_dict()},
                            settings=settings)

    def chunks(indices: list[int]) -> list[list[int]]:
        return [indices[i:i + cfg.context_batch]
                for i in range(0, len(indices), cfg.context_batch)]

    # pass 1: dictionary learning on streamed chunks
    first_epoch, first_chunk = 0, 0
    if resume.get("phase") == 1:
        first_epoch, first_chunk = resume["epoch"], resume["chunk"]
        gen.set_state(resume["gen"])
    elif resume.get("phase") == 2 or dictionary is not None:
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
            batch = source(plan[k])
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
    phi = engine.dictionary.detach().float().cpu()
    track_ids = {}
    for word in cfg.track_words:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            track_ids[ids[0]] = word
        if cfg.add_special_tokens is False:
            sp = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
            if len(sp) == 1:  # BPE tokenizers mark a word start with a leading space
                track_ids[sp[0]] = word
    if resume.get("phase") == 2:
        top, stats, tracked = resume["top"], resume["stats"], resume["tracked"]
        first_chunk = resume["chunk"]
    else:
        top = TopActivations(n_layers, cfg.n_factors, cfg.top_k)
        stats = LayerStats(n_layers, cfg.n_factors)
        tracked = {w: {"codes": [], "context": [], "position": []} for w in track_ids.values()}
        first_chunk = 0
        save({"phase": 2, "chunk": 0, "top": top, "stats": stats, "tracked": tracked})
    plan = chunks(keep) if views else []
    for k in progress_bar(range(first_chunk, len(plan)), enabled=progress,
                          desc="factor codes"):
        batch = source(plan[k])
        x = prep(batch)
        hit = [(i, track_ids[int(t)]) for i, t in enumerate(batch.token_id.tolist())
               if int(t) in track_ids]
        n_tok = x.shape[1]
        flat = x.reshape(-1, dim)
        codes_all = torch.cat([engine.encode(flat[s:s + cfg.code_batch],
                                             max_iter=cfg.encode_max_iter)
                               for s in range(0, flat.shape[0], cfg.code_batch)]
                              ).float().cpu().reshape(n_layers, n_tok, -1)
        hit_codes = []
        for li in range(n_layers):
            codes = codes_all[li]
            stats.update(li, x[li].cpu(), codes, codes @ phi)
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
        config=cfg, dictionary=phi, layers=layers, mean=mean, contexts=ctx, top=top,
        importance=importance, peaks=peaks, kinds=kinds, fvu=stats.fvu(), l0=stats.l0(),
        dead_fraction=stats.dead_fraction(), tracked=tracked_out, seconds=seconds,
        engine=engine, model_name=enc.name)
