"""Transformer factors: functional core, text, streaming, fit/resume, save/load/encode,
attribution, browser, and a user's own nn.Module + torch.optim loop."""

from __future__ import annotations

import math
import types

import pytest
import torch

from reprlab.transformer_factors import (
    attribution,
    core,
    engine,
    fit,
    text,
    views,
)
from reprlab.transformer_factors import (
    encoder as encoder_mod,
)
from reprlab.transformer_factors import (
    model as model_mod,
)

T = types.SimpleNamespace(**{k: getattr(m, k) for m in (core, text, encoder_mod, engine, fit,
                                                        attribution, views, model_mod)
                             for k in getattr(m, "__all__", ())})

TEXT = ("The bank raised its interest rate again. She sat on the bank of the river and "
        "watched the water. The court ruled that the state must pay! Players walked onto the "
        "tennis court at noon. He will play the piano at the party tonight. The party won "
        "the state election by a wide margin. They lit a fire near the river bank at night.")


# ---------------------------------------------------------------- functional core

def test_normalize_states_modes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g) + 2.0
    mean = x.mean(1, keepdim=True)
    out = T.normalize_states(x, mean=mean, mode="center_unit")
    assert torch.allclose(out.norm(dim=-1), torch.ones(3, 5), atol=1e-6)
    expect = (x - mean) / (x - mean).norm(dim=-1, keepdim=True)
    assert torch.allclose(out, expect)
    assert torch.equal(T.normalize_states(x, mode="none"), x)
    zero = T.normalize_states(torch.zeros(2, 4), mode="unit")
    assert torch.equal(zero, torch.zeros(2, 4))  # no NaN from a zero vector
    with pytest.raises(ValueError, match="mean"):
        T.normalize_states(x, mode="center_unit")
    with pytest.raises(ValueError, match="mode"):
        T.normalize_states(x, mode="zca")


def test_layer_importance_and_peaks():
    top = torch.zeros(7, 3, 4)
    top[0, 0] = torch.tensor([4.0, 2.0, 0.0, 0.0])   # factor 0 peaks at layer 0
    top[3, 1] = torch.tensor([1.0, 1.0, 1.0, 1.0])   # factor 1 peaks at layer 3
    top[6, 2] = torch.tensor([9.0, 0.0, 0.0, 0.0])   # factor 2 peaks at layer 6
    imp = T.layer_importance(top, n=2)
    assert imp.shape == (3, 7)
    assert imp[0, 0] == 3.0 and imp[1, 3] == 1.0 and imp[2, 6] == 4.5
    peaks, kinds = T.peak_kinds(imp)
    assert peaks.tolist() == [0, 3, 6]
    assert kinds == ["word-level", "sentence-level", "long-range"]
    with pytest.raises(ValueError, match="n must be"):
        T.layer_importance(top, n=5)


def test_lime_weights_recovers_linear_effects():
    g = torch.Generator().manual_seed(1)
    masks = (torch.rand(400, 5, generator=g) > 0.5).float()
    masks[0] = 1
    y = 2.0 * masks[:, 0] - 1.0 * masks[:, 2] + 0.5
    w = T.lime_weights(masks, y, alpha=1e-8)
    assert torch.allclose(w, torch.tensor([2.0, 0.0, -1.0, 0.0, 0.0]), atol=1e-5)
    w_ridge = T.lime_weights(masks, y)  # LIME's default ridge shrinks but keeps the order
    assert w_ridge.argmax() == 0 and w_ridge.argmin() == 2
    with pytest.raises(ValueError):
        T.lime_weights(masks, y[:-1])


def test_top_activations_match_global_topk():
    g = torch.Generator().manual_seed(2)
    codes = torch.rand(50, 6, generator=g)
    ctx = torch.arange(50)
    pos = torch.arange(50) % 7
    top = T.TopActivations(n_layers=1, n_factors=6, k=5)
    for s in range(0, 50, 13):  # chunks of unequal size
        top.update(0, codes[s:s + 13], ctx[s:s + 13], pos[s:s + 13])
    vals, idx = codes.topk(5, dim=0)
    assert torch.allclose(top.values[0], vals.T)
    assert torch.equal(top.context[0], idx.T)
    assert torch.equal(top.position[0], (idx % 7).T)


