"""The metrics a training config may ask for, which task each fits, and how each is computed.

Classification: ``accuracy``, ``balanced_accuracy``, ``f1`` (binary: of the second class in
sorted order; multiclass: macro average), ``roc_auc`` (binary, or one-vs-rest macro average),
``log_loss``. Regression: ``rmse``, ``mae``, ``r2``. Probabilities are taken from the model's
``predict_proba`` with its ``classes_``, so a fold that lacks a class still scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricSpec",
    "compute_metrics",
    "greater_is_better",
]

Scorer = Callable[[Any, Any, Sequence[Any]], float]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its task, direction, and whether it scores probabilities."""

    name: str
    task: str
    greater_is_better: bool
    needs_proba: bool
    score: Scorer  # (y_true, y_pred or proba, the model's classes) -> value


def _accuracy(y: Any, pred: Any, _classes: Sequence[Any]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, pred))


def _balanced_accuracy(y: Any, pred: Any, _classes: Sequence[Any]) -> float:
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        # A validation fold may miss a class the model predicts; the score is still defined.
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y, pred))


def _f1(y: Any, pred: Any, classes: Sequence[Any]) -> float:
    from sklearn.metrics import f1_score

    if len(classes) == 2:
        return float(f1_score(y, pred, pos_label=classes[1], zero_division=0.0))
    return float(f1_score(y, pred, labels=list(classes), average="macro", zero_division=0.0))


def _roc_auc(y: Any, proba: Any, classes: Sequence[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(y)
    if np.unique(labels).size < 2:
        return float("nan")  # undefined with a single class in the sample
    if len(classes) == 2:
        return float(roc_auc_score(labels == classes[1], proba[:, 1]))
    # One-vs-rest, macro average over the classes present: scikit-learn's "ovr" when every
    # class is there, and still defined on a validation fold that lacks one.
    scores = [
        roc_auc_score(labels == label, proba[:, column])
        for column, label in enumerate(classes)
        if (labels == label).any()
    ]
    return float(np.mean(scores))


def _log_loss(y: Any, proba: Any, classes: Sequence[Any]) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, proba, labels=list(classes)))


def _rmse(y: Any, pred: Any, _classes: Sequence[Any]) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, pred))


def _mae(y: Any, pred: Any, _classes: Sequence[Any]) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, pred))


def _r2(y: Any, pred: Any, _classes: Sequence[Any]) -> float:
    from sklearn.metrics import r2_score

    if len(y) < 2:
        return float("nan")
    return float(r2_score(y, pred))


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", "classification", True, False, _accuracy),
        MetricSpec("balanced_accuracy", "classification", True, False, _balanced_accuracy),
        MetricSpec("f1", "classification", True, False, _f1),
        MetricSpec("roc_auc", "classification", True, True, _roc_auc),
        MetricSpec("log_loss", "classification", False, True, _log_loss),
        MetricSpec("rmse", "regression", False, False, _rmse),
        MetricSpec("mae", "regression", False, False, _mae),
        MetricSpec("r2", "regression", True, False, _r2),
    )
}

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "accuracy", "balanced_accuracy", "f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


def greater_is_better(name: str) -> bool:
    """Whether a higher value of metric ``name`` is better (``log_loss``, ``rmse`` and ``mae``
    are minimised)."""
    return METRICS[name].greater_is_better


def compute_metrics(model: Any, X: Any, y: Any, names: Sequence[str]) -> dict[str, float]:
    """Score a fitted model (or pipeline) on ``(X, y)`` with each metric in ``names``.

    Args:
        model: fitted; ``predict_proba`` and ``classes_`` are used for probability metrics.
        X: the features.
        y: the true targets.
        names: metric names from :data:`METRICS` (checked by the config beforehand).

    Returns:
        ``{name: value}`` in the order of ``names``; NaN where a metric is undefined on this
        sample (ROC AUC with one class present).
    """
    specs = [METRICS[name] for name in names]
    classes = list(getattr(model, "classes_", []))
    pred = model.predict(X) if any(not s.needs_proba for s in specs) else None
    proba = model.predict_proba(X) if any(s.needs_proba for s in specs) else None
    y_true = np.asarray(y)
    return {
        spec.name: spec.score(y_true, proba if spec.needs_proba else pred, classes)
        for spec in specs
    }
