"""``reprlab.factors`` — word factors and transformer factors by dictionary learning.

Word factors (arXiv:1910.03833) live in :mod:`reprlab.factors.words` (fitting, evaluation,
the words part of ``reprlab reproduce factors``), with vector-table loaders in
:mod:`reprlab.factors.word_vectors` and an offline WordNet reader in
:mod:`reprlab.factors.wordnet`. Both methods use the engine in :mod:`reprlab.sparse`.
"""

from reprlab.factors.words import WordFactors, fit_word_factors, run_word_claims

__all__ = ["WordFactors", "fit_word_factors", "run_word_claims"]
