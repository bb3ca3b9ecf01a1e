"""Model compression: smaller, faster variants of a model, measured, and the best registered.

:func:`compress` loads a model, builds candidate variants, measures each on the validation
rows given, picks one by a stated rule and registers it as the next version of the same
registered model, linked to its parent.

Candidates (:mod:`modelkeep.compress.variants`): the ``original``; the whole scikit-learn
model (pipeline included) converted to ONNX by skl2onnx (``onnx``); that graph with int8
weights by onnxruntime's dynamic quantisation, for models with matrix weights: linear models
and MLPs (``onnx_int8``, :mod:`modelkeep.compress.quantize`); and for tree ensembles, the
first k trees, limited-depth refits and a distilled smaller ensemble, each also as ONNX
(:mod:`modelkeep.compress.trees`). Refits need training rows: pass ``train_data=``, or
``data`` is split in halves (one to refit on, one to measure every variant on).

Measurements (:mod:`modelkeep.compress.measure`): size of the saved package, single-row
latency (median of ``single_row_calls`` calls, 200 by default) and 1,000-row latency, the
metric (default the source run's primary metric, else accuracy or rmse) and fidelity (the
share of labels equal to the original's; R^2 against the original's predictions for
regressors).

The choice (:mod:`modelkeep.compress.choose`): the fastest single-row variant among those
whose metric is at most ``max_metric_drop`` worse than the original's (and whose fidelity is
at least ``min_fidelity``); latencies within 10% of the fastest tie, and the smallest
package wins a tie. When the original wins (nothing else is within tolerance, or nothing is
faster), nothing is registered: a copy of the parent would be a version that changes nothing.

Registration (:mod:`modelkeep.compress.register`): the chosen variant is logged in a new run
(an ONNX one with the ``onnx`` flavor, which ``modelkeep serve`` runs with onnxruntime),
with the table as the run's artifact ``compress/variants.json``, and registered with the tags
``modelkeep.compress.parent_version`` and ``modelkeep.compress.variant``.

Example:
    >>> result = compress("models:/churn@champion", "valid.csv", "churned")  # doctest: +SKIP
    >>> result.chosen, result.version  # doctest: +SKIP
    ('onnx', 4)
    >>> result.variants[["variant", "latency_1row_ms", "metric", "fidelity"]]  # doctest: +SKIP
"""

from __future__ import annotations

from modelkeep.compress.runner import CompressResult, compress
from modelkeep.compress.variants import Variant

__all__ = ["CompressResult", "Variant", "compress"]
