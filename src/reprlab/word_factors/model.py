"""Word factors (Zhang, Chen, Cheung & Olshausen, arXiv:1910.03833).

A word vector x is written as a sparse non-negative combination x ≈ aΦ of learned unit
"factors" (rows of Φ), by dictionary learning with the engine in :mod:`reprlab.sparse`.
Each factor is read through the words that activate it most; each word through its code.

Setting (paper / official ``juexZZ/WordEmbVis``): 1,000 factors, λ = 0.5, batches of words
sampled with probability ∝ log frequency. The official notebook divides the vectors by
``NORM`` = (mean vector norm)/10, i.e. λ = 0.5 acts on vectors of norm ≈ 10. We unit-normalise
each word (as the issue asks) and then scale to ``norm_to = 10``, so λ = 0.5 keeps the
paper's sparsity; λ = 0.5 on norm-1 vectors leaves almost every code empty (L0 ≈ 0.06 on
MiniLM — measured). CPU deviations (fewer factors and steps in quick mode, a bias-corrected
Hessian running mean with a larger step) are listed in :data:`QUICK_CONFIG` and docs.

Public API: :func:`fit_word_factors` → :class:`WordFactors` (``.top_words(k)``, ``.codes``,
``.word_code(word)``, ``.encode(vectors)``, ``.save(dir)`` / ``WordFactors.load(dir)``:
safetensors + JSON). Evaluations live in :mod:`reprlab.word_factors.evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from reprlab import sparse as F

__all__ = ["WordFactors", "fit_word_factors", "POLYSEMOUS_EXAMPLES"]

POLYSEMOUS_EXAMPLES = ("bank", "apple", "spring", "plant", "bat", "mouse", "crane", "match",
                       "rock", "star", "seal", "bass", "fair", "palm", "bar", "pitch")


# ----------------------------------------------------------------------------- model
@dataclass
class WordFactors:
    """A learned word-factor model.

    Attributes
    ----------
    words : list[str], length N
    vectors : Tensor, shape (N, d)
        The (unit-normalised, rescaled) vectors the factors were fit on.
    dictionary : Tensor, shape (K, d)
        Unit-norm factors, one per row.
    codes : Tensor, shape (N, K)
        Non-negative sparse code of every word.
    lam : float
    history : list of StepInfo
    """

    words: list[str]
    vectors: torch.Tensor
    dictionary: torch.Tensor
    codes: torch.Tensor
    lam: float
    history: list = field(default_factory=list)
    norm_to: float | None = 10.0

    def __post_init__(self) -> None:
        self._index = {w: i for i, w in enumerate(self.words)}

    @property
    def n_factors(self) -> int:
        return self.dictionary.shape[0]

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def index(self, word: str) -> int:
        """Row of ``word``; ``KeyError`` if it is not in the vocabulary."""
        if word not in self._index:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self.words)} words)")
        return self._index[word]

    def top_words(self, k: int = 10, *, by: str = "activation") -> list[list[str]]:
        """The ``k`` words of each factor: largest code coefficient (``"activation"``, as
        the paper) or largest cosine with the factor (``"cosine"``). Length K."""
        if by == "activation":
            scores = self.codes
        elif by == "cosine":
            scores = F.normalize_atoms(self.vectors) @ self.dictionary.T
        else:
            raise ValueError(f"by must be 'activation' or 'cosine', got {by!r}")
        idx = torch.topk(scores, min(k, scores.shape[0]), dim=0).indices.T  # (K, k)
        return [[self.words[i] for i in row.tolist()] for row in idx]

    def word_code(self, word: str, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` largest (factor, coefficient) pairs of ``word``'s code (non-zero only)."""
        row = self.codes[self.index(word)]
        vals, idx = torch.topk(row, min(k, row.numel()))
        return [(int(i), float(v)) for i, v in zip(idx, vals, strict=True) if v > 0]

    def reconstruction(self) -> torch.Tensor:
        """aΦ for every word, shape (N, d)."""
        return self.codes @ self.dictionary

    def metrics(self) -> dict[str, float]:
        """FVU, mean L0, dead fraction and objective over the vocabulary."""
        xh = self.reconstruction()
        return {"fvu": F.fvu(self.vectors, xh), "l0": F.mean_l0(self.codes),
                "dead_fraction": F.dead_fraction(self.codes),
                "objective": F.objective(self.vectors, self.dictionary, self.codes,
                                         lam=self.lam)}

    def encode(self, vectors: torch.Tensor, *, max_iter: int = 300, tol: float = 1e-3
               ) -> torch.Tensor:
        """Codes (N, K) of new word vectors (N, d), prepared as the fitted ones (unit norm,
        then ``norm_to``)."""
        x = _prepare(vectors, self.norm_to)
        if x.dim() != 2 or x.shape[1] != self.dictionary.shape[1]:
            raise ValueError(f"vectors must have shape (N, {self.dictionary.shape[1]}), got "
                             f"{tuple(x.shape)}")
        return F.sparse_encode(x, self.dictionary, lam=self.lam, max_iter=max_iter, tol=tol)

    def save(self, directory: str | Path) -> Path:
        """``word_factors.safetensors`` (vectors, dictionary, codes) and ``word_factors.json``
        (words, λ, norm, SHA-256 of the tensors) in ``directory``, each written atomically."""
        import hashlib
        import json

        from safetensors.torch import save as st_save

        from reprlab.checkpoint import atomic_write_bytes, atomic_write_text, check_writable_dir

        out = check_writable_dir(directory, "directory")
        blob = st_save({"vectors": self.vectors.contiguous(),
                        "dictionary": self.dictionary.contiguous(),
                        "codes": self.codes.contiguous()})
        atomic_write_bytes(out / "word_factors.safetensors", blob)
        atomic_write_text(out / "word_factors.json", json.dumps({
            "format": "reprlab-word-factors", "version": 1, "words": self.words,
            "lam": self.lam, "norm_to": self.norm_to,
            "tensors_sha256": hashlib.sha256(blob).hexdigest()}))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> WordFactors:
        """A model written by :meth:`save`; a missing, foreign or mismatched file raises."""
        import hashlib
        import json

        from safetensors.torch import load as st_load

        d = Path(directory)
        jp, tp = d / "word_factors.json", d / "word_factors.safetensors"
        for p in (jp, tp):
            if not p.is_file():
                raise FileNotFoundError(f"{p} not found: directory={str(d)!r} must hold a "
                                        "model written by WordFactors.save")
        meta = json.loads(jp.read_text(encoding="utf-8"))
        if meta.get("format") != "reprlab-word-factors":
            raise ValueError(f"{jp} is not a reprlab word-factor file")
        blob = tp.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
            raise ValueError(f"{tp} does not match {jp} (an interrupted or mixed save); "
                             "save again")
        t = st_load(blob)
        return cls(words=list(meta["words"]), vectors=t["vectors"],
                   dictionary=t["dictionary"], codes=t["codes"], lam=float(meta["lam"]),
                   norm_to=meta["norm_to"])


