"""Confidence-based performance estimation (CBPE) of classifiers, without labels.

See :mod:`modelkeep.monitor.performance` for the method and its bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.performance import (
    CALIBRATION_METHODS,
    ESTIMATED_CLASSIFICATION_METRICS,
    Array,
    PerformanceEstimate,
    column_array,
    label_index,
    proba_matrix,
)

__all__ = ["estimate_classification"]


def estimate_classification(
    proba: Any,
    classes: Sequence[Any],
    *,
    metrics: Sequence[str] = ESTIMATED_CLASSIFICATION_METRICS,
    calibration: tuple[Any, Any] | None = None,
    calibration_method: str = "auto",
    y_pred: Any = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, PerformanceEstimate]:
    """Estimate accuracy, F1 and ROC AUC of a classifier without labels (CBPE).

    F1 is of ``classes[1]`` for two classes and the macro average otherwise; ROC AUC is
    one-vs-rest macro for more than two: the same definitions as training's metrics.

    Args:
        proba: the model's class probabilities on the current rows, ``(rows, classes)``.
        classes: the classes, in the order of the probability columns.
        metrics: which of ``accuracy``, ``f1``, ``roc_auc``.
        calibration: ``(reference_proba, reference_labels)`` from data the model did not
            train on (the validation split); without it the probabilities are taken as
            calibrated.
        calibration_method: ``auto`` (isotonic when it helps, NannyML's check), ``isotonic``,
            ``platt`` or ``none``.
        y_pred: the predicted classes (default: the most probable class of each row).
        n_bootstrap: label draws for the F1 and ROC AUC standard errors.
        seed: for those draws and the calibration check.

    Returns:
        ``{metric: PerformanceEstimate}``; NaN estimates for zero rows.

    Raises:
        InvalidInputError: probabilities that do not fit ``classes``, an unknown metric,
            calibration method or predicted class, calibration labels not in ``classes``.
    """
    labels = list(classes)
    if len(labels) < 2:
        raise InvalidInputError("classes: at least two are needed", field="classes")
    for name in metrics:
        if name not in ESTIMATED_CLASSIFICATION_METRICS:
            raise InvalidInputError(f"metrics: cannot estimate {name!r}", field="metrics")
    if calibration_method not in CALIBRATION_METHODS:
        raise InvalidInputError(
            f"calibration_method: one of {', '.join(CALIBRATION_METHODS)}",
            field="calibration_method",
        )
    scores = proba_matrix(proba, len(labels), "proba")
    predicted = _predicted_index(scores, labels, y_pred)
    if len(scores) == 0:
        return {m: PerformanceEstimate.undefined(m) for m in metrics}
    calibrated, spread = scores, dict.fromkeys(metrics, 0.0)
    if calibration is not None and calibration_method != "none":
        reference, targets = _calibration_data(calibration, labels)
        methods = _choose_calibration(reference, targets, calibration_method, seed)
        calibrated = _calibrate(scores, reference, targets, methods)
        spread = _calibration_spread(scores, predicted, reference, targets, methods, metrics, seed)
    draws = _label_draw_spread(scores, calibrated, predicted, metrics, n_bootstrap, seed)
    estimates: dict[str, PerformanceEstimate] = {}
    for name in metrics:
        value = _expected_metric(name, scores, calibrated, predicted)
        error = float(np.hypot(draws[name], spread[name]))
        estimates[name] = PerformanceEstimate.with_band(name, value, error, len(scores))
    return estimates


def _predicted_index(scores: Array, labels: list[Any], y_pred: Any) -> Array:
    if y_pred is None:
        return np.asarray(scores.argmax(axis=1), dtype=int)
    predicted = column_array(y_pred)
    if len(predicted) != len(scores):
        raise InvalidInputError(f"y_pred: {len(predicted)} rows for {len(scores)}", field="y_pred")
    return label_index(predicted, labels, "y_pred")


def _calibration_data(calibration: tuple[Any, Any], labels: list[Any]) -> tuple[Array, Array]:
    try:
        reference, targets = calibration
    except (TypeError, ValueError):
        message = "calibration: (proba, labels) expected"
        raise InvalidInputError(message, field="calibration") from None
    truth = column_array(targets)
    matrix = proba_matrix(reference, len(labels), "calibration", len(truth))
    return matrix, label_index(truth, labels, "calibration")


def _choose_calibration(reference: Array, targets: Array, method: str, seed: int) -> list[str]:
    """Per class: ``isotonic``, ``platt`` or ``none`` (one class only in the calibration data,
    or ``auto`` and isotonic calibration does not help)."""
    chosen = []
    for c in range(reference.shape[1]):
        positive = targets == c
        if reference.shape[1] == 2 and c == 0:
            chosen.append("none")  # two classes: the first is one minus the second
        elif positive.all() or not positive.any():
            chosen.append("none")
        elif method == "auto":
            helps = _isotonic_helps(reference[:, c], positive, seed)
            chosen.append("isotonic" if helps else "none")
        else:
            chosen.append(method)
    return chosen


def _calibrate(scores: Array, reference: Array, targets: Array, methods: list[str]) -> Array:
    """Per-class calibration (one-vs-rest), renormalised to sum to 1 over the classes."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    k = scores.shape[1]
    calibrated = scores.copy()
    for c in range(1, k) if k == 2 else range(k):
        positive = targets == c
        if methods[c] == "none" or positive.all() or not positive.any():
            continue
        if methods[c] == "platt":
            platt = LogisticRegression().fit(_logit(reference[:, c])[:, None], positive)
            calibrated[:, c] = platt.predict_proba(_logit(scores[:, c])[:, None])[:, 1]
        else:
            isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            isotonic.fit(reference[:, c], positive.astype(float))
            calibrated[:, c] = isotonic.predict(scores[:, c])
    if k == 2:
        calibrated[:, 0] = 1.0 - calibrated[:, 1]
        return calibrated
    totals = calibrated.sum(axis=1, keepdims=True)
    return np.where(totals > 0, calibrated / np.where(totals > 0, totals, 1.0), scores)


def _calibration_spread(
    scores: Array,
    predicted: Array,
    reference: Array,
    targets: Array,
    methods: list[str],
    metrics: Sequence[str],
    seed: int,
    resamples: int = 30,
) -> dict[str, float]:
    """Standard error of each estimate from a finite calibration set: the spread of the
    estimates over calibrators fitted on bootstrap resamples of the reference."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(resamples):
        rows = rng.integers(0, len(reference), len(reference))
        calibrated = _calibrate(scores, reference[rows], targets[rows], methods)
        for name in metrics:
            values[name].append(_expected_metric(name, scores, calibrated, predicted))
    return {name: float(np.nanstd(v, ddof=1)) for name, v in values.items()}


def _logit(p: Array) -> Array:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)))


def _isotonic_helps(reference: Array, positive: Array, seed: int, splits: int = 10) -> bool:
    """NannyML's check: isotonic calibration fitted on 90% of the reference lowers the
    expected calibration error (10 equal-count bins) of the held-out 10%, over 10 splits."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if min(positive.sum(), (~positive).sum()) < 2 or roc_auc_score(positive, reference) > 0.999:
        return False
    splitter = StratifiedShuffleSplit(n_splits=splits, test_size=0.1, random_state=seed)
    held, raw, fitted = [], [], []
    for train, test in splitter.split(reference, positive):
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(reference[train], positive[train].astype(float))
        held.append(positive[test])
        raw.append(reference[test])
        fitted.append(isotonic.predict(reference[test]))
    truth = np.concatenate(held)
    return _ece(truth, np.concatenate(raw)) > _ece(truth, np.concatenate(fitted))


def _ece(truth: Array, proba: Array, bins: int = 10) -> float:
    order = np.argsort(proba, kind="stable")
    parts = np.array_split(order, min(bins, max(len(order) // 2, 1)))
    return float(sum(len(p) * abs(proba[p].mean() - truth[p].mean()) for p in parts) / len(order))


def _expected_metric(name: str, scores: Array, calibrated: Array, predicted: Array) -> float:
    if name == "roc_auc":
        return _roc_auc_from(scores, calibrated)
    k = scores.shape[1]
    confusion = np.zeros((k, k))  # rows: true class, columns: predicted class
    for c in range(k):
        confusion[:, c] = calibrated[predicted == c].sum(axis=0)
    return _accuracy_or_f1(name, confusion)


def _accuracy_or_f1(name: str, confusion: Array) -> float:
    if name == "accuracy":
        return float(np.trace(confusion) / confusion.sum())
    tp = np.diag(confusion)
    fp, fn = confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1[1] if len(tp) == 2 else f1.mean())


def _roc_auc_from(scores: Array, positive: Array) -> float:
    """Expected ROC AUC: rows ranked by the model's scores, pairs weighted by the calibrated
    chance of being (positive, negative); one-vs-rest macro over the classes."""
    columns = [1] if scores.shape[1] == 2 else range(scores.shape[1])
    values = [_weighted_auc(scores[:, c], positive[:, c]) for c in columns]
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


def _weighted_auc(score: Array, weight: Array) -> float:
    order = np.argsort(score, kind="stable")
    s, pos = score[order], weight[order]
    neg = 1.0 - pos
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_tied, neg_tied = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    neg_below = np.cumsum(neg_tied) - neg_tied
    self_pairs = float(np.sum(pos * neg))  # a row is never paired with itself
    pairs = float(np.sum(pos_tied * (neg_below + 0.5 * neg_tied))) - 0.5 * self_pairs
    total = float(pos.sum() * neg.sum()) - self_pairs
    return pairs / total if total > 0 else float("nan")


def _label_draw_spread(
    scores: Array,
    calibrated: Array,
    predicted: Array,
    metrics: Sequence[str],
    n_bootstrap: int,
    seed: int,
) -> dict[str, float]:
    """Standard error of each realized metric when labels follow the calibrated
    probabilities: exact for accuracy, from ``n_bootstrap`` label draws otherwise."""
    n = len(scores)
    correct = calibrated[np.arange(n), predicted]
    spread = {"accuracy": float(np.sqrt(np.sum(correct * (1 - correct))) / n)}
    wanted = [m for m in metrics if m != "accuracy"]
    if not wanted:
        return spread
    rng = np.random.default_rng(seed)
    k = scores.shape[1]
    ranks = _average_ranks(scores)
    cumulative = np.cumsum(calibrated, axis=1)
    draws: dict[str, list[float]] = {m: [] for m in wanted}
    for _ in range(max(n_bootstrap, 2)):
        drawn = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), k - 1)
        if "f1" in draws:
            confusion = np.bincount(drawn * k + predicted, minlength=k * k).reshape(k, k)
            draws["f1"].append(_accuracy_or_f1("f1", confusion.astype(float)))
        if "roc_auc" in draws:
            draws["roc_auc"].append(_rank_auc(ranks, drawn))
    for name, values in draws.items():
        finite = np.asarray(values)[np.isfinite(values)]
        spread[name] = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    return spread


def _average_ranks(scores: Array) -> Array:
    from scipy.stats import rankdata

    return np.asarray(rankdata(scores, axis=0))


def _rank_auc(ranks: Array, drawn: Array) -> float:
    """ROC AUC from precomputed ranks (Mann-Whitney), one-vs-rest macro over classes present."""
    columns = [1] if ranks.shape[1] == 2 else range(ranks.shape[1])
    values = []
    for c in columns:
        positive = drawn == c
        n_pos = int(positive.sum())
        n_neg = len(drawn) - n_pos
        if n_pos and n_neg:
            values.append((ranks[positive, c].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(values)) if values else float("nan")
