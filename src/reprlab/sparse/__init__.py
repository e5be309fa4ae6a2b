"""``reprlab.sparse`` — the sparse-coding engine shared by the factor and Lie-group methods.

Functional core (:mod:`reprlab.sparse.functional`): :func:`sparse_encode` (batched FISTA,
non-negative by default), :func:`dictionary_step` / :func:`learn_dictionary` (Hessian-
diagonal preconditioned dictionary updates, unit-norm atoms, optional dead-atom re-seeding
and sample weights, all-reduced under ``torchrun``) and metrics. Estimators
(:mod:`reprlab.sparse.estimators`): :class:`SparseCoding` and :class:`DictionaryLearner`.

Dictionaries hold one atom per row, shape (K, d); codes are (N, K); x̂ = codes @ dictionary.
"""

from reprlab.sparse.estimators import DictionaryLearner, SparseCoding
from reprlab.sparse.functional import (
    DictState,
    StepInfo,
    atom_usage,
    dead_fraction,
    dictionary_step,
    fvu,
    init_dictionary,
    init_state,
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
    "DictState",
    "StepInfo",
    "atom_usage",
    "dead_fraction",
    "dictionary_step",
    "fvu",
    "init_dictionary",
    "init_state",
    "learn_dictionary",
    "lipschitz_constant",
    "mean_l0",
    "normalize_atoms",
    "objective",
    "reconstruct",
    "soft_threshold",
    "sparse_encode",
]