def test_layer_stats_fvu_l0():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 4, generator=g)
    rec = x + 0.1 * torch.randn(40, 4, generator=g)
    codes = torch.zeros(40, 3)
    codes[:, 0] = 1.0
    codes[:10, 2] = 0.5
    st = T.LayerStats(n_layers=1, n_factors=3)
    st.update(0, x[:25], codes[:25], rec[:25])
    st.update(0, x[25:], codes[25:], rec[25:])
    expect = float(((x - rec) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    assert math.isclose(st.fvu()[0], expect, rel_tol=1e-6)
    assert math.isclose(st.l0()[0], 1.25)
    assert math.isclose(st.dead_fraction(), 1 / 3)


# ---------------------------------------------------------------- text

def test_split_sentences_and_windows():
    sents = T.split_sentences(TEXT, min_words=4, max_words=40)
    assert sents[0] == "The bank raised its interest rate again."
    assert sents[2] == "The court ruled that the state must pay!"
    assert len(sents) == 7
    long = " ".join(f"w{i}" for i in range(25)) + "."
    parts = T.split_sentences(long, min_words=3, max_words=10)
    assert [len(p.split()) for p in parts] == [10, 10, 5]
    with pytest.raises(ValueError):
        T.split_sentences(TEXT, min_words=5, max_words=2)
    wins = T.make_windows([" ".join(map(str, range(100)))], words=20, stride=10)
    assert len(wins) == 9 and all(len(w.split()) == 20 for w in wins)


def test_select_contexts_covers_words():
    pool = [f"sentence {i} about nothing much at all" for i in range(50)]
    pool += ["the bank was closed", "a river bank", "the banking system"]
    out = T.select_contexts(pool, words=["bank"], per_word=5, n_total=10, seed=0)
    assert len(out) == 10
    assert sum("bank" in s.split() for s in out) == 2  # whole word only, not "banking"


def test_load_documents_file(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(TEXT + "\n\n" + TEXT + "\n")
    assert len(T.load_documents(f)) == 2
    with pytest.raises(FileNotFoundError):
        T.load_documents(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="no non-empty"):
        T.load_documents(tmp_path / "empty.txt")


def test_clean_wiki_text():
    markup = ("'''Anarchism''' is a political philosophy that advocates self-governed "
              "[[society|societies]].\n==History==\n* a list item that should go away now\n")
    text = T.clean_wiki_text(markup)
    assert text.startswith("Anarchism is a political philosophy")
    assert "History" not in text and "list item" not in text


# ---------------------------------------------------------------- model-based

@pytest.fixture(scope="module")
def encoder():
    return T.load_encoder()


@pytest.fixture(scope="module")
def contexts():
    return T.split_sentences(TEXT, min_words=4)


def test_iter_hidden_states_matches_direct_forward(encoder, contexts):
    tok, model = encoder.tokenizer, encoder.model
    ctx = T.tokenize_contexts(tok, contexts)
    batches = list(T.iter_hidden_states(model, tok, ctx, batch_size=3))
    n_tok = sum(len(i) for i in ctx.ids)
    assert sum(b.states.shape[1] for b in batches) == n_tok
    # streamed: each chunk holds at most batch_size contexts' tokens
    assert len(batches) == 3 and all(len(set(b.context.tolist())) <= 3 for b in batches)
    assert batches[0].states.shape[0] == model.config.num_hidden_layers + 1
    # padded batch == each context alone (padding and specials handled)
    b = batches[0]
    for ci in range(3):
        enc = tok(contexts[ci], return_tensors="pt", add_special_tokens=False)  # official
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states
        sel = b.context == ci
        assert torch.equal(b.position[sel], torch.arange(int(sel.sum())))
        for layer in (0, 3, 6):
            assert torch.allclose(b.states[layer][sel], hs[layer][0], atol=1e-4)
    # with special tokens: the model sees [CLS]/[SEP], only real pieces come out
    ctx_sp = T.tokenize_contexts(tok, contexts, add_special_tokens=True)
    assert ctx_sp.ids == ctx.ids and all(s == 1 for s in ctx_sp.start)
    b_sp = next(iter(T.iter_hidden_states(model, tok, ctx_sp, batch_size=3)))
    enc = tok(contexts[0], return_tensors="pt")
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states
    assert torch.allclose(b_sp.states[6][b_sp.context == 0], hs[6][0, 1:-1], atol=1e-4)
    assert tok.convert_ids_to_tokens(b.token_id[b.context == 0].tolist()) == ctx.tokens[0]


def _tiny_config(**kw):
    base = dict(n_factors=24, lam=0.1, epochs=1, max_iter=20, encode_max_iter=30,
                lr=0.3, bias_correction=True, context_batch=3, code_batch=128, top_k=4,
                importance_n=2, stats_contexts=7, track_words=("bank", "court", "party"))
    base.update(kw)
    return T.TransformerFactorsConfig(**base)


@pytest.fixture(scope="module")
def fitted(encoder, contexts):
    return T.fit_transformer_factors(contexts, config=_tiny_config(), encoder=encoder)


def test_fit_transformer_factors(fitted):
    tf = fitted
    n_layers = len(tf.layers)
    assert tf.layers == list(range(7))
    assert tf.dictionary.shape == (24, 384)
    assert torch.allclose(tf.dictionary.norm(dim=1), torch.ones(24), atol=1e-4)
    assert tf.importance.shape == (24, n_layers) and (tf.importance >= 0).all()
    assert len(tf.fvu) == n_layers and all(0 < v < 1 for v in tf.fvu)
    assert all(0 < v <= 24 for v in tf.l0)
    assert set(tf.kinds) <= set(T.KINDS)
    f = int(tf.importance.max(1).values.argmax())
    tops = tf.top_contexts(f, int(tf.peaks[f]))
    assert tops and all(a >= b for (a, _, _), (b, _, _) in zip(tops, tops[1:]))
    assert tf.tracked["bank"]["codes"].shape == (n_layers, 3, 24)  # 3 "bank"s in TEXT
    split = T.word_sense_split(tf, "bank", 3)
    assert split["n"] == 3 and 0 <= split["entropy"] <= 1
    with pytest.raises(ValueError, match="tracked"):
        T.word_sense_split(tf, "piano", 3)


def test_fit_resumes_from_checkpoint(encoder, contexts, tmp_path):
    cfg = _tiny_config(epochs=2, track_words=())
    full = T.fit_transformer_factors(contexts, config=cfg, encoder=encoder)

    class Crash(RuntimeError):
        pass

    class CrashingEngine(T.FactorEngine):
        steps = 0

        def partial_fit(self, x, weights=None):
            CrashingEngine.steps += 1
            if CrashingEngine.steps == 4:
                raise Crash
            super().partial_fit(x, weights)

    ckpt = tmp_path / "ck.pt"
    with pytest.raises(Crash):
        T.fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                  engine_factory=CrashingEngine, checkpoint=ckpt,
                                  checkpoint_every=1)
    assert ckpt.exists()
    resumed = T.fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                        checkpoint=ckpt, checkpoint_every=1)
    assert torch.allclose(resumed.dictionary, full.dictionary, atol=1e-5)
    assert torch.allclose(resumed.importance, full.importance, atol=1e-4)


def test_config_errors(contexts, encoder):
    for bad in (dict(n_factors=0), dict(lam=-1.0), dict(normalize="zca"), dict(epochs=0),
                dict(importance_n=9), dict(learn_fraction=0.0)):
        with pytest.raises(ValueError):
            T.fit_transformer_factors(contexts, config=_tiny_config(**bad), encoder=encoder)


def test_token_attribution(fitted, encoder):
    tf = fitted
    f = int(tf.importance.max(1).values.argmax())
    li = int(tf.peaks[f])
    _, c, p = tf.top_contexts(f, li)[0]
    w1 = T.token_attribution(tf, encoder, c, p, f, li, n_samples=24, seed=0)
    w2 = T.token_attribution(tf, encoder, c, p, f, li, n_samples=24, seed=0)
    assert w1.shape == (len(tf.contexts.ids[c]),) and torch.isfinite(w1).all()
    assert torch.equal(w1, w2)
    with pytest.raises(ValueError, match="position"):
        T.token_attribution(tf, encoder, c, 999, f, li)


def test_factor_views_in_chromium(fitted, encoder, tmp_path, make_chromium):
    from selenium.webdriver.common.by import By

    from reprlab.factors.browser import factor_page_name, write_browser

    tf = fitted
    f = int(tf.importance.max(1).values.argmax())
    li = int(tf.peaks[f])
    _, c, p = tf.top_contexts(f, li)[0]
    w = T.token_attribution(tf, encoder, c, p, f, li, n_samples=16)
    views = T.factor_views(tf, n_contexts=3, attributions={f: [(c, p, li, w)]})
    assert views and all(len(v.curve) == 7 for v in views)
    v = views[0]
    assert v.groups[0][0].endswith("(peak)")
    first = v.groups[0][1][0]
    assert first.tokens[first.highlight]  # the activating token is inside the window
    index = write_browser(tmp_path, views, title="tiny")
    driver = make_chromium()
    try:
        driver.get((tmp_path / factor_page_name(f)).resolve().as_uri())
        ticks = driver.find_elements(By.CSS_SELECTOR, "svg#curve text.tick")
        assert [t.text for t in ticks] == ["emb", "L1", "L2", "L3", "L4", "L5", "L6"]
        hits = driver.find_elements(By.CSS_SELECTOR, "li.context mark.hit")
        assert hits and hits[0].text == tf.contexts.tokens[c][p].removeprefix("##")
        assert driver.find_elements(By.CSS_SELECTOR, "li.attribution span.tok[title]")
        driver.get(index.resolve().as_uri())
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()


def test_state_cache_matches_streaming(encoder, contexts):
    cfg = _tiny_config(track_words=())
    ctx = T.tokenize_contexts(encoder.tokenizer, contexts)
    cache = T.collect_states(encoder, ctx, batch_size=4)
    b = cache.batch([0, 2])
    direct = next(iter(T.iter_hidden_states(encoder.model, encoder.tokenizer, ctx,
                                            indices=[0, 2], batch_size=2)))
    assert torch.allclose(b.states, direct.states, atol=1e-5)
    assert torch.equal(b.context, direct.context) and torch.equal(b.token_id, direct.token_id)
    a = T.fit_transformer_factors(ctx, config=cfg, encoder=encoder)
    c = T.fit_transformer_factors(ctx, config=cfg, encoder=encoder, states=cache)
    assert torch.allclose(a.dictionary, c.dictionary, atol=1e-4)
    sub = cache.subset([2, 0])
    assert torch.equal(sub.per_context[0], cache.per_context[2])


def test_fixed_dictionary_and_views_off(fitted, encoder, contexts):
    cfg = _tiny_config(track_words=())
    only = T.fit_transformer_factors(contexts, config=cfg, encoder=encoder, views=False)
    assert float(only.importance.abs().sum()) == 0 and only.dictionary.shape == (24, 384)
    again = T.fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                      dictionary=fitted.dictionary, mean=fitted.mean)
    assert torch.equal(again.dictionary, fitted.dictionary)
    assert torch.allclose(again.importance, fitted.importance, atol=1e-4)
    with pytest.raises(ValueError, match="dictionary must have shape"):
        T.fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                  dictionary=torch.zeros(3, 384))
    with pytest.raises(ValueError, match="mean must have shape"):
        T.fit_transformer_factors(contexts, config=cfg, encoder=encoder,
                                  dictionary=fitted.dictionary, mean=torch.zeros(2, 1, 384))


