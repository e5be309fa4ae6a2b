"""scikit-learn-style estimators over :mod:`reprlab.sparse.functional`.

``__init__`` only stores arguments; ``fit`` validates them against ``_parameter_constraints``
and returns ``self``; fitted attributes end in ``_``. Inputs may be NumPy arrays or torch
tensors; outputs come back as the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from reprlab.sparse import functional as F

__all__ = ["SparseCoding", "DictionaryLearner"]


def _to_tensor(x: Any, *, dtype: torch.dtype | None, device: Any) -> tuple[torch.Tensor, bool]:
    """(tensor, was_numpy)."""
    was_numpy = not isinstance(x, torch.Tensor)
    t = torch.as_tensor(np.asarray(x)) if was_numpy else x
    if not t.is_floating_point():
        if t.dtype == torch.bool or t.is_complex() or not t.dtype.is_signed and \
                t.dtype != torch.uint8:
            raise ValueError(f"input must be real numbers, got dtype {t.dtype}")
        t = t.float()
    if dtype is not None:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    return t, was_numpy


def _back(t: torch.Tensor, was_numpy: bool) -> Any:
    return t.detach().cpu().numpy() if was_numpy else t


def _validate(est: Any, constraints: dict[str, Any]) -> None:
    for name, check in constraints.items():
        value = getattr(est, name)
        ok, expected = check(value)
        if not ok:
            raise ValueError(f"{type(est).__name__}: {name} must be {expected}, got {value!r}")


def _positive_int(v: Any) -> tuple[bool, str]:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1, "an int >= 1"


def _nonneg_int(v: Any) -> tuple[bool, str]:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0, "an int >= 0"


def _nonneg_float(v: Any) -> tuple[bool, str]:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            and v >= 0), "a finite number >= 0"


def _pos_float(v: Any) -> tuple[bool, str]:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            and v > 0), "a finite number > 0"


def _bool(v: Any) -> tuple[bool, str]:
    return isinstance(v, (bool, np.bool_)), "a bool"


def _working_set(v: Any) -> tuple[bool, str]:
    ok = v is None or v == "auto" or _nonneg_int(v)[0]
    return ok, "'auto', None or an int >= 0 (0: FISTA over all atoms)"


class SparseCoding(TransformerMixin, BaseEstimator):
    """Sparse codes against a fixed dictionary (cf. ``sklearn.decomposition.SparseCoder``).

    Parameters
    ----------
    dictionary : array or Tensor, shape (K, d)
    lam : float
        λ of ½‖x − aΦ‖² + λ‖a‖₁.
    positive : bool
        a ≥ 0 (default).
    max_iter, tol : int, float
        FISTA budget and early-check rule (see :func:`reprlab.sparse.functional.sparse_encode`).
    working_set : "auto", None or int
        Working-set size ("auto": 32 when K ≥ 128; 0: FISTA over all atoms).
    kkt_tol : float
        Every code is certified to satisfy the optimality conditions to ``kkt_tol``·λ.

    A scikit-learn estimator (``BaseEstimator`` + ``TransformerMixin``): ``clone``,
    ``get_params``/``set_params``, ``Pipeline`` and ``GridSearchCV`` work.

    Examples
    --------
    >>> coder = SparseCoding(np.eye(3), lam=0.5)
    >>> coder.transform(np.array([[2.0, 0.1, -1.0]])).round(3)
    array([[1.5, 0. , 0. ]])
    """

    _parameter_constraints = {"lam": _nonneg_float, "positive": _bool,
                              "max_iter": _positive_int, "tol": _nonneg_float,
                              "working_set": _working_set, "kkt_tol": _nonneg_float}

    def __init__(self, dictionary: Any = None, *, lam: float = 0.5, positive: bool = True,
                 max_iter: int = 500, tol: float = 1e-4,
                 working_set: int | str | None = "auto", kkt_tol: float = 1e-3) -> None:
        self.dictionary = dictionary
        self.lam = lam
        self.positive = positive
        self.max_iter = max_iter
        self.tol = tol
        self.working_set = working_set
        self.kkt_tol = kkt_tol

    def _phi(self, like: torch.Tensor) -> torch.Tensor:
        if self.dictionary is None:
            raise ValueError("SparseCoding: dictionary is None; pass the (K, d) atoms, e.g. "
                             "SparseCoding(dictionary=learner.components_)")
        phi, _ = _to_tensor(self.dictionary, dtype=like.dtype, device=like.device)
        if phi.dim() != 2:
            raise ValueError(f"SparseCoding: dictionary must be 2-D (n_atoms, n_features), "
                             f"got shape {tuple(phi.shape)}")
        return phi

    def fit(self, x: Any = None, y: Any = None) -> SparseCoding:
        """Validate parameters (the dictionary is given); returns ``self``.

        Sets ``n_features_in_`` and ``components_`` (the dictionary as a tensor)."""
        _validate(self, self._parameter_constraints)
        phi = self._phi(torch.zeros(0))
        self.components_ = phi
        self.n_features_in_ = int(phi.shape[1])
        return self

    def transform(self, x: Any, *, init: Any = None) -> Any:
        """Codes, shape (N, K)."""
        _validate(self, self._parameter_constraints)
        xt, was_numpy = _to_tensor(x, dtype=None, device=None)
        phi = self._phi(xt)
        init_t = None if init is None else _to_tensor(init, dtype=xt.dtype,
                                                      device=xt.device)[0]
        codes = F.sparse_encode(xt, phi, lam=float(self.lam), positive=bool(self.positive),
                                max_iter=int(self.max_iter), tol=float(self.tol),
                                init=init_t, working_set=self.working_set,
                                kkt_tol=float(self.kkt_tol))
        return _back(codes, was_numpy)

    def fit_transform(self, x: Any, y: Any = None) -> Any:
        return self.fit(x).transform(x)

    def inverse_transform(self, codes: Any) -> Any:
        """Reconstruction aΦ, shape (N, d)."""
        ct, was_numpy = _to_tensor(codes, dtype=None, device=None)
        return _back(F.reconstruct(ct, self._phi(ct)), was_numpy)



class DictionaryLearner(TransformerMixin, BaseEstimator):
    """Online dictionary learning with FISTA codes and the Hessian-preconditioned step.

    Parameters
    ----------
    n_atoms : int
        K, the number of factors.
    lam : float
        λ (word factors: 0.5 on unit vectors; transformer factors: 0.3).
    positive : bool
        Non-negative codes (default).
    n_epochs, batch_size : int
        Passes over the data in :meth:`fit`, rows per step.
    lr, eps, history : float, float, int
        Dictionary step η, ε and the Hessian running-mean window (official 0.005, 1e-3, 300).
    bias_correction : bool
        Bias-correct the Hessian running mean (allows ``lr`` ≈ 0.5; off as in the paper).
    max_iter, tol : int, float
        FISTA stopping rule during learning and :meth:`transform`.
    resample_every : int
        Re-seed atoms unused for that many steps (0: never).
    weighting : {"gradient", "sample"}
        How ``sample_weight`` acts (see :func:`reprlab.sparse.functional.learn_dictionary`).
    seed : int
    working_set : "auto", None or int
        Working-set size for the codes in learning and :meth:`transform` ("auto": 32 when
        K ≥ 128; 0: FISTA over all atoms).
    kkt_tol : float
        Codes are certified to ``kkt_tol``·λ (see :func:`reprlab.sparse.sparse_encode`).
    device, dtype : optional
        Where the dictionary lives; default: those of the first input.

    A scikit-learn estimator (``BaseEstimator`` + ``TransformerMixin``): ``clone``,
    ``get_params``/``set_params``, ``Pipeline`` and ``GridSearchCV`` work. :meth:`score`
    returns a dict (objective, fvu, l0, dead_fraction); for an unsupervised grid search pass
    ``scoring=`` a callable, e.g. ``lambda est, x, y=None: -est.score(x)["fvu"]``.

    Attributes
    ----------
    components_ : Tensor, shape (K, d)
        Unit-norm atoms.
    state_ : DictState
    history_ : list[StepInfo]

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> dl = DictionaryLearner(16, lam=0.1, lr=0.3, bias_correction=True).fit(x)
    >>> dl.transform(x).shape
    (200, 16)
    """

    _parameter_constraints = {
        "n_atoms": _positive_int, "lam": _nonneg_float, "positive": _bool,
        "n_epochs": _positive_int, "batch_size": _positive_int, "lr": _pos_float,
        "eps": _pos_float, "history": _positive_int, "bias_correction": _bool,
        "max_iter": _positive_int, "tol": _nonneg_float, "resample_every": _nonneg_int,
        "weighting": lambda v: (v in ("gradient", "sample"), "'gradient' or 'sample'"),
        "seed": _nonneg_int, "working_set": _working_set, "kkt_tol": _nonneg_float,
    }

    def __init__(self, n_atoms: int = 256, *, lam: float = 0.5, positive: bool = True,
                 n_epochs: int = 1, batch_size: int = 256, lr: float = 0.005,
                 eps: float = 1e-3, history: int = 300, bias_correction: bool = False,
                 max_iter: int = 500, tol: float = 1e-4, resample_every: int = 0,
                 weighting: str = "gradient", seed: int = 0, device: Any = None,
                 dtype: torch.dtype | None = None, working_set: int | str | None = "auto",
                 kkt_tol: float = 1e-3) -> None:
        self.n_atoms = n_atoms
        self.lam = lam
        self.positive = positive
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.eps = eps
        self.history = history
        self.bias_correction = bias_correction
        self.max_iter = max_iter
        self.tol = tol
        self.resample_every = resample_every
        self.weighting = weighting
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.working_set = working_set
        self.kkt_tol = kkt_tol

    # -- helpers
    def _kwargs(self) -> dict[str, Any]:
        return dict(lam=float(self.lam), lr=float(self.lr), eps=float(self.eps),
                    history=int(self.history), positive=self.positive,
                    max_iter=int(self.max_iter), tol=float(self.tol),
                    resample_every=int(self.resample_every),
                    bias_correction=bool(self.bias_correction),
                    working_set=self.working_set, kkt_tol=float(self.kkt_tol))

    def _input(self, x: Any) -> tuple[torch.Tensor, bool]:
        xt, was_numpy = _to_tensor(x, dtype=self.dtype, device=self.device)
        if hasattr(self, "components_"):
            phi = self.components_
            if xt.dim() != 2 or xt.shape[1] != phi.shape[1]:
                raise ValueError(f"x has shape {tuple(xt.shape)} but the dictionary was fit "
                                 f"on {phi.shape[1]} features (components_ "
                                 f"{tuple(phi.shape)})")
            xt = xt.to(phi)
        return xt, was_numpy

    def _generator(self) -> torch.Generator:
        if not hasattr(self, "_gen"):
            self._gen = torch.Generator().manual_seed(int(self.seed))
        return self._gen

    # -- API
    def fit(self, x: Any, y: Any = None, *, sample_weight: Any = None,
            progress: bool = False) -> DictionaryLearner:
        """Learn ``components_`` from rows ``x`` (N, d) from scratch; returns ``self``."""
        _validate(self, self._parameter_constraints)
        for attr in ("components_", "state_", "history_", "_gen"):
            self.__dict__.pop(attr, None)
        xt, _ = self._input(x)
        w = None if sample_weight is None else _to_tensor(sample_weight, dtype=xt.dtype,
                                                          device=xt.device)[0]
        state, infos = F.learn_dictionary(xt, n_atoms=int(self.n_atoms),
                                          n_epochs=int(self.n_epochs),
                                          batch_size=int(self.batch_size), weights=w,
                                          weighting=self.weighting,
                                          generator=self._generator(), progress=progress,
                                          **self._kwargs())
        self._set_state(state)
        self.history_ = infos
        return self

    def partial_fit(self, x: Any, y: Any = None, *, sample_weight: Any = None
                    ) -> DictionaryLearner:
        """One dictionary step on the batch ``x`` (initialising from it on first call)."""
        _validate(self, self._parameter_constraints)
        xt, _ = self._input(x)
        if not hasattr(self, "state_"):
            phi = F.init_dictionary(int(self.n_atoms), xt.shape[1], x=xt,
                                    generator=self._generator(), dtype=xt.dtype,
                                    device=xt.device)
            self._set_state(F.init_state(phi.to(xt)))
            self.history_ = []
        w = None if sample_weight is None else _to_tensor(sample_weight, dtype=xt.dtype,
                                                          device=xt.device)[0]
        state, info = F.dictionary_step(self.state_, xt, weights=w,
                                        generator=self._generator(), **self._kwargs())
        self._set_state(state)
        self.history_.append(info)
        return self

    def _set_state(self, state: F.DictState) -> None:
        self.state_ = state
        self.components_ = state.dictionary

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise ValueError(f"this {type(self).__name__} is not fitted; call fit or "
                             f"partial_fit first")

    def transform(self, x: Any, *, init: Any = None) -> Any:
        """Codes of ``x``, shape (N, K)."""
        self._check_fitted()
        xt, was_numpy = self._input(x)
        init_t = None if init is None else _to_tensor(init, dtype=xt.dtype,
                                                      device=xt.device)[0]
        codes = F.sparse_encode(xt, self.components_, lam=float(self.lam),
                                positive=bool(self.positive), max_iter=int(self.max_iter),
                                tol=float(self.tol), init=init_t,
                                working_set=self.working_set, kkt_tol=float(self.kkt_tol))
        return _back(codes, was_numpy)

    def fit_transform(self, x: Any, y: Any = None, **kw: Any) -> Any:
        return self.fit(x, **kw).transform(x)

    def inverse_transform(self, codes: Any) -> Any:
        """Reconstruction aΦ, shape (N, d)."""
        self._check_fitted()
        ct, was_numpy = _to_tensor(codes, dtype=self.components_.dtype,
                                   device=self.components_.device)
        return _back(F.reconstruct(ct, self.components_), was_numpy)

    def score(self, x: Any) -> dict[str, float]:
        """Objective, FVU, mean L0 and dead fraction on ``x``."""
        self._check_fitted()
        xt, _ = self._input(x)
        codes = self.transform(xt)
        xh = F.reconstruct(codes, self.components_)
        return {"objective": F.objective(xt, self.components_, codes, lam=float(self.lam)),
                "fvu": F.fvu(xt, xh), "l0": F.mean_l0(codes),
                "dead_fraction": F.dead_fraction(codes)}

