"""``reprlab.word_factors`` — word factors by dictionary learning (Zhang et al.,
arXiv:1910.03833).

* :mod:`~reprlab.word_factors.model` — :func:`fit_word_factors` → :class:`WordFactors`
  (codes, top words, ``save``/``load``: safetensors + JSON, ``encode`` for new vectors);
* :mod:`~reprlab.word_factors.evaluation` — WordNet coherence, similarity, analogy on
  vectors and the factor-space analogy;
* :mod:`~reprlab.word_factors.word_vectors` — GloVe/word2vec readers and the offline
  tables (MiniLM input embeddings, word2vec trained on gensim's text);
* :mod:`~reprlab.word_factors.wordnet` — an offline WordNet reader;
* :mod:`~reprlab.word_factors.browser` — ``reprlab factors words``;
* :mod:`~reprlab.word_factors.reproduce` — the registered method.

The browser shared with transformer factors lives in :mod:`reprlab.factors.browser`.
"""

from reprlab.word_factors.evaluation import analogy_accuracy, factor_analogy_accuracy
from reprlab.word_factors.model import WordFactors, fit_word_factors

__all__ = ["WordFactors", "fit_word_factors", "analogy_accuracy", "factor_analogy_accuracy"]
