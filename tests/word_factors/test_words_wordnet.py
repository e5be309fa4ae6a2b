"""The offline WordNet reader: a tiny hand-built database and the Debian files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprlab.word_factors.wordnet import WordNet, hypernym_pair_share, lexname_agreement


def _write_db(root: Path) -> None:
    """Nouns: animal(03) <- dog, cat (05 noun.animal); tool(06 artifact) <- hammer."""
    lines = {
        "animal": ("05", ["animal"], []),
        "dog": ("05", ["dog"], ["animal"]),
        "cat": ("05", ["cat"], ["animal"]),
        "tool": ("06", ["tool"], []),
        "hammer": ("06", ["hammer"], ["tool"]),
    }
    header = "  1 This is a fake licence line\n"
    # offsets are byte positions; use fixed-width lines so they can be computed first
    offsets = {}
    pos = len(header)
    width = 80
    for name in lines:
        offsets[name] = pos
        pos += width
    body = header
    for name, (lex, words, hypers) in lines.items():
        ptrs = " ".join(f"@ {offsets[h]:08d} n 0000" for h in hypers)
        ws = " ".join(f"{w} 0" for w in words)
        line = f"{offsets[name]:08d} {lex} n {len(words):02x} {ws} {len(hypers):03d} {ptrs} | x"
        body += line.ljust(width - 1) + "\n"
    (root / "data.noun").write_text(body)
    index = header + "".join(f"{n} n 1 1 @ 1 0 {offsets[n]:08d}\n" for n in sorted(lines))
    (root / "index.noun").write_text(index)


def test_fake_database(tmp_path):
    _write_db(tmp_path)
    wn = WordNet(tmp_path, pos=("noun",))
    assert wn.lexnames("dog") == {"noun.animal"}
    assert wn.lexnames("dogs") == {"noun.animal"}  # plural falls back to singular
    assert wn.lexnames("hammer") == {"noun.artifact"}
    assert "unicorn" not in wn and "cat" in wn
    assert len(wn.ancestors("dog", depth=1)) == 2
    assert hypernym_pair_share(wn, ["dog", "cat"], min_words=2) == 1.0
    assert hypernym_pair_share(wn, ["dog", "hammer"], min_words=2) == 0.0
    assert lexname_agreement(wn, ["dog", "cat", "hammer", "unicorn"], min_words=2) == 2 / 3
    assert lexname_agreement(wn, ["dog"], min_words=2) is None


def test_missing_database(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        WordNet(tmp_path)


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").is_file(),
                    reason="Debian wordnet-base not installed")
def test_debian_wordnet():
    wn = WordNet()
    assert "noun.animal" in wn.lexnames("dog")
    assert wn.n_senses("bank") >= 10
    animals = "dog cat horse cow sheep pig goat mouse rabbit fox".split()
    mixed = "dog table run idea blue sky paper music river engine".split()
    assert hypernym_pair_share(wn, animals) > hypernym_pair_share(wn, mixed)
    assert lexname_agreement(wn, animals) == 1.0
