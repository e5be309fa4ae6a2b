"""Word-vector loaders on tiny files written here, and the offline tables."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from reprlab.word_factors.word_vectors import (
    load_word_vectors,
    log_frequency_weights,
    save_word_vectors,
)

WORDS = ["king", "queen", "man", "woman", "naïve"]


def _vectors():
    return torch.arange(15, dtype=torch.float32).reshape(5, 3) / 7 - 1


@pytest.mark.parametrize("fmt", ["glove", "word2vec", "word2vec-bin"])
def test_roundtrip_and_autodetect(tmp_path, fmt):
    path = tmp_path / f"vec.{fmt}"
    save_word_vectors(path, WORDS, _vectors(), fmt=fmt)
    for given in (fmt, "auto"):
        words, vecs = load_word_vectors(path, fmt=given)
        assert words == WORDS
        torch.testing.assert_close(vecs, _vectors(), atol=1e-5, rtol=0)
    words, vecs = load_word_vectors(path, limit=2)
    assert words == WORDS[:2] and vecs.shape == (2, 3)
    words, _ = load_word_vectors(path, vocab={"man", "naïve"})
    assert words == ["man", "naïve"]


def test_handwritten_glove_and_word2vec_files(tmp_path):
    glove = tmp_path / "g.txt"
    glove.write_text("the 0.1 0.2\ncat -1 2.5\n")
    words, vecs = load_word_vectors(glove)
    assert words == ["the", "cat"]
    np.testing.assert_allclose(vecs.numpy(), [[0.1, 0.2], [-1, 2.5]], rtol=1e-6)
    w2v = tmp_path / "w.txt"
    w2v.write_text("2 2\nthe 0.1 0.2\ncat -1 2.5\n")
    assert load_word_vectors(w2v)[0] == ["the", "cat"]
    binary = tmp_path / "w.bin"
    binary.write_bytes(b"2 2\n" + b"the " + struct.pack("<2f", 0.1, 0.2) + b"\n"
                       + b"cat " + struct.pack("<2f", -1, 2.5))
    words, vecs = load_word_vectors(binary)
    assert words == ["the", "cat"]
    np.testing.assert_allclose(vecs.numpy(), [[0.1, 0.2], [-1, 2.5]], rtol=1e-6)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_word_vectors(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1 2 3\n")
    with pytest.raises(ValueError, match="expected 2 values"):
        load_word_vectors(bad)
    with pytest.raises(ValueError, match="fmt"):
        load_word_vectors(bad, fmt="fasttext")


def test_log_frequency_weights():
    w = log_frequency_weights(["a", "b"], counts=[1, np.e ** 2])
    torch.testing.assert_close(w, torch.tensor([0.0, 2.0], dtype=torch.float64))
    wf = log_frequency_weights(["the", "aardvark", "qqqzzxq"])
    assert wf[0] > wf[1] > 0 and wf[2] == 0


def test_minilm_whole_word_table():
    from reprlab.word_factors.word_vectors import minilm_word_table

    words, vecs = minilm_word_table()
    assert vecs.shape == (len(words), 384) and len(words) > 15000
    assert "the" in words and all(w.isalpha() and w.islower() for w in words)
    assert not any(w.startswith("##") for w in words)
    assert torch.isfinite(vecs).all()
