"""Evaluations of word factors: WordNet coherence, word similarity and word analogy.

Word analogy (a : b :: c : ?) is scored two ways on the same questions:

* :func:`analogy_accuracy` — on word vectors: 3CosAdd (``argmax cos(d, b − a + c)``) or
  3CosMul (Levy & Goldberg 2014, ``argmax cos'(d,b)·cos'(d,c)/(cos'(d,a)+ε)`` with
  ``cos' = (cos+1)/2``), the vocabulary minus a, b, c as candidates;
* :func:`factor_analogy_accuracy` — the word-factor procedure: every word is replaced by
  its non-negative sparse code over the factors (unit-normalised), the relation b − a is
  read in factor space (the factors whose coefficients change most are the analogy's key
  semantic/syntactic differences), and the same 3CosAdd/3CosMul search runs over codes.

Note on the procedure: the paper's analogy section could not be read here (arXiv full text
not reachable from this workplace, and the official ``juexZZ/WordEmbVis`` notebooks hold no
analogy code); the procedure above is our reading of the abstract ("the word factors help
identify key semantic and syntactic differences in word analogy tasks") and of the paper's
reference to Levy & Goldberg's sparse explicit representations, and is declared as such in
``docs/word_factors.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprlab import sparse as F

__all__ = ["factor_coherence", "load_similarity_pairs", "load_analogies", "word_similarity",
           "analogy_accuracy", "analogy_correct", "analogy_questions",
           "factor_analogy_accuracy", "relation_factors"]


def factor_coherence(top_words: Sequence[Sequence[str]], wn: Any, *, depth: int = 2,
                     min_words: int = 5) -> dict[str, Any]:
    """WordNet coherence of word lists (one list per factor or direction).

    Returns the per-list hypernym-pair share and lexname agreement (see
    :mod:`reprlab.word_factors.wordnet`; lists with < ``min_words`` WordNet words are skipped)
    and their means.
    """
    from reprlab.word_factors.wordnet import hypernym_pair_share, lexname_agreement

    hyp = [hypernym_pair_share(wn, ws, depth=depth, min_words=min_words) for ws in top_words]
    lex = [lexname_agreement(wn, ws, min_words=min_words) for ws in top_words]
    hyp_v = [h for h in hyp if h is not None]
    lex_v = [v for v in lex if v is not None]
    return {"hypernym_share": hyp, "lexname_agreement": lex,
            "mean_hypernym_share": float(np.mean(hyp_v)) if hyp_v else float("nan"),
            "mean_lexname_agreement": float(np.mean(lex_v)) if lex_v else float("nan"),
            "n_scored": len(hyp_v)}


def _test_data() -> Path:
    import gensim

    return Path(gensim.__file__).parent / "test" / "test_data"


def load_similarity_pairs(name: str) -> list[tuple[str, str, float]]:
    """WordSim353 (``"wordsim353"``) or SimLex-999 (``"simlex999"``) pairs from gensim's
    test data: (word1, word2, human score), lower-cased."""
    files = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
    if name not in files:
        raise ValueError(f"name must be one of {sorted(files)}, got {name!r}")
    path = _test_data() / files[name]
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, s = line.split("\t")[:3]
        out.append((a.lower(), b.lower(), float(s)))
    return out


def load_analogies() -> list[tuple[str, str, str, str, str]]:
    """gensim's ``questions-words.txt`` as (section, a, b, c, d), lower-cased."""
    out = []
    section = ""
    for line in (_test_data() / "questions-words.txt").read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.lower().split()
        if len(parts) == 4:
            out.append((section, *parts))
    return out


def word_similarity(words: Sequence[str], vectors: torch.Tensor,
                    pairs: Sequence[tuple[str, str, float]]) -> tuple[float, int]:
    """Spearman ρ between cosine similarity and human scores over in-vocabulary pairs.

    Returns (ρ, number of pairs used).
    """
    from scipy.stats import spearmanr

    index = {w: i for i, w in enumerate(words)}
    used = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(used) < 3:
        return float("nan"), len(used)
    v = F.normalize_atoms(vectors.float())
    ia = torch.tensor([u[0] for u in used])
    ib = torch.tensor([u[1] for u in used])
    cos = (v[ia] * v[ib]).sum(1).numpy()
    rho = spearmanr(cos, [u[2] for u in used]).statistic
    return float(rho), len(used)


