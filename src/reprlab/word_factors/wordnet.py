"""A minimal offline WordNet 3.0 reader (Debian ``wordnet-base``), for factor coherence.

Reads ``index.{noun,verb,adj,adv}`` for a word's synsets and seeks into ``data.*`` by the
byte offset WordNet stores, so nothing but the needed lines is parsed and no ``nltk`` is
needed. Gives each word's lexicographer files ("lexnames", e.g. ``noun.animal``) and its
hypernym ancestors, and scores a word list by how much it shares them.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["LEXNAMES", "WordNet", "lexname_agreement", "hypernym_pair_share"]

# lexnames(5WN): lexicographer file number -> name
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()

_POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
DEFAULT_ROOT = "/usr/share/wordnet"


class WordNet:
    """Offline WordNet lookups.

    Parameters
    ----------
    root : path-like, optional
        Folder with ``index.*`` and ``data.*``; default ``$WNSEARCHDIR`` or
        ``/usr/share/wordnet`` (Debian ``wordnet-base``).
    pos : sequence of str
        Parts of speech used (default nouns and verbs, which carry hypernyms).

    Examples
    --------
    >>> wn = WordNet()                                  # doctest: +SKIP
    >>> "noun.animal" in wn.lexnames("dog")             # doctest: +SKIP
    True
    """

    def __init__(self, root: str | os.PathLike | None = None, *,
                 pos: Sequence[str] = ("noun", "verb")) -> None:
        root = Path(root or os.environ.get("WNSEARCHDIR", DEFAULT_ROOT))
        missing = [p for p in pos if not (root / f"index.{p}").is_file()
                   or not (root / f"data.{p}").is_file()]
        if missing:
            raise FileNotFoundError(f"WordNet files index/data.{missing[0]} not found under "
                                    f"{root}; install them with `apt-get install "
                                    f"wordnet-base` or pass root=")
        self.root = root
        self.pos = tuple(pos)
        self._index: dict[str, dict[str, list[int]]] = {}
        self._synsets: dict[tuple[str, int], tuple[str, tuple[tuple[str, int], ...]]] = {}
        self._handles: dict[str, object] = {}

    def _load_index(self, pos: str) -> dict[str, list[int]]:
        if pos not in self._index:
            table: dict[str, list[int]] = {}
            with open(self.root / f"index.{pos}", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith(" "):
                        continue  # licence header
                    parts = line.split()
                    lemma, synset_cnt, p_cnt = parts[0], int(parts[2]), int(parts[3])
                    offsets = parts[4 + p_cnt + 2:4 + p_cnt + 2 + synset_cnt]
                    table[lemma] = [int(o) for o in offsets]
            self._index[pos] = table
        return self._index[pos]

    def _read(self, pos: str, offset: int) -> tuple[str, tuple[tuple[str, int], ...]]:
        key = (pos, offset)
        if key not in self._synsets:
            fh = self._handles.get(pos)
            if fh is None:
                fh = open(self.root / f"data.{pos}", "rb")  # noqa: SIM115 (kept for seeks)
                self._handles[pos] = fh
            fh.seek(offset)
            parts = fh.readline().decode("utf-8", "replace").split()
            lexname = LEXNAMES[int(parts[1])]
            w_cnt = int(parts[3], 16)
            i = 4 + 2 * w_cnt
            p_cnt = int(parts[i])
            hypers = []
            for j in range(p_cnt):
                sym, off, p = parts[i + 1 + 4 * j:i + 4 + 4 * j]
                if sym in ("@", "@i") and _POS.get(p) == pos:
                    hypers.append((pos, int(off)))
            self._synsets[key] = (lexname, tuple(hypers))
        return self._synsets[key]

    def synsets(self, word: str) -> list[tuple[str, int]]:
        """(pos, offset) of every synset of ``word`` (lower-cased; a plural ``-s`` falls
        back to the singular)."""
        w = word.lower()
        out = []
        for pos in self.pos:
            idx = self._load_index(pos)
            offs = idx.get(w)
            if offs is None and pos == "noun" and w.endswith("s") and len(w) > 3:
                offs = idx.get(w[:-1])
            out.extend((pos, o) for o in offs or ())
        return out

    def __contains__(self, word: str) -> bool:
        return bool(self.synsets(word))

    def lexnames(self, word: str) -> set[str]:
        """Lexicographer files of all senses of ``word``."""
        return {self._read(p, o)[0] for p, o in self.synsets(word)}

    def n_senses(self, word: str) -> int:
        """Number of synsets (senses) of ``word`` over the parts of speech used."""
        return len(self.synsets(word))

    def ancestors(self, word: str, *, depth: int = 2) -> set[tuple[str, int]]:
        """The word's synsets and their hypernyms up to ``depth`` levels up."""
        frontier = set(self.synsets(word))
        seen = set(frontier)
        for _ in range(depth):
            nxt = set()
            for p, o in frontier:
                nxt.update(self._read(p, o)[1])
            nxt -= seen
            seen |= nxt
            frontier = nxt
        return seen

    def close(self) -> None:
        """Close the data files opened for seeking (reopened on the next lookup)."""
        for fh in self._handles.values():
            fh.close()  # type: ignore[attr-defined]
        self._handles.clear()

    def __enter__(self) -> WordNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handles", None):  # __init__ may have raised before setting it
            self.close()


def lexname_agreement(wn: WordNet, words: Sequence[str], *, min_words: int = 5,
                      ) -> float | None:
    """Largest share of the WordNet-known ``words`` that have one lexname in common.

    ``None`` when fewer than ``min_words`` of them are in WordNet.
    """
    names = [wn.lexnames(w) for w in words]
    names = [n for n in names if n]
    if len(names) < min_words:
        return None
    counts = Counter(itertools.chain.from_iterable(names))
    return max(counts.values()) / len(names)


def hypernym_pair_share(wn: WordNet, words: Sequence[str], *, depth: int = 2,
                        min_words: int = 5) -> float | None:
    """Share of pairs of WordNet-known ``words`` with a common synset among their hypernym
    ancestors up to ``depth`` levels (a sense of one may also be an ancestor of the other).

    ``None`` when fewer than ``min_words`` of them are in WordNet.
    """
    anc = [wn.ancestors(w, depth=depth) for w in words]
    anc = [a for a in anc if a]
    if len(anc) < min_words:
        return None
    pairs = list(itertools.combinations(anc, 2))
    return sum(1 for a, b in pairs if a & b) / len(pairs)
