"""Word factors: fitting on planted vectors, evaluations with known answers, smoke run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from reprlab.factors.words import (
    WordClaimsConfig,
    WordFactors,
    analogy_accuracy,
    fit_word_factors,
    run_word_claims,
    word_similarity,
)
from reprlab.sparse import functional as F


def _planted_vocab(n_topics: int = 12, per_topic: int = 30, d: int = 24, seed: int = 0):
    """Words = one topic atom + small noise, plus 'polysemous' words mixing two topics."""
    g = torch.Generator().manual_seed(seed)
    topics = F.normalize_atoms(torch.randn(n_topics, d, generator=g))
    words, vecs = [], []
    for t in range(n_topics):
        for i in range(per_topic):
            words.append(f"t{t}w{i}")
            vecs.append(topics[t] * (1 + torch.rand(1, generator=g))
                        + 0.05 * torch.randn(d, generator=g))
    words += ["poly"]
    vecs.append(topics[0] + topics[5])
    return words, torch.stack(vecs), topics


def test_fit_word_factors_recovers_topics(tmp_path):
    words, vecs, topics = _planted_vocab()
    wf = fit_word_factors(vecs, words, n_factors=12, lam=0.5, n_steps=60, batch_size=128,
                          lr=0.5, seed=0, checkpoint=tmp_path / "ck.pt", checkpoint_every=20)
    assert wf.codes.shape == (len(words), 12) and (wf.codes >= 0).all()
    assert torch.allclose(wf.dictionary.norm(dim=1), torch.ones(12), atol=1e-5)
    # every topic is matched by a factor, and each factor's top words come from one topic
    cos = wf.dictionary @ topics.T
    assert (cos.max(0).values > 0.9).float().mean() >= 0.9
    pure = [len({w.split("w")[0] for w in top}) == 1 for top in wf.top_words(10)]
    assert sum(pure) >= 10
    # the polysemous word is the sum of the factors of its two "senses"
    code = wf.word_code("poly", 3)
    assert len(code) >= 2
    senses = {int(cos[j].argmax()) for j, _ in code[:2]}
    assert senses == {0, 5}
    m = wf.metrics()
    assert m["fvu"] < 0.2 and m["dead_fraction"] == 0.0
    # resuming from the finished checkpoint reproduces the dictionary without training
    again = fit_word_factors(vecs, words, n_factors=12, lam=0.5, n_steps=60, batch_size=128,
                             lr=0.5, seed=0, checkpoint=tmp_path / "ck.pt")
    torch.testing.assert_close(again.dictionary, wf.dictionary)
    wf.save(tmp_path / "wf.pt")
    loaded = WordFactors.load(tmp_path / "wf.pt")
    assert loaded.top_words(3) == wf.top_words(3)


def test_fit_word_factors_errors():
    words, vecs, _ = _planted_vocab(n_topics=6, per_topic=2)
    with pytest.raises(ValueError, match="shape"):
        fit_word_factors(vecs, words[:-1], n_factors=2)
    with pytest.raises(ValueError, match="lam"):
        fit_word_factors(vecs, words, n_factors=2, lam=-1.0)
    bad = vecs.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_word_factors(bad, words, n_factors=2)
    wf = fit_word_factors(vecs, words, n_factors=2, n_steps=2, batch_size=4)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        wf.word_code("zebra")
    with pytest.raises(ValueError, match="by"):
        wf.top_words(3, by="magic")


def test_similarity_and_analogy_known_answers():
    words = ["a", "b", "c", "d", "e"]
    vecs = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0], [-1.0, 0.0]])
    pairs = [("a", "b", 10.0), ("a", "c", 6.0), ("a", "d", 3.0), ("a", "e", 0.0),
             ("a", "zzz", 5.0)]
    rho, n = word_similarity(words, vecs, pairs)
    assert n == 4 and rho == pytest.approx(1.0)
    # king - man + woman = queen in a 3-d toy space
    words = ["man", "woman", "king", "queen", "apple"]
    vecs = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, -1.0]])
    acc, n = analogy_accuracy(words, vecs, [("s", "man", "woman", "king", "queen"),
                                            ("s", "man", "woman", "king", "pear")])
    assert (acc, n) == (1.0, 1)


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").is_file(),
                    reason="Debian wordnet-base not installed")
def test_run_word_claims_smoke(tmp_path):
    cfg = WordClaimsConfig(max_words=1500, n_factors=32, n_steps=8, batch_size=128,
                           max_iter=50, n_random=32, max_analogies=200)
    ctx = SimpleNamespace(quick=True, seed=0, progress=False, work_dir=tmp_path)
    claims, figures, summary = run_word_claims(ctx, cfg)
    names = [c.name for c in claims]
    assert any("coherent" in n for n in names) and any("analogy" in n for n in names)
    assert all(c.verdict in ("reproduced", "partial", "not reproduced") for c in claims)
    assert len(figures) >= 3
    m = summary["minilm"]
    assert m["n_words"] == 1500 and 0 < m["fvu"] < 1.5
    assert 0 <= m["coherence"]["random"]["mean_hypernym_share"] <= 1
    assert (tmp_path / "words" / "minilm_factors.pt").is_file()
