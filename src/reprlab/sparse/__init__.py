"""``reprlab.sparse`` — the sparse-coding engine shared by the factor and Lie-group methods.

Functional core (:mod:`reprlab.sparse.functional`): :func:`sparse_encode` (certified
codes: batched FISTA with exact support steps on automatic working sets, every row checked
against the KKT conditions on the full dictionary; non-negative by default),
:func:`kkt_violation`, :func:`duality_gap`, :func:`lipschitz_constant` (a certified upper
bound), :func:`dictionary_step` / :func:`learn_dictionary` (Hessian-
diagonal preconditioned dictionary updates, unit-norm atoms, optional dead-atom re-seeding
and sample weights, all-reduced under ``torchrun``) and metrics. Estimators
(:mod:`reprlab.sparse.estimators`): :class:`SparseCoding` and :class:`DictionaryLearner`.

Dictionaries hold one atom per row, shape (K, d); codes are (N, K); x̂ = codes @ dictionary.
"""

from reprlab.sparse.estimators import DictionaryLearner, SparseCoding
from reprlab.sparse.functional import (
    CertificateWarning,
    DictState,
    StepInfo,
    atom_usage,
    dead_fraction,
    dictionary_step,
    duality_gap,
    fvu,
    init_dictionary,
    init_state,
    kkt_violation,
    learn_dictionary,
    lipschitz_constant,
    mean_l0,
    normalize_atoms,
    objective,
    reconstruct,
    soft_threshold,
    sparse_encode,
)

__all__ = [
    "DictionaryLearner",
    "SparseCoding",
    "CertificateWarning",
    "DictState",
    "StepInfo",
    "atom_usage",
    "dead_fraction",
    "dictionary_step",
    "duality_gap",
    "fvu",
    "init_dictionary",
    "init_state",
    "kkt_violation",
    "learn_dictionary",
    "lipschitz_constant",
    "mean_l0",
    "normalize_atoms",
    "objective",
    "reconstruct",
    "soft_threshold",
    "sparse_encode",
]
