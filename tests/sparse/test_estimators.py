"""Tests of the sklearn-style estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reprlab.sparse import DictionaryLearner, SparseCoding
from reprlab.sparse import functional as F


def _data(n=600, d=12, k=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = F.normalize_atoms(torch.randn(k, d, generator=g))
    idx = torch.argsort(torch.rand(n, k, generator=g), 1)[:, :2]
    codes = torch.zeros(n, k).scatter_(1, idx, torch.rand(n, 2, generator=g) + 0.5)
    return (codes @ true).numpy()


def test_sparse_coding_roundtrip_numpy_and_torch():
    coder = SparseCoding(np.eye(3), lam=0.5)
    out = coder.fit().transform(np.array([[2.0, 0.1, -1.0]]))
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [[1.5, 0.0, 0.0]], atol=1e-5)
    t = coder.transform(torch.tensor([[2.0, 0.1, -1.0]]))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(coder.inverse_transform(out), [[1.5, 0.0, 0.0]], atol=1e-5)


def test_dictionary_learner_fit_transform_inverse():
    x = _data()
    dl = DictionaryLearner(20, lam=0.05, lr=0.5, bias_correction=True, n_epochs=4,
                           batch_size=100, max_iter=200, seed=0)
    assert dl.fit(x) is dl
    codes = dl.transform(x)
    assert codes.shape == (600, 20) and (codes >= 0).all()
    xh = dl.inverse_transform(codes)
    assert xh.shape == x.shape
    s = dl.score(x)
    assert s["fvu"] < 0.1 and 0 < s["l0"] < 10
    assert dl.history_[-1].objective < dl.history_[0].objective


def test_fit_is_deterministic_and_partial_fit_matches_steps():
    x = _data(n=300)
    kw = dict(lam=0.05, lr=0.2, batch_size=100, max_iter=50, tol=0, seed=3)
    a = DictionaryLearner(20, **kw).fit(x).components_
    b = DictionaryLearner(20, **kw).fit(x).components_
    torch.testing.assert_close(a, b)
    pf = DictionaryLearner(20, **kw)
    for i in range(3):
        pf.partial_fit(x[i * 100:(i + 1) * 100])
    assert pf.state_.step == 3
    assert len(pf.history_) == 3


@pytest.mark.parametrize(("name", "value"), [("lam", -1.0), ("n_atoms", 0), ("lr", 0.0),
                                             ("weighting", "x"), ("batch_size", 1.5)])
def test_bad_parameters_raise(name, value):
    kw = {"n_atoms": 4, name: value}
    n_atoms = kw.pop("n_atoms")
    with pytest.raises(ValueError, match=name):
        DictionaryLearner(n_atoms, **kw).fit(_data(n=50))


def test_feature_mismatch_and_unfitted():
    dl = DictionaryLearner(4, lam=0.1, max_iter=20)
    with pytest.raises(ValueError, match="not fitted"):
        dl.transform(np.zeros((2, 12)))
    dl.fit(_data(n=50))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        dl.transform(np.zeros((2, 5)))


def test_working_set_option_matches_dense():
    x = _data(n=200)
    kw = dict(lam=0.05, lr=0.3, bias_correction=True, batch_size=100, max_iter=2000,
              tol=1e-9, seed=1)
    dense = DictionaryLearner(20, **kw).fit(x)
    ws = DictionaryLearner(20, working_set=4, **kw).fit(x)
    np.testing.assert_allclose(ws.components_.numpy(), dense.components_.numpy(), atol=1e-4)
    coder = SparseCoding(dense.components_.numpy(), lam=0.05, working_set=4, tol=1e-9,
                         max_iter=2000)
    np.testing.assert_allclose(coder.transform(x), dense.transform(x), atol=1e-4)