def _prepare(vectors: torch.Tensor, norm_to: float | None) -> torch.Tensor:
    x = torch.as_tensor(vectors).float()
    if norm_to is None:
        return x
    return F.normalize_atoms(x) * norm_to


def fit_word_factors(vectors: torch.Tensor, words: Sequence[str], *, n_factors: int = 1000,
                     lam: float = 0.5, weights: torch.Tensor | None = None,
                     norm_to: float | None = 10.0, n_steps: int = 2000,
                     batch_size: int = 256, lr: float = 0.3, bias_correction: bool = True,
                     max_iter: int = 300, tol: float = 1e-3, resample_every: int = 50,
                     working_set: int | None = None, seed: int = 0,
                     checkpoint: str | Path | None = None, checkpoint_every: int = 100,
                     progress: bool = False) -> WordFactors:
    """Learn word factors from a vector table.

    Parameters
    ----------
    vectors : Tensor, shape (N, d)
    words : sequence of str, length N
    n_factors : int, keyword-only
        K (paper: 1,000).
    lam : float
        λ (paper: 0.5, on vectors scaled to ``norm_to``).
    weights : Tensor, shape (N,), optional
        Sampling weights of words (paper: ∝ log frequency; see
        :func:`reprlab.word_factors.word_vectors.log_frequency_weights`); uniform when ``None``.
    norm_to : float or None
        Each vector is unit-normalised then multiplied by this (10: the official scale);
        ``None`` uses the vectors as given.
    n_steps, batch_size : int
        Dictionary steps and words per step (with replacement when ``weights`` given).
    lr, bias_correction, max_iter, tol, resample_every
        Passed to :func:`reprlab.sparse.functional.learn_dictionary`.
    working_set : int, optional
        Working-set size for the final encoding of all words (large K).
    checkpoint : path, optional
        Save the learning state there every ``checkpoint_every`` steps and resume from it.

    Returns
    -------
    WordFactors
    """
    words = list(words)
    x = _prepare(vectors, norm_to)
    if x.dim() != 2 or x.shape[0] != len(words):
        raise ValueError(f"vectors must have shape ({len(words)}, d) to match words, got "
                         f"{tuple(x.shape)}")
    if not (isinstance(n_factors, int) and n_factors >= 1):
        raise ValueError(f"n_factors must be an int >= 1, got {n_factors!r}")
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    if not torch.isfinite(x).all():
        raise ValueError("vectors hold NaN or infinite values")
    for name, v in (("n_steps", n_steps), ("batch_size", batch_size), ("max_iter", max_iter),
                    ("checkpoint_every", checkpoint_every)):
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    gen = torch.Generator().manual_seed(seed)
    state: F.DictState | None = None
    history: list = []
    from reprlab.checkpoint import load_checkpoint, save_checkpoint

    ckpt = Path(checkpoint) if checkpoint is not None else None
    settings = {"n_factors": n_factors, "lam": lam, "norm_to": norm_to, "n_steps": n_steps,
                "batch_size": batch_size, "lr": lr, "bias_correction": bias_correction,
                "max_iter": max_iter, "tol": tol, "resample_every": resample_every,
                "seed": seed, "words": len(words), "vectors": float(x.double().sum()),
                "weights": None if weights is None else float(weights.double().sum())}
    if ckpt is not None:
        saved = load_checkpoint(ckpt, settings=settings, on_mismatch="fresh")
        if saved is not None:
            state = F.DictState(**saved["state"])
            gen.set_state(saved["generator"])
    done = state.step if state is not None else 0

    def save(st: F.DictState, info: F.StepInfo) -> None:
        history.append(info)
        if ckpt is not None and (st.step % checkpoint_every == 0 or st.step == n_steps):
            save_checkpoint(ckpt, {"state": st._asdict(), "generator": gen.get_state()},
                            settings=settings)

    if done < n_steps:
        state, _ = F.learn_dictionary(
            x, n_atoms=n_factors, lam=lam, n_epochs=math.ceil(n_steps * batch_size
                                                              / x.shape[0]) + 1,
            max_steps=n_steps - done, batch_size=batch_size, weights=weights,
            weighting="sample", lr=lr, bias_correction=bias_correction, max_iter=max_iter,
            tol=tol, resample_every=resample_every, init=state, generator=gen,
            callback=save, progress=progress)
    assert state is not None
    codes = F.sparse_encode(x, state.dictionary, lam=lam, max_iter=max_iter, tol=tol,
                            working_set=working_set)
    return WordFactors(words=words, vectors=x, dictionary=state.dictionary, codes=codes,
                       lam=lam, history=history, norm_to=norm_to)


