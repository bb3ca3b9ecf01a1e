"""Why a model decides what it does: local attributions and global importance.

- :func:`explain` (``modelkeep explain MODEL_URI rows.csv``, ``POST /explain`` on the
  inference server): per-row attributions on the original input columns: exact TreeSHAP for
  tree models, the closed form for linear models, sampled KernelSHAP (background summarised
  by k-means) for any other model, each with its additivity check (``base value +
  attributions = output``, the largest error reported as ``additivity_error``).
- :func:`importance` (``modelkeep explain MODEL_URI valid.csv --importance --target y``):
  permutation importance with its spread over repeats, and mean |SHAP|, stored with the
  version's run as ``explain/importance.json`` and ``explain/importance.png``.

SHAP needs the ``explain`` extra (``pip install 'modelkeep[explain]'``); the linear closed form
and permutation importance do not.

Example:
    >>> from modelkeep.explain import explain, importance
    >>> local = explain("models:/churn@champion", "rows.csv")  # doctest: +SKIP
    >>> local.attributions.head()  # doctest: +SKIP
    >>> importance("models:/churn@champion", "valid.csv", "churned").ranking  # doctest: +SKIP
"""

from __future__ import annotations

from modelkeep.explain.explanation import Explanation
from modelkeep.explain.importance import ImportanceResult, importance
from modelkeep.explain.local import explain

__all__ = ["Explanation", "ImportanceResult", "explain", "importance"]
