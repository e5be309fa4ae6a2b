"""``reprlab reproduce transformer_factors``: transformer factors (arXiv:2103.15949).

One dictionary for MiniLM-L6's hidden states of every layer, learned on the training split
of sentences from gensim's offline Wikipedia articles and Lee news corpus; every claim is
measured on the **held-out** contexts three ways — the learned dictionary on the real
contexts, a random dictionary of the same size on the real contexts, and the learned
dictionary on the same contexts with their words shuffled — and passes only by the margin
written in its :class:`~reprlab.claims.ClaimSpec` over the best control, with a one-sided
permutation test (:mod:`reprlab.factors.stats`), over ≥ 3 seeds (dictionary init and split).
Writes the factor browser under ``<out>/factors/browser/`` and the fitted model (safetensors
+ JSON) under ``<out>/transformer_factors/model/``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.factors.stats import (
    paired_permutation_p,
    random_dictionary,
    two_sample_permutation_p,
)
from reprlab.registry import register_method
from reprlab.report import MethodReport
from reprlab.transformer_factors.attribution import token_attribution, word_sense_split
from reprlab.transformer_factors.core import KINDS
from reprlab.transformer_factors.encoder import (
    collect_states,
    load_encoder,
    tokenize_contexts,
)
from reprlab.transformer_factors.fit import (
    TransformerFactors,
    TransformerFactorsConfig,
    fit_transformer_factors,
)
from reprlab.transformer_factors.text import (
    gensim_documents,
    make_contexts,
    make_windows,
    select_contexts,
    shuffle_context_words,
)

__all__ = ["RunConfig", "TINY", "QUICK", "FULL", "CLAIMS", "run"]

POLYSEMOUS = ("state", "court", "power", "order", "party", "present", "right", "bank", "light",
              "interest", "play", "charge", "fire", "line", "case", "field", "head", "spring")


@dataclass
class RunConfig:
    """One transformer-factor reproduction run."""

    n_contexts: int = 150
    windows: bool = False          # sentences (quick) or overlapping windows (full)
    window_words: int = 32
    window_stride: int = 8
    max_articles: int | None = None
    polysemy_words: tuple[str, ...] = POLYSEMOUS[:8]
    per_word: int = 10
    heldout_fraction: float = 0.5  # contexts never used for learning; every claim is scored there
    n_seeds: int = 3
    min_occurrences: int = 4       # a tracked word needs this many held-out occurrences
    n_attributions: int = 8        # per seed and condition, half word-level, half higher
    lime_samples: int = 32
    browser_contexts: int = 8
    sae_epochs: int = 10
    n_perm: int = 2000
    cache_states: bool = True      # hold all hidden states in memory (one forward pass)
    factors: TransformerFactorsConfig = field(default_factory=TransformerFactorsConfig)
    model: str | None = None


_CUDA = "cuda" if torch.cuda.is_available() else "cpu"

TINY = RunConfig(
    n_contexts=24, max_articles=6, polysemy_words=POLYSEMOUS[:3], per_word=4,
    heldout_fraction=0.5, min_occurrences=2, n_attributions=2, lime_samples=6,
    browser_contexts=3, sae_epochs=1, n_perm=100,
    factors=TransformerFactorsConfig(
        n_factors=32, lam=0.1, epochs=1, learn_fraction=0.3, max_iter=15, encode_max_iter=15,
        lr=0.3, bias_correction=True, context_batch=24, code_batch=2048, max_length=24,
        top_k=5, importance_n=3, stats_contexts=12))
QUICK = RunConfig(
    n_contexts=140, max_articles=50, per_word=12, n_attributions=8, lime_samples=32,
    sae_epochs=8,
    factors=TransformerFactorsConfig(
        n_factors=256, lam=0.1, epochs=1, learn_fraction=0.5, max_iter=30, encode_max_iter=30,
        lr=0.3, bias_correction=True, context_batch=40, code_batch=2048, max_length=40,
        top_k=10, importance_n=5, stats_contexts=80))
FULL = RunConfig(
    n_contexts=50_000, windows=True, polysemy_words=POLYSEMOUS, per_word=200,
    heldout_fraction=0.2, min_occurrences=10, n_attributions=40, lime_samples=256,
    browser_contexts=8, sae_epochs=20, n_perm=10_000, cache_states=False,
    factors=TransformerFactorsConfig(
        n_factors=1000, lam=0.1, epochs=2, learn_fraction=1.0, max_iter=300,
        encode_max_iter=300, lr=0.005, bias_correction=False, context_batch=32,
        code_batch=1024, top_k=50, importance_n=20, stats_contexts=1000, track_max=400,
        device=_CUDA))

_DATA = "MiniLM-L6 hidden states of gensim's Wikipedia + Lee sentences (held-out split)"
_CONTROL = ("a random dictionary of the same size (unit Gaussian atoms, same λ), and the "
            "learned dictionary on the same held-out contexts with their words shuffled; "
            "the effect is real − the better control, with a one-sided permutation test")
_P = Criterion("p", "permutation-test p-value (mean over seeds)", reproduced=0.05, partial=0.2,
               higher_is_better=False)

POLYSEMY = ClaimSpec(
    name="Word-level polysemy disambiguation",
    paper_value="qualitative: contexts of a polysemous word activate different factors by "
                "sense (figures)", paper_dataset="BERT-base, Wikipedia", dataset=_DATA,
    criteria=(Criterion("effect", "code/context alignment at a middle layer: real − best "
                        "control (Spearman ρ)", reproduced=0.05, partial=0.0, null=0.0), _P),
    baseline="the same measurement on the controls (no sense labels offline: context "
             "similarity is the sense proxy)", control=_CONTROL, min_seeds=3)
SENTENCE = ClaimSpec(
    name="Sentence-level patterns (mid layers)",
    paper_value="qualitative: mid-layer factors fire on phrase/sentence patterns rather than "
                "one word", paper_dataset="BERT-base, Wikipedia", dataset=_DATA,
    criteria=(Criterion("effect", "word diversity of top contexts, mid-peaking − early-"
                        "peaking factors: real − best control", reproduced=0.1, partial=0.0,
                        null=0.0), _P),
    baseline="the same gap on the controls", control=_CONTROL, min_seeds=3)
PEAKS = ClaimSpec(
    name="Layer-importance peaks: word-level, sentence-level and long-range factors",
    paper_value="three kinds of factors, peaking in early / middle / late layers",
    paper_dataset="BERT-base (12 layers)", dataset=_DATA,
    criteria=(Criterion("effect", "importance-curve peak sharpness (max/mean of I(l)): real − "
                        "best control", reproduced=0.2, partial=0.0, null=0.0), _P,
              Criterion("min_share", "smallest share of active factors of one kind",
                        reproduced=0.05, partial=0.02)),
    baseline="the same curves on the controls", control=_CONTROL, min_seeds=3)
SPARSE = ClaimSpec(
    name="Sparse superposition: FVU and L0 per layer",
    paper_value="x ≈ Φα, α ≥ 0 sparse (no per-layer figures given; official code logs SNR)",
    paper_dataset="BERT-base", dataset=_DATA,
    criteria=(Criterion("fvu_gain", "held-out FVU of the random dictionary − of the learned "
                        "one (mean over layers)", reproduced=0.1, partial=0.0, null=0.0),
              Criterion("l0_share", "largest per-layer mean L0 / K (held out)",
                        reproduced=0.05, partial=0.1, higher_is_better=False)),
    baseline="a random dictionary of the same size at the same λ",
    control="random dictionary (same size, same λ)", min_seeds=3)
LIME = ClaimSpec(
    name="LIME token attribution finds the driving words",
    paper_value="qualitative: word-level factors are driven by the word itself, higher-level "
                "ones by context words", paper_dataset="BERT-base", dataset=_DATA,
    criteria=(Criterion("effect", "share of attributions whose top token is the activating "
                        "token, word-level − higher-level factors: real − random dictionary",
                        reproduced=0.2, partial=0.0, null=0.0),),
    baseline="the same LIME procedure on a random dictionary's factors",
    control="random dictionary of the same size", min_seeds=3)
CLAIMS = (POLYSEMY, SENTENCE, PEAKS, SPARSE, LIME)


# ------------------------------------------------------------------------------ measures
def _distinct_ratio(tf: TransformerFactors, f: int, n: int = 10) -> float:
    tops = tf.top_contexts(f, int(tf.peaks[f]), n)
    if len(tops) < 2:
        return float("nan")
    return len({tf.contexts.tokens[c][p] for _, c, p in tops}) / len(tops)


def _polysemy_corr(tf: TransformerFactors, min_occ: int) -> dict[str, float]:
    mid = len(tf.layers) // 2
    out = {}
    for word, rec in tf.tracked.items():
        if len(rec["context"]) < min_occ:
            continue
        r = word_sense_split(tf, word, mid)["code_context_corr"]
        out[word] = 0.0 if math.isnan(r) else float(r)  # empty codes carry no alignment
    return out


def _diversity_gap(tf: TransformerFactors) -> tuple[float, list[float], list[float]]:
    active = tf.active_factors()
    mid = [_distinct_ratio(tf, f) for f in active if tf.kinds[f] == "sentence-level"]
    early = [_distinct_ratio(tf, f) for f in active if tf.kinds[f] == "word-level"]
    mid = [v for v in mid if not math.isnan(v)]
    early = [v for v in early if not math.isnan(v)]
    if not mid or not early:
        return 0.0, mid, early
    return float(np.mean(mid) - np.mean(early)), mid, early


def _sharpness(tf: TransformerFactors) -> list[float]:
    imp = tf.importance[tf.active_factors()]
    if imp.numel() == 0:
        return []
    return (imp.max(1).values / imp.mean(1).clamp_min(1e-12)).tolist()


def _kind_shares(tf: TransformerFactors) -> dict[str, float]:
    active = tf.active_factors()
    c = Counter(tf.kinds[f] for f in active)
    return {k: c.get(k, 0) / max(len(active), 1) for k in KINDS}


def _lime_hits(tf: TransformerFactors, encoder: Any, cfg: RunConfig, seed: int
               ) -> dict[str, list[float]]:
    """Hit (top-weighted token = activating token) per sampled factor, by word/higher."""
    rng = np.random.default_rng(seed)
    active = tf.active_factors()
    groups = {"word": [f for f in active if tf.kinds[f] == "word-level"],
              "higher": [f for f in active if tf.kinds[f] != "word-level"]}
    hits: dict[str, list[float]] = {"word": [], "higher": []}
    half = max(1, cfg.n_attributions // 2)
    for g, fs in groups.items():
        for f in rng.permutation(fs)[:half].tolist():
            li = int(tf.peaks[f])
            tops = tf.top_contexts(f, li, 1)
            if not tops:
                continue
            _, c, p = tops[0]
            if len(tf.contexts.ids[c]) < 2:
                continue
            w = token_attribution(tf, encoder, c, p, f, li, n_samples=cfg.lime_samples,
                                  seed=seed)
            hits[g].append(float(int(w.argmax()) == p))
    return hits


def _lime_gap(hits: dict[str, list[float]]) -> float:
    if not hits["word"] or not hits["higher"]:
        return 0.0
    return float(np.mean(hits["word"]) - np.mean(hits["higher"]))


def _normalized_rows(tf: TransformerFactors, states: Any, idx: list[int]) -> torch.Tensor:
    from reprlab.transformer_factors.core import normalize_states

    parts = [normalize_states(states.per_context[i].float(), mean=tf.mean,
                              mode=tf.config.normalize) for i in idx]
    x = torch.cat(parts, dim=1)
    return x.reshape(-1, x.shape[-1])


def _sae_rows(tf: TransformerFactors, train_states: Any, held_states: Any, train_idx: list[int],
              held_idx: list[int], cfg: RunConfig, seed: int, work: Any) -> list[dict]:
    """TopK SAE (AuxK) trained on the training contexts, scored on held-out ones, beside
    sparse coding with the learned dictionary; round trip through the SAELens format."""
    from reprlab.factors.sae import (
        evaluate_codes,
        export_saelens,
        import_saelens,
        train_topk_sae,
    )

    x_tr = _normalized_rows(tf, train_states, train_idx)
    x_te = _normalized_rows(tf, held_states, held_idx)
    t = time.perf_counter()
    eng = tf.get_engine()
    codes = torch.cat([eng.encode(x_te[s:s + 4096]) for s in range(0, x_te.shape[0], 4096)])
    t_sc = time.perf_counter() - t
    sc = evaluate_codes(x_te, codes, codes @ tf.dictionary)
    k = max(1, int(round(sc["L0"])))
    sae, info = train_topk_sae(x_tr, n_latents=tf.n_factors, k=k, epochs=cfg.sae_epochs,
                               seed=seed)
    with torch.no_grad():
        t = time.perf_counter()
        z = sae.encode(x_te)
        xh = sae.decode(z)
        t_sae = time.perf_counter() - t
    sa = evaluate_codes(x_te, z, xh)
    rt = None
    if work is not None:
        folder = export_saelens(sae, work / f"saelens-seed{seed}")
        back = import_saelens(folder)
        with torch.no_grad():
            rt = float((back(x_te) - xh).abs().max())
    n = x_te.shape[0]
    return [
        {"model": "non-negative sparse coding (FISTA, learned dictionary)", "seed": seed,
         **{k2: round(v, 4) for k2, v in sc.items()}, "train_vectors": x_tr.shape[0],
         "heldout_vectors": n, "encode_ms_per_1k": round(1e6 * t_sc / n, 2)},
        {"model": f"TopK SAE + AuxK (k={k}, {cfg.sae_epochs} epochs Adam)", "seed": seed,
         **{k2: round(v, 4) for k2, v in sa.items()}, "train_vectors": x_tr.shape[0],
         "heldout_vectors": n, "encode_ms_per_1k": round(1e6 * t_sae / n, 2),
         "saelens_roundtrip_max_abs_diff": rt},
    ]


# ------------------------------------------------------------------------------ run
def _contexts(cfg: RunConfig, seed: int) -> list[str]:
    docs = gensim_documents(max_articles=cfg.max_articles)
    if cfg.windows:
        pool = make_windows(docs, words=cfg.window_words, stride=cfg.window_stride, seed=seed)
    else:
        pool = make_contexts(docs, seed=seed)
    return select_contexts(pool, words=cfg.polysemy_words, per_word=cfg.per_word,
                           n_total=cfg.n_contexts, seed=seed)


def _figure(report: MethodReport, tf: TransformerFactors) -> None:
    from reprlab.report.plots import plt

    names = [tf.layer_name(i) for i in range(len(tf.layers))]
    active = tf.active_factors()
    if not active:
        return
    imp = tf.importance[active]
    imp = imp / imp.max(1, keepdim=True).values.clamp_min(1e-12)
    order = sorted(range(len(active)), key=lambda i: (int(tf.peaks[active[i]]),
                                                      -float(imp[i].max())))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].imshow(imp[order].numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    axes[0].set_xticks(range(len(names)), names)
    axes[0].set_ylabel("factor (sorted by peak layer)")
    axes[0].set_title("normalised importance I(l)")
    peaks = Counter(int(tf.peaks[f]) for f in active)
    axes[1].bar(names, [peaks.get(i, 0) for i in range(len(names))], color="#1f6feb")
    axes[1].set_title("factors per peak layer")
    axes[2].plot(names, tf.fvu, "o-", label="FVU")
    ax2 = axes[2].twinx()
    ax2.plot(names, tf.l0, "s--", color="#d1242f", label="L0")
    axes[2].set_ylabel("held-out FVU")
    ax2.set_ylabel("mean L0", color="#d1242f")
    axes[2].set_title("reconstruction per layer (held out)")
    fig.tight_layout()
    report.add_figure("Transformer factors: importance, peaks, FVU/L0", fig,
                      "MiniLM-L6 hidden states (emb + 6 layers), one shared dictionary, "
                      "held-out contexts of the first seed.")


@register_method(
    "transformer_factors",
    summary="one sparse dictionary for every layer's hidden states of a transformer",
    paper="arXiv:2103.15949", claims=CLAIMS,
    configs={"tiny": TINY, "quick": QUICK, "full": FULL},
    seconds={"tiny": 15, "quick": 90, "full": 5400})
def run(ctx: Any, cfg: RunConfig) -> MethodReport:
    """Fit on the training split per seed, score every claim on the held-out split against
    the random-dictionary and shuffled-context controls; write the browser and the model."""
    from reprlab.factors.browser import write_browser
    from reprlab.transformer_factors.views import factor_views

    report = ctx.new_report()
    t_start = time.perf_counter()
    contexts = _contexts(cfg, ctx.seed)
    shuffled = shuffle_context_words(contexts, seed=ctx.seed + 7)
    fcfg = replace(cfg.factors, track_words=tuple(dict.fromkeys(cfg.factors.track_words
                                                                + cfg.polysemy_words)))
    enc = load_encoder(cfg.model, device=fcfg.device)
    real_tc = tokenize_contexts(enc.tokenizer, contexts, max_length=fcfg.max_length,
                                add_special_tokens=fcfg.add_special_tokens)
    shuf_tc = tokenize_contexts(enc.tokenizer, shuffled, max_length=fcfg.max_length,
                                add_special_tokens=fcfg.add_special_tokens)
    layers = list(fcfg.layers) if fcfg.layers is not None else list(range(enc.n_layers))
    real_states = collect_states(enc, real_tc, layers=layers,
                                 batch_size=fcfg.context_batch) if cfg.cache_states else None
    shuf_states = collect_states(enc, shuf_tc, layers=layers,
                                 batch_size=fcfg.context_batch) if cfg.cache_states else None
    t_states = time.perf_counter() - t_start
    n = len(contexts)
    n_held = max(2, int(round(cfg.heldout_fraction * n)))

    per: dict[str, list[float]] = {k: [] for k in (
        "poly", "poly_p", "sent", "sent_p", "peak", "peak_p", "min_share", "fvu_gain",
        "l0_share", "lime")}
    detail: dict[str, dict[str, Any]] = {}
    sae_rows: list[dict] = []
    first: dict[str, Any] = {}
    for seed in ctx.seeds(cfg.n_seeds):
        perm = np.random.default_rng(seed).permutation(n).tolist()
        held, train = sorted(perm[:n_held]), sorted(perm[n_held:])
        scfg = replace(fcfg, seed=seed)

        def sub(states: Any, idx: list[int]) -> Any:
            return None if states is None else states.subset(idx)

        def learn(train: list[int] = train, scfg: TransformerFactorsConfig = scfg
                  ) -> dict[str, torch.Tensor]:
            tf0 = fit_transformer_factors(real_tc.subset(train), config=scfg, encoder=enc,
                                          states=sub(real_states, train), views=False,
                                          progress=ctx.progress)
            return {"dictionary": tf0.dictionary, "mean": tf0.mean}

        learned = ctx.store.cached(f"dictionary-seed{seed}", learn)
        rand = random_dictionary(scfg.n_factors, enc.dim, seed=10_000 + seed)

        def views(tc: Any, states: Any, phi: torch.Tensor, held: list[int] = held,
                  scfg: TransformerFactorsConfig = scfg, learned: dict = learned
                  ) -> TransformerFactors:
            return fit_transformer_factors(tc.subset(held), config=scfg, encoder=enc,
                                           states=sub(states, held), dictionary=phi,
                                           mean=learned["mean"])

        tf_real = views(real_tc, real_states, learned["dictionary"])
        tf_rand = views(real_tc, real_states, rand)
        tf_shuf = views(shuf_tc, shuf_states, learned["dictionary"])
        conds = {"real": tf_real, "random dictionary": tf_rand, "shuffled contexts": tf_shuf}

        # polysemy: per word, real − best control
        pc = {k: _polysemy_corr(v, cfg.min_occurrences) for k, v in conds.items()}
        words = [w for w in pc["real"] if all(w in pc[k] for k in pc)]
        diffs = [pc["real"][w] - max(pc["random dictionary"][w], pc["shuffled contexts"][w])
                 for w in words]
        per["poly"].append(float(np.mean(diffs)) if diffs else 0.0)
        per["poly_p"].append(paired_permutation_p(diffs, n_perm=cfg.n_perm, seed=seed)
                             if diffs else 1.0)
        # sentence-level patterns
        gaps = {k: _diversity_gap(v) for k, v in conds.items()}
        best = max(gaps["random dictionary"][0], gaps["shuffled contexts"][0])
        per["sent"].append(gaps["real"][0] - best)
        mid, early = gaps["real"][1], gaps["real"][2]
        per["sent_p"].append(two_sample_permutation_p(mid, early, n_perm=cfg.n_perm, seed=seed)
                             if mid and early else 1.0)
        # importance peaks
        sh = {k: _sharpness(v) for k, v in conds.items()}
        ctrl_key = max(("random dictionary", "shuffled contexts"),
                       key=lambda k: float(np.mean(sh[k])) if sh[k] else -1.0)
        per["peak"].append((float(np.mean(sh["real"])) if sh["real"] else 0.0)
                           - (float(np.mean(sh[ctrl_key])) if sh[ctrl_key] else 0.0))
        per["peak_p"].append(two_sample_permutation_p(sh["real"], sh[ctrl_key],
                                                      n_perm=cfg.n_perm, seed=seed)
                             if sh["real"] and sh[ctrl_key] else 1.0)
        shares = _kind_shares(tf_real)
        per["min_share"].append(min(shares.values()))
        # sparse superposition (held out)
        per["fvu_gain"].append(float(np.mean(tf_rand.fvu) - np.mean(tf_real.fvu)))
        per["l0_share"].append(max(tf_real.l0) / scfg.n_factors)
        # LIME
        h_real = _lime_hits(tf_real, enc, cfg, seed)
        h_rand = _lime_hits(tf_rand, enc, cfg, seed)
        per["lime"].append(_lime_gap(h_real) - _lime_gap(h_rand))
        detail[f"seed {seed}"] = {
            "polysemy ρ real": round(float(np.mean(list(pc["real"].values()) or [0])), 3),
            "polysemy ρ random": round(float(np.mean(list(pc["random dictionary"].values())
                                                     or [0])), 3),
            "polysemy ρ shuffled": round(float(np.mean(list(pc["shuffled contexts"].values())
                                                       or [0])), 3),
            "diversity gap real": round(gaps["real"][0], 3),
            "diversity gap random": round(gaps["random dictionary"][0], 3),
            "diversity gap shuffled": round(gaps["shuffled contexts"][0], 3),
            "sharpness real": round(float(np.mean(sh["real"] or [0])), 3),
            "sharpness random": round(float(np.mean(sh["random dictionary"] or [0])), 3),
            "sharpness shuffled": round(float(np.mean(sh["shuffled contexts"] or [0])), 3),
            "FVU real": round(float(np.mean(tf_real.fvu)), 3),
            "FVU random": round(float(np.mean(tf_rand.fvu)), 3),
            "LIME gap real": round(_lime_gap(h_real), 3),
            "LIME gap random": round(_lime_gap(h_rand), 3),
            "words": len(words)}
        sae_rows += _sae_rows(tf_real, real_states, real_states, train, held, cfg, seed,
                              ctx.store.subfolder(f"sae-seed{seed}")) \
            if real_states is not None else []
        if not first:
            first = {"tf": tf_real, "shares": shares, "held": held}

    m = {k: Measured.from_seeds(v) for k, v in per.items()}
    report.add(POLYSEMY.judge({"effect": m["poly"], "p": m["poly_p"]},
                              detail={k: {kk: vv for kk, vv in v.items() if "polysemy" in kk
                                          or kk == "words"} for k, v in detail.items()},
                              note="Per polysemous word (≥ min_occurrences held-out "
                                   "occurrences): Spearman ρ over pairs of occurrences between "
                                   "code cosine at the middle layer and bag-of-words context "
                                   "cosine; effect = mean over words of real − max(controls); "
                                   "sign-flip permutation test over words."))
    report.add(SENTENCE.judge({"effect": m["sent"], "p": m["sent_p"]},
                              detail={k: {kk: vv for kk, vv in v.items() if "diversity" in kk}
                                      for k, v in detail.items()},
                              note="Diversity = distinct highlighted word pieces among a "
                                   "factor's top-10 held-out contexts at its peak layer; gap = "
                                   "mid-peaking − early-peaking factors; p: permutation test "
                                   "of mid > early on the learned dictionary."))
    report.add(PEAKS.judge({"effect": m["peak"], "p": m["peak_p"], "min_share": m["min_share"]},
                           detail={k: {kk: vv for kk, vv in v.items() if "sharpness" in kk}
                                   for k, v in detail.items()},
                           note="Sharpness = max over layers / mean over layers of a factor's "
                                "importance curve; p: two-sample permutation test of real "
                                "factors vs the better control's; kinds by the third of "
                                "layers holding the peak."))
    report.add(SPARSE.judge({"fvu_gain": m["fvu_gain"], "l0_share": m["l0_share"]},
                            detail={k: {kk: vv for kk, vv in v.items() if "FVU" in kk}
                                    for k, v in detail.items()},
                            note=f"{fcfg.n_factors} factors, λ={fcfg.lam} on centred "
                                 "unit-norm states; FVU and L0 on held-out contexts only."))
    report.add(LIME.judge(m["lime"],
                          detail={k: {kk: vv for kk, vv in v.items() if "LIME" in kk}
                                  for k, v in detail.items()},
                          note=f"LIME occlusion ({cfg.lime_samples} masks, [UNK] replacement, "
                               "cosine kernel, ridge) on the top held-out context of sampled "
                               "word-level and higher-level factors, per seed."))

    # browser + saved model of the first seed
    tf = first["tf"]
    model_dir = ctx.out / "transformer_factors" / "model"
    tf.save(model_dir)
    attributions = {}
    for f in sorted(tf.active_factors(), key=lambda f: -float(tf.importance[f].max()))[:4]:
        li = int(tf.peaks[f])
        tops = tf.top_contexts(f, li, 1)
        if tops and len(tf.contexts.ids[tops[0][1]]) >= 2:
            _, c, p = tops[0]
            attributions[f] = [(c, p, li, token_attribution(tf, enc, c, p, f, li,
                                                            n_samples=cfg.lime_samples,
                                                            seed=ctx.seed))]
    vws = factor_views(tf, factor_ids=tf.active_factors(), n_contexts=cfg.browser_contexts,
                       attributions=attributions)
    write_browser(ctx.out / "factors" / "browser", vws,
                  title=f"{enc.name} transformer factors (held-out contexts)",
                  meta={"model": enc.name, "contexts": len(tf.contexts),
                        "factors": tf.n_factors, "lambda": fcfg.lam})
    _figure(report, tf)
    report.tables["factor_browser"] = [{
        "open": {"href": "factors/browser/index.html",
                 "text": "factors/browser/index.html (or `reprlab factors browse OUT`)"},
        "factors": len(vws), "model": "transformer_factors/model/ (`reprlab factors encode`)"}]
    report.tables["sae_vs_sparse_coding"] = sae_rows
    report.results.update({
        "n_contexts": n, "heldout_contexts": n_held, "layers": [tf.layer_name(i) for i in
                                                                range(len(tf.layers))],
        "kind_shares_seed0": {k: round(v, 3) for k, v in first["shares"].items()},
        "fvu_per_layer_seed0": [round(v, 3) for v in tf.fvu],
        "l0_per_layer_seed0": [round(v, 2) for v in tf.l0],
        "seconds_states": round(t_states, 1), "settings": asdict(cfg)["factors"]})
    verdicts = Counter(c.verdict for c in report.claims)
    report.summary = (f"{fcfg.n_factors} factors on {enc.name}, {cfg.n_seeds} seeds, scored "
                      f"on {n_held} held-out contexts against random-dictionary and "
                      f"shuffled-context controls: " + ", ".join(f"{v} {k}" for k, v in
                                                                verdicts.items()))
    return report
