"""Word factors: fitting on planted vectors, save/load, evaluations with known answers
(incl. the factor-space analogy), the controls' statistics, a user nn.Module loop."""

from __future__ import annotations

import pytest
import torch

from reprlab import sparse as F
from reprlab.factors.stats import (
    paired_permutation_p,
    random_dictionary,
    two_sample_permutation_p,
)
from reprlab.word_factors.evaluation import (
    analogy_accuracy,
    analogy_correct,
    analogy_questions,
    factor_analogy_accuracy,
    relation_factors,
    word_similarity,
)
from reprlab.word_factors.model import WordFactors, fit_word_factors


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
    wf.save(tmp_path / "wf")
    loaded = WordFactors.load(tmp_path / "wf")
    assert loaded.top_words(3) == wf.top_words(3) and loaded.norm_to == wf.norm_to
    torch.testing.assert_close(loaded.encode(vecs[:5]), wf.codes[:5], atol=1e-3, rtol=1e-3)
    (tmp_path / "wf" / "word_factors.safetensors").write_bytes(b"x")
    with pytest.raises(ValueError, match="does not match"):
        WordFactors.load(tmp_path / "wf")
    # a changed setting never resumes the old checkpoint silently
    other = fit_word_factors(vecs, words, n_factors=12, lam=0.4, n_steps=5, batch_size=128,
                             lr=0.5, seed=0, checkpoint=tmp_path / "ck.pt")
    assert other.lam == 0.4


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


def test_factor_analogy_and_relation_factors():
    # codes where the relation man→woman is one factor (#1): factor space answers exactly
    words = ["man", "woman", "king", "queen", "boy", "girl"]
    codes = torch.tensor([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 1, 0],
                          [0, 0, 0, 1], [0, 1, 0, 1.0]])
    qs = [("s", "man", "woman", "king", "queen"), ("s", "man", "woman", "boy", "girl")]
    for m in ("add", "mul"):
        acc, n = factor_analogy_accuracy(words, codes, qs, method=m)
        assert (acc, n) == (1.0, 2)
    q = analogy_questions(words, qs, max_questions=None, seed=0)
    assert q.tolist() == [[0, 1, 2, 3], [0, 1, 4, 5]]
    assert analogy_correct(codes, q).tolist() == [True, True]
    rel = relation_factors(codes, [(0, 1), (2, 3)], k=1)
    assert rel[0][0] == 1 and rel[0][1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method"):
        analogy_correct(codes, q, method="div")
    with pytest.raises(ValueError, match="codes must have shape"):
        factor_analogy_accuracy(words[:3], codes, qs)


def test_permutation_tests_and_random_dictionary():
    assert paired_permutation_p([0.5, 0.6, 0.4, 0.7, 0.5, 0.6], n_perm=2000) < 0.05
    assert paired_permutation_p([0.1, -0.1, 0.05, -0.05], n_perm=2000) > 0.2
    assert two_sample_permutation_p([1.0, 1.1, 0.9, 1.2], [0.0, 0.1, -0.1, 0.05],
                                    n_perm=2000) < 0.05
    assert two_sample_permutation_p([0.0, 0.1], [1.0, 1.1], n_perm=500) > 0.5
    with pytest.raises(ValueError, match="NaN"):
        paired_permutation_p([float("nan"), 1.0])
    with pytest.raises(ValueError, match="empty"):
        two_sample_permutation_p([], [1.0])
    d = random_dictionary(5, 3, seed=1)
    assert torch.allclose(d.norm(dim=1), torch.ones(5))
    assert torch.equal(d, random_dictionary(5, 3, seed=1))
    with pytest.raises(ValueError, match="n_factors"):
        random_dictionary(0, 3)


def test_user_module_with_word_factors():
    """Word factors as frozen features of a user's nn.Module, trained with torch.optim."""
    words, vecs, topics = _planted_vocab(n_topics=6, per_topic=8, d=12)
    wf = fit_word_factors(vecs, words, n_factors=4, lam=0.3, n_steps=30, batch_size=32,
                          lr=0.5, seed=0)
    labels = torch.tensor([int(w[1]) if w[0] == "t" else 0 for w in words]) % 4

    class TopicHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(wf.n_factors, 4)

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return self.lin(wf.encode(v))

    net = TopicHead()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(vecs), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
