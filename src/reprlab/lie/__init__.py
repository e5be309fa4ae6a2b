"""``reprlab.lie`` — Lie-group sparse coding (Chau et al., arXiv:2012.12071).

Images are a sparse non-negative combination of K templates moved by T(s) = W R(s) Wᵀ, a
learned representation of the n-torus. :class:`LieSparseCoding` holds W, Ψ and ω;
:meth:`LieSparseCoding.infer` gives the posterior over s on a grid, its MAP and α (α by the
project's sparse-coding engine :func:`reprlab.sparse.sparse_encode`); :func:`fit_lie`
learns Ψ and W; :mod:`reprlab.lie.data` makes controlled transformations of MNIST digits.
"""

from reprlab.lie.data import (
    TransformedDigits,
    rotate_digits,
    rotate_scale_digits,
    select_digits,
    translate_digits,
)
from reprlab.lie.fit import LieHistory, fit_lie, reflection_sweep
from reprlab.lie.functional import (
    LieInference,
    align_parameters,
    fourier_basis,
    infer,
    make_frequencies,
    shift_operator,
    torus_grid,
    transform,
    transform_operator,
)
from reprlab.lie.modules import LieSparseCoding

__all__ = [
    "LieSparseCoding",
    "LieInference",
    "LieHistory",
    "fit_lie",
    "reflection_sweep",
    "infer",
    "transform",
    "transform_operator",
    "fourier_basis",
    "shift_operator",
    "make_frequencies",
    "torus_grid",
    "align_parameters",
    "TransformedDigits",
    "select_digits",
    "translate_digits",
    "rotate_digits",
    "rotate_scale_digits",
]
