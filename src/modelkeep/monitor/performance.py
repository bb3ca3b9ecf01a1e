"""Realized performance where labels arrived, and what the estimates share.

The estimates themselves are in :mod:`modelkeep.monitor.cbpe` (classification) and
:mod:`modelkeep.monitor.dle` (regression); this module holds realized metrics, the estimate
type and the input checks both share.

Realized metrics are training's (:mod:`modelkeep.train.metrics`), so a monitored accuracy
means what the accuracy logged at training meant.

Estimates without labels follow NannyML's conventions so results are comparable:

- Classification, confidence-based performance estimation (CBPE). The model's probabilities
  are calibrated per class on reference data with known labels (isotonic regression, used
  only when it lowers the expected calibration error on held-out splits of the reference;
  or Platt scaling on request). Each row then adds its calibrated probabilities to an
  expected confusion matrix, which gives accuracy and F1; ROC AUC ranks the rows by the
  model's own scores and weights each pair by the calibrated chance that it is a
  (positive, negative) pair.
- Regression, direct loss estimation (DLE). A gradient-boosted "nanny" model learns the
  loss of each reference row (absolute error for MAE, squared error for RMSE) from the
  features and the prediction; its mean prediction on the current rows is the estimate.

Each estimate carries a band of +-3 standard errors from two sources: how far the realized
metric of these very rows strays from its expectation when the calibrated probabilities (or
the loss model) are right - exact for accuracy (independent Bernoulli outcomes), from labels
drawn from the calibrated probabilities for F1 and ROC AUC, from the loss model's out-of-fold
residuals for DLE - and the error of the calibration (calibrators refitted on bootstrap
resamples of the reference) or of the loss model (jackknife over its cross-validation folds).
NannyML's sampling-error bands hold the first part only. The estimates hold under covariate
shift (P(x) changes, P(y|x) does not) within the regions the reference covers; concept shift
is invisible to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.metrics import DEFAULT_METRICS, METRICS

__all__ = [
    "BAND_WIDTH",
    "CALIBRATION_METHODS",
    "ESTIMATED_CLASSIFICATION_METRICS",
    "ESTIMATED_REGRESSION_METRICS",
    "LOSS_FOLDS",
    "Array",
    "PerformanceEstimate",
    "column_array",
    "label_index",
    "proba_matrix",
    "realized_performance",
]

ESTIMATED_CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
ESTIMATED_REGRESSION_METRICS = ("mae", "rmse")
CALIBRATION_METHODS = ("auto", "isotonic", "platt", "none")
LOSS_FOLDS = 10
BAND_WIDTH = 3.0  # standard errors either side (NannyML's SAMPLING_ERROR_RANGE)

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class PerformanceEstimate:
    """A metric with its band.

    Attributes:
        metric: the metric name (as in :mod:`modelkeep.train.metrics`).
        value: the estimate.
        lower: ``value - 3 * standard_error``, clipped to the metric's range.
        upper: ``value + 3 * standard_error``, clipped likewise.
        standard_error: the standard error of the realized metric around ``value``.
        rows: rows the estimate is made on.
    """

    metric: str
    value: float
    lower: float
    upper: float
    standard_error: float = 0.0
    rows: int = 0

    @classmethod
    def exact(cls, metric: str, value: float, rows: int = 0) -> PerformanceEstimate:
        """A realized metric: known exactly, so ``lower == upper == value``."""
        return cls(metric, value, value, value, 0.0, rows)

    @classmethod
    def with_band(
        cls, metric: str, value: float, standard_error: float, rows: int
    ) -> PerformanceEstimate:
        """``value`` +- 3 standard errors, clipped to the range the metric can take."""
        low, high = (0.0, np.inf) if metric in ESTIMATED_REGRESSION_METRICS else (0.0, 1.0)
        spread = BAND_WIDTH * standard_error
        lower = float(np.clip(value - spread, low, high))
        upper = float(np.clip(value + spread, low, high))
        return cls(metric, float(value), lower, upper, float(standard_error), rows)

    @classmethod
    def undefined(cls, metric: str) -> PerformanceEstimate:
        """No rows to estimate on: every number NaN."""
        nan = float("nan")
        return cls(metric, nan, nan, nan, nan, 0)

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready values."""
        return asdict(self)


