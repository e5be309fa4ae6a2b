"""Text for transformer factors: documents → cleaned sentences or windows (contexts).

Offline sources: gensim's shipped Wikipedia articles and Lee news corpus, or any text file
(one document per line). Nothing here touches a model.
"""

from __future__ import annotations

import bz2
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["split_sentences", "clean_wiki_text", "gensim_documents", "load_documents",
           "make_contexts", "make_windows", "select_contexts", "shuffle_context_words"]

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



def shuffle_context_words(contexts: Sequence[str], *, seed: int = 0) -> list[str]:
    """The control "same dictionary on shuffled contexts": each context's words in a random
    order (seeded), so every context keeps its bag of words but loses its syntax."""
    rng = np.random.default_rng(seed)
    out = []
    for c in contexts:
        words = c.split()
        out.append(" ".join(words[i] for i in rng.permutation(len(words))))
    return out