def test_save_load_encode_top_factors_explain(fitted, encoder, tmp_path):
    tf = fitted
    tf.save(tmp_path / "m")
    back = T.TransformerFactors.load(tmp_path / "m")
    assert torch.equal(back.dictionary, tf.dictionary) and back.layers == tf.layers
    assert back.kinds == tf.kinds and back.model_name == "all-MiniLM-L6-v2"
    assert back.top_contexts(0, 0) == tf.top_contexts(0, 0)
    assert back.contexts.tokens == tf.contexts.tokens
    text = "The bank of the river flooded."
    a = T.encode_text(tf, encoder, text)
    b = T.encode_text(back, encoder, text)
    assert b.codes.shape == (7, len(b.tokens), 24) and (b.codes >= 0).all()
    assert torch.allclose(a.codes, b.codes, atol=1e-5)
    # per-token codes equal the in-corpus codes for a text that is a training context
    c0 = T.encode_text(back, encoder, tf.contexts.texts[0])
    f = int(c0.codes[3].max(0).values.argmax())
    assert float(c0.codes[3, :, f].max()) > 0
    rows = T.top_factors(back, encoder, b, k=3)
    assert 1 <= len(rows) <= 3 and rows[0]["activation"] >= rows[-1]["activation"]
    assert {"factor", "layer", "token", "label", "kind"} <= set(rows[0])
    ex = T.explain_text(back, encoder, text, k=1, n_samples=12)
    assert len(ex[0]["weights"]) == len(b.tokens)
    js = b.to_json(k=2)
    assert js["tokens"][0]["token"] == b.tokens[0] and "L3" in js["tokens"][0]["factors"]
    with pytest.raises(ValueError, match="non-empty"):
        T.encode_text(back, encoder, "  ")