def realized_performance(
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """The task's metrics on rows whose labels are known.

    Rows without a label (None/NaN) are skipped; a metric with no labelled row is NaN.

    Args:
        task: ``classification`` or ``regression``.
        y_true: the true labels.
        y_pred: the model's predictions.
        proba: class probabilities, columns in ``classes`` order (for ``roc_auc``,
            ``log_loss``).
        classes: the model's classes (default: the sorted labels and predictions seen).
        metrics: metric names (default: the task's training defaults that the inputs allow).

    Returns:
        ``{metric: value}``, each computed exactly as training computes it.

    Raises:
        InvalidInputError: an unknown task or metric, lengths that do not match, a
            probability metric without ``proba`` or with a label not in ``classes``.

    Example:
        >>> realized_performance("regression", [1.0, 2.0], [1.5, 2.0], metrics=["mae"])
        {'mae': 0.25}
    """
    if task not in DEFAULT_METRICS:
        raise InvalidInputError(
            f"task: {task!r} is not classification or regression", field="task"
        )
    names = _metric_names(task, metrics, proba is not None)
    truth, predicted = column_array(y_true), column_array(y_pred)
    if len(predicted) != len(truth):
        raise InvalidInputError(
            f"y_pred: {len(predicted)} rows for {len(truth)} labels", field="y_pred"
        )
    known = np.asarray(pd.notna(truth), dtype=bool)
    truth, predicted = _plain_array(truth[known]), _plain_array(predicted[known])
    labels = _classes(task, classes, truth, predicted)
    scores = None
    if proba is not None:
        scores = proba_matrix(proba, len(labels), "proba", len(known))[known]
    if not known.any():
        return {name: float("nan") for name in names}
    if any(METRICS[name].needs_proba for name in names):
        label_index(truth, labels, "y_true")  # probabilities cannot score an unknown class
    return {
        name: METRICS[name].score(
            truth, scores if METRICS[name].needs_proba else predicted, labels
        )
        for name in names
    }


def _metric_names(task: str, metrics: Sequence[str] | None, has_proba: bool) -> tuple[str, ...]:
    if metrics is None:
        return tuple(n for n in DEFAULT_METRICS[task] if has_proba or not METRICS[n].needs_proba)
    for name in metrics:
        if name not in METRICS or METRICS[name].task != task:
            raise InvalidInputError(f"metrics: {name!r} is not a {task} metric", field="metrics")
        if METRICS[name].needs_proba and not has_proba:
            raise InvalidInputError(f"proba: {name} needs class probabilities", field="proba")
    return tuple(metrics)


def column_array(values: Any) -> Array:
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    return array.reshape(-1) if array.ndim != 1 else array


def _plain_array(values: Array) -> Array:
    """Object arrays (labels from JSON) as their natural dtype, so scikit-learn agrees."""
    if values.dtype != object:
        return values
    return np.asarray(pd.Series(values).infer_objects().to_numpy())


def _classes(
    task: str, classes: Sequence[Any] | None, truth: Array, predicted: Array
) -> list[Any]:
    if task != "classification":
        return []
    if classes is not None:
        return list(classes)
    return sorted(pd.unique(np.concatenate([truth, predicted])).tolist())


def proba_matrix(proba: Any, k: int, field: str, rows: int | None = None) -> Array:
    try:
        matrix = np.asarray(proba, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{field}: probabilities must be numbers", field=field) from None
    if matrix.size == 0:
        matrix = matrix.reshape(0, k)
    if matrix.ndim != 2 or matrix.shape[1] != k or (rows is not None and len(matrix) != rows):
        raise InvalidInputError(
            f"{field}: shape {matrix.shape} does not fit {k} classes"
            + ("" if rows is None else f" and {rows} rows"),
            field=field,
        )
    if not np.isfinite(matrix).all():
        raise InvalidInputError(f"{field}: probabilities must be finite", field=field)
    return matrix


def label_index(values: Array, labels: list[Any], field: str) -> Array:
    lookup = {_key(label): i for i, label in enumerate(labels)}
    try:
        return np.asarray([lookup[_key(v)] for v in values], dtype=int)
    except KeyError as exc:
        message = f"{field}: {exc.args[0]!r} is not one of the classes"
        raise InvalidInputError(message, field=field) from None


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