def analogy_questions(words: Sequence[str], questions: Sequence[tuple[str, str, str, str, str]], *,
               max_questions: int | None, seed: int) -> torch.Tensor:
    index = {w: i for i, w in enumerate(words)}
    qs = [(index[a], index[b], index[c], index[d]) for _, a, b, c, d in questions
          if a in index and b in index and c in index and d in index]
    if max_questions is not None and len(qs) > max_questions:
        rng = np.random.default_rng(seed)
        qs = [qs[i] for i in sorted(rng.choice(len(qs), max_questions, replace=False))]
    return torch.tensor(qs, dtype=torch.long).reshape(-1, 4)


def analogy_correct(vectors: torch.Tensor, q: torch.Tensor, *, method: str = "add",
                    chunk: int = 512, eps: float = 1e-3) -> torch.Tensor:
    """Per-question correctness (bool, shape (Q,)) of 3CosAdd/3CosMul on rows of
    ``vectors`` for index questions ``q`` (Q, 4) = (a, b, c, d)."""
    if method not in ("add", "mul"):
        raise ValueError(f"method must be 'add' or 'mul', got {method!r}")
    if q.numel() == 0:
        return torch.zeros(0, dtype=torch.bool)
    v = F.normalize_atoms(vectors.float())
    out = []
    for s in range(0, q.shape[0], chunk):
        qq = q[s:s + chunk]
        if method == "add":
            scores = (v[qq[:, 1]] - v[qq[:, 0]] + v[qq[:, 2]]) @ v.T
        else:
            ca, cb, cc = ((v[qq[:, j]] @ v.T + 1) / 2 for j in (0, 1, 2))
            scores = cb * cc / (ca + eps)
        rows = torch.arange(qq.shape[0])
        for j in range(3):
            scores[rows, qq[:, j]] = -float("inf")
        out.append(scores.argmax(1) == qq[:, 3])
    return torch.cat(out)


def analogy_accuracy(words: Sequence[str], vectors: torch.Tensor,
                     questions: Sequence[tuple[str, str, str, str, str]], *,
                     method: str = "add", max_questions: int | None = None, seed: int = 0,
                     chunk: int = 512) -> tuple[float, int]:
    """Analogy accuracy of word vectors (3CosAdd ``method="add"`` or 3CosMul ``"mul"``) over
    the questions whose four words are in the vocabulary. Returns (accuracy, questions)."""
    q = analogy_questions(words, questions, max_questions=max_questions, seed=seed)
    if q.shape[0] == 0:
        return float("nan"), 0
    ok = analogy_correct(vectors, q, method=method, chunk=chunk)
    return float(ok.double().mean()), int(q.shape[0])


def factor_analogy_accuracy(words: Sequence[str], codes: torch.Tensor,
                            questions: Sequence[tuple[str, str, str, str, str]], *,
                            method: str = "add", max_questions: int | None = None,
                            seed: int = 0) -> tuple[float, int]:
    """The word-factor analogy: :func:`analogy_accuracy` on the words' sparse codes (N, K)
    (rows with an empty code can never be the answer's nearest neighbour by chance: their
    cosine is 0)."""
    if codes.dim() != 2 or codes.shape[0] != len(words):
        raise ValueError(f"codes must have shape ({len(words)}, K), got {tuple(codes.shape)}")
    return analogy_accuracy(words, codes, questions, method=method,
                            max_questions=max_questions, seed=seed)


def relation_factors(codes: torch.Tensor, pairs: Sequence[tuple[int, int]], *, k: int = 5
                     ) -> list[tuple[int, float]]:
    """The factors whose coefficients change most from a to b, averaged over the index pairs
    ``(a, b)`` of one relation (e.g. man→woman, king→queen): ``(factor, mean change)``."""
    if not pairs:
        raise ValueError("pairs must hold at least one (a, b) index pair")
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    delta = (codes[b] - codes[a]).mean(0)
    vals, idx = delta.abs().topk(min(k, delta.numel()))
    return [(int(i), float(delta[i])) for i in idx]