def test_load_rejects_mismatched_or_missing(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="factors.json"):
        T.TransformerFactors.load(tmp_path)
    d = fitted.save(tmp_path / "m")
    (d / "factors.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="does not match"):
        T.TransformerFactors.load(d)


def test_engine_state_dict_roundtrip_without_private_state():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    e1 = T.FactorEngine(6, 8, lam=0.05, seed=1, max_iter=20, lr=0.1)
    e1.partial_fit(x[:32])
    sd = e1.state_dict()
    e2 = T.FactorEngine(6, 8, lam=0.05, seed=99, max_iter=20, lr=0.1)
    e2.load_state_dict(sd)
    e1.partial_fit(x[32:])
    e2.partial_fit(x[32:])
    assert torch.allclose(e1.dictionary, e2.dictionary)
    assert (e1.encode(x) >= 0).all()
    with pytest.raises(ValueError, match="no dictionary"):
        T.FactorEngine(6, 8, lam=0.1).encode(x)
    for bad in (dict(lam=float("nan")), dict(lr=-1.0), dict(max_iter=0)):
        with pytest.raises(ValueError):
            T.FactorEngine(6, 8, **{"lam": 0.1, **bad})


def test_user_module_and_torch_optim_loop(fitted, encoder):
    """A user's nn.Module uses the fitted factors as frozen features; a plain torch.optim
    loop trains a linear head on them."""
    tf = fitted
    eng = tf.get_engine()

    class FactorHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(tf.n_factors, 2)

        def forward(self, states: torch.Tensor) -> torch.Tensor:
            x = T.normalize_states(states, mean=tf.mean[3, 0], mode="center_unit")
            with torch.no_grad():
                codes = eng.encode(x)
            return self.head(codes)

    ctx = T.tokenize_contexts(encoder.tokenizer, tf.contexts.texts)
    b = next(iter(T.iter_hidden_states(encoder.model, encoder.tokenizer, ctx, layers=[3],
                                       batch_size=len(ctx))))
    y = (b.position % 2).long()
    net = FactorHead()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(b.states[0]), y)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first
