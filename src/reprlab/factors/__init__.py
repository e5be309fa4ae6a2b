"""``reprlab.factors`` — machinery shared by the two factor methods (no method of its own).

* :mod:`~reprlab.factors.browser` — the static factor browser (opens from disk), fed by
  :mod:`reprlab.transformer_factors.views` and :mod:`reprlab.word_factors.browser`;
* :mod:`~reprlab.factors.sae` — the TopK sparse autoencoder (with AuxK) compared side by
  side with sparse coding, and SAELens export/import;
* :mod:`~reprlab.factors.stats` — the controls and permutation tests every factor claim
  is judged with;
* :mod:`~reprlab.factors.cli` — ``reprlab factors fit|words|browse|encode``.

The methods are :mod:`reprlab.word_factors` (arXiv:1910.03833) and
:mod:`reprlab.transformer_factors` (arXiv:2103.15949).
"""

__all__: list[str] = []
