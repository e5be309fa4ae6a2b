"""`reprlab factors fit/browse` and the `factors` reproduction on a tiny config."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from dataclasses import replace

import pytest

from reprlab.cli import main
from reprlab.factors import reproduce as R
from reprlab.factors import transformer as T
from reprlab.registry import get_method
from reprlab.report import VERDICTS, write_method_json
from reprlab.reproduce import ReproduceContext

TINY = replace(
    R.QUICK_CONFIG, n_contexts=24, max_articles=4, polysemy_words=("state", "court"),
    per_word=6, n_attributions=2, lime_samples=16, browser_contexts=3,
    factors=replace(R.QUICK_CONFIG.factors, n_factors=32, max_iter=15, encode_max_iter=25,
                    top_k=5, importance_n=3, stats_contexts=24, track_words=()))


def test_cli_fit_and_browse(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "The bank raised its interest rate again this spring. She sat on the bank of the "
        "river and watched the water.\nThe court ruled that the state must pay the fine. "
        "Players walked onto the tennis court at noon today.\n")
    out = tmp_path / "fx"
    rc = main(["factors", "fit", "--corpus", str(corpus), "--out", str(out), "--factors", "8",
               "--max-contexts", "4", "--quiet"])
    assert rc == 0
    index = out / "index.html"
    assert capsys.readouterr().out.strip() == str(index)
    assert index.is_file() and list((out / "factor").glob("*.html"))
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["fvu"]) == 7 and summary["contexts"] == 4
    assert main(["factors", "browse", str(out)]) == 0
    assert main(["factors", "browse", str(tmp_path / "none")]) == 2
    assert main(["factors", "fit", "--corpus", str(tmp_path / "no.txt"),
                 "--out", str(out)]) == 2
    assert main(["factors"]) == 1


def test_full_config_scale():
    assert R.FULL_CONFIG.n_contexts >= 50_000 and R.FULL_CONFIG.windows
    assert R.FULL_CONFIG.factors.n_factors == 1000  # paper's 2,000 for 768-d, scaled to 384-d


def test_registered():
    m = get_method("factors")
    assert m.run is R.reproduce and "2103.15949" in m.paper


def test_reproduce_tiny(tmp_path, monkeypatch):
    fake = types.ModuleType("reprlab.factors.words")
    fake.__spec__ = importlib.machinery.ModuleSpec("reprlab.factors.words", None)
    fake.run_word_claims = lambda ctx: ([], [], {"fake": True})
    monkeypatch.setitem(sys.modules, "reprlab.factors.words", fake)
    ctx = ReproduceContext(method="factors", quick=True, out=tmp_path, progress=False)
    report = R.reproduce(ctx, config=TINY)
    names = [c.name for c in report.claims]
    assert len(names) == 5 and all(c.verdict in VERDICTS for c in report.claims)
    assert any("polysemy" in n for n in names)
    assert report.config["words"] == {"fake": True}
    assert report.figures and "polysemy" in report.tables
    assert (tmp_path / "factors" / "browser" / "index.html").is_file()
    assert (ctx.work_dir / "transformer_factors.pt").is_file()  # checkpoint for resume
    path = write_method_json(report, tmp_path)
    data = json.loads(path.read_text())
    assert data["method"] == "factors" and len(data["claims"]) == 5


def test_gensim_documents():
    docs = T.gensim_documents(("lee",))
    assert len(docs) == 300
    with pytest.raises(ValueError, match="which"):
        T.gensim_documents(("nope",))


def test_cli_words_browser(tmp_path, capsys):
    import torch

    g = torch.Generator().manual_seed(0)
    words = ["king", "queen", "man", "woman", "apple", "pear", "car", "train", "red", "blue",
             "river", "lake"]
    base = torch.randn(6, 8, generator=g)
    vecs = torch.stack([base[i // 2] + 0.1 * torch.randn(8, generator=g)
                        for i in range(len(words))])
    path = tmp_path / "vec.txt"
    path.write_text("".join(w + " " + " ".join(f"{v:.4f}" for v in row.tolist()) + "\n"
                            for w, row in zip(words, vecs)))
    out = tmp_path / "wf"
    rc = main(["factors", "words", "--vectors", str(path), "--out", str(out), "--factors", "6",
               "--lam", "0.5", "--steps", "30"])
    assert rc == 0
    index = out / "index.html"
    assert capsys.readouterr().out.strip() == str(index)
    text = index.read_text()
    assert "word factor" in text and (out / "word_factors.pt").is_file()
    pages = list((out / "factor").glob("*.html"))
    assert pages and any("<mark class=hit>" in p.read_text() for p in pages)
    assert main(["factors", "words", "--vectors", str(tmp_path / "none.txt"),
                 "--out", str(out)]) == 2
