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
              tol=1e-9, seed=1, kkt_tol=1e-8)
    dense = DictionaryLearner(20, working_set=0, **kw).fit(x)
    ws = DictionaryLearner(20, working_set=4, **kw).fit(x)
    np.testing.assert_allclose(ws.components_.numpy(), dense.components_.numpy(), atol=1e-4)
    coder = SparseCoding(dense.components_.numpy(), lam=0.05, working_set=4, tol=1e-9,
                         max_iter=2000, kkt_tol=1e-8)
    np.testing.assert_allclose(coder.transform(x), dense.transform(x), atol=1e-4)


# ----------------------------------------------------------------------------- sklearn API
def test_clone_get_set_params():
    from sklearn.base import clone

    dl = DictionaryLearner(8, lam=0.2, lr=0.1, seed=3, working_set=0)
    c = clone(dl)
    assert c is not dl and c.get_params() == dl.get_params()
    c.set_params(lam=0.3)
    assert c.lam == 0.3 and dl.lam == 0.2
    fitted = DictionaryLearner(4, lam=0.1, max_iter=20).fit(_data(n=50))
    assert not hasattr(clone(fitted), "components_")  # clone drops fitted state
    coder = SparseCoding(np.eye(3), lam=0.5)
    c2 = clone(coder)
    np.testing.assert_array_equal(c2.dictionary, coder.dictionary)
    assert c2.get_params()["lam"] == 0.5
    assert "lam=0.3" in repr(SparseCoding(np.eye(3), lam=0.3))


def test_pipeline_and_grid_search():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 240)
    x = rng.normal(size=(240, 10)) + 1.5 * y[:, None] * np.eye(10)[0]
    pipe = Pipeline([("scale", StandardScaler()),
                     ("code", DictionaryLearner(12, lam=0.1, lr=0.3, bias_correction=True,
                                                n_epochs=2, batch_size=60, max_iter=100)),
                     ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"code__lam": [0.05, 0.2], "code__n_atoms": [8, 12]}, cv=2)
    search.fit(x, y)
    assert search.best_score_ > 0.6
    assert set(search.best_params_) == {"code__lam", "code__n_atoms"}
    assert search.predict(x).shape == (240,)
    # a fixed dictionary in a pipeline
    phi = rng.normal(size=(16, 10))
    phi /= np.linalg.norm(phi, axis=1, keepdims=True)
    coded = Pipeline([("code", SparseCoding(phi, lam=0.1, positive=False)),
                      ("clf", LogisticRegression(max_iter=500))])
    gs = GridSearchCV(coded, {"code__lam": [0.01, 0.1]}, cv=2).fit(x, y)
    assert gs.best_score_ > 0.6


def test_grid_search_unsupervised_with_a_scorer():
    from sklearn.model_selection import GridSearchCV

    def neg_fvu(est, x, y=None):
        return -est.score(x)["fvu"]

    x = _data(n=200)
    gs = GridSearchCV(DictionaryLearner(20, lr=0.3, bias_correction=True, batch_size=100,
                                        max_iter=100),
                      {"lam": [0.01, 0.5]}, scoring=neg_fvu, cv=2).fit(x)
    assert gs.best_params_ == {"lam": 0.01}


@pytest.mark.parametrize(("name", "value"), [("lr", -0.1), ("n_epochs", -1),
                                             ("lam", float("nan")), ("kkt_tol", -1.0),
                                             ("working_set", "big"), ("max_iter", 0)])
def test_bad_parameters_raise_in_estimator(name, value):
    with pytest.raises(ValueError, match=name):
        DictionaryLearner(4, **{name: value}).fit(_data(n=50))


def test_sparse_coding_validates():
    with pytest.raises(ValueError, match="lam"):
        SparseCoding(np.eye(3), lam=float("nan")).transform(np.ones((1, 3)))
    with pytest.raises(ValueError, match="dictionary is None"):
        SparseCoding().fit()
    with pytest.raises(ValueError, match="2-D"):
        SparseCoding(np.ones(3)).fit()
    with pytest.raises(ValueError, match="NaN"):
        SparseCoding(np.eye(3)).transform(np.full((1, 3), np.nan))
