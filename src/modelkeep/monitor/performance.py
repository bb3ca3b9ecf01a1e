"""Realized performance where labels arrived, and estimated performance where they did not.

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
from modelkeep.monitor.multivariate import encode_frames
from modelkeep.train.metrics import DEFAULT_METRICS, METRICS

__all__ = [
    "ESTIMATED_CLASSIFICATION_METRICS",
    "ESTIMATED_REGRESSION_METRICS",
    "PerformanceEstimate",
    "estimate_classification",
    "estimate_regression",
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
    truth, predicted = _column(y_true), _column(y_pred)
    if len(predicted) != len(truth):
        raise InvalidInputError(
            f"y_pred: {len(predicted)} rows for {len(truth)} labels", field="y_pred"
        )
    known = np.asarray(pd.notna(truth), dtype=bool)
    truth, predicted = _plain_array(truth[known]), _plain_array(predicted[known])
    labels = _classes(task, classes, truth, predicted)
    scores = None
    if proba is not None:
        scores = _proba_matrix(proba, len(labels), "proba", len(known))[known]
    if not known.any():
        return {name: float("nan") for name in names}
    if any(METRICS[name].needs_proba for name in names):
        _label_index(truth, labels, "y_true")  # probabilities cannot score an unknown class
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


def _column(values: Any) -> Array:
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


def _proba_matrix(proba: Any, k: int, field: str, rows: int | None = None) -> Array:
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
    scores = _proba_matrix(proba, len(labels), "proba")
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
    predicted = _column(y_pred)
    if len(predicted) != len(scores):
        raise InvalidInputError(f"y_pred: {len(predicted)} rows for {len(scores)}", field="y_pred")
    return _label_index(predicted, labels, "y_pred")


def _label_index(values: Array, labels: list[Any], field: str) -> Array:
    lookup = {_key(label): i for i, label in enumerate(labels)}
    try:
        return np.asarray([lookup[_key(v)] for v in values], dtype=int)
    except KeyError as exc:
        message = f"{field}: {exc.args[0]!r} is not one of the classes"
        raise InvalidInputError(message, field=field) from None


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _calibration_data(calibration: tuple[Any, Any], labels: list[Any]) -> tuple[Array, Array]:
    try:
        reference, targets = calibration
    except (TypeError, ValueError):
        message = "calibration: (proba, labels) expected"
        raise InvalidInputError(message, field="calibration") from None
    truth = _column(targets)
    matrix = _proba_matrix(reference, len(labels), "calibration", len(truth))
    return matrix, _label_index(truth, labels, "calibration")


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


def estimate_regression(
    X_ref: Any,
    y_ref: Any,
    pred_ref: Any,
    X_cur: Any,
    pred_cur: Any,
    *,
    metric: str = "mae",
    seed: int = 0,
) -> PerformanceEstimate:
    """Estimate MAE or RMSE of a regression model without labels (DLE).

    A histogram gradient-boosting model of the per-row loss is fitted on the reference
    (features plus the prediction); the estimate is its mean on the current rows (the root
    of it for RMSE). The standard error adds the loss model's own error (the jackknife over
    its 10 cross-validation fold models) to the spread of the realized loss, which assumes a
    loss whose spread grows with its expected value (``Var(loss | x) = kappa * E[loss | x]^2``,
    exact for noise of any scale family), ``kappa`` from the out-of-fold residuals.

    Args:
        X_ref: reference features (pandas/polars frame or 2-D array) with known targets.
        y_ref: their targets (rows with a missing target are skipped).
        pred_ref: the model's predictions for them.
        X_cur: current features, with the reference's columns.
        pred_cur: the model's predictions for them.
        metric: ``mae`` or ``rmse``.
        seed: for the loss model and its folds.

    Raises:
        InvalidInputError: an unknown metric, lengths that do not match, a missing column,
            fewer than 10 labelled reference rows.
    """
    if metric not in ESTIMATED_REGRESSION_METRICS:
        raise InvalidInputError(f"metric: cannot estimate {metric!r}", field="metric")
    encoded = encode_frames(X_ref, X_cur)
    truth, ref_pred = _numbers(y_ref, "y_ref"), _numbers(pred_ref, "pred_ref")
    cur_pred = _numbers(pred_cur, "pred_cur")
    for values, rows, field in ((truth, encoded.reference, "y_ref"),
                                (ref_pred, encoded.reference, "pred_ref"),
                                (cur_pred, encoded.current, "pred_cur")):  # fmt: skip
        if len(values) != len(rows):
            message = f"{field}: {len(values)} values for {len(rows)} rows"
            raise InvalidInputError(message, field=field)
    known = np.isfinite(truth) & np.isfinite(ref_pred)
    if known.sum() < 10:
        raise InvalidInputError("y_ref: at least 10 labelled reference rows", field="y_ref")
    if len(cur_pred) == 0:
        return PerformanceEstimate.undefined(metric)
    error = truth[known] - ref_pred[known]
    loss = np.abs(error) if metric == "mae" else error**2
    ref_features = np.column_stack([encoded.reference[known], ref_pred[known]])
    cur_features = np.column_stack([encoded.current, cur_pred])
    mean_loss, loss_se = _direct_loss(ref_features, loss, cur_features, encoded.categorical, seed)
    if metric == "mae":
        return PerformanceEstimate.with_band(metric, mean_loss, loss_se, len(cur_pred))
    rmse = float(np.sqrt(mean_loss))
    # Delta method: sd(sqrt(m)) = sd(m) / (2 sqrt(m)).
    return PerformanceEstimate.with_band(
        metric, rmse, loss_se / max(2 * rmse, 1e-12), len(cur_pred)
    )


def _numbers(values: Any, field: str) -> Array:
    try:
        return np.asarray(_column(values), dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{field}: numbers expected", field=field) from None


def _direct_loss(
    reference: Array, loss: Array, current: Array, categorical: Array, seed: int
) -> tuple[float, float]:
    """Mean predicted loss on ``current`` and its standard error.

    Two parts: the spread of the realized mean loss around its expectation (from the
    out-of-fold residuals), and the loss model's own estimation error (the delete-a-fold
    jackknife over the fold models' mean predictions on ``current``).
    """
    from sklearn.model_selection import KFold

    out_of_fold = np.empty(len(loss))
    fold_means = []
    for train, test in KFold(LOSS_FOLDS, shuffle=True, random_state=seed).split(reference):
        fold_model = _loss_model(categorical, seed).fit(reference[train], loss[train])
        out_of_fold[test] = np.clip(fold_model.predict(reference[test]), 0.0, None)
        fold_means.append(float(np.clip(fold_model.predict(current), 0.0, None).mean()))
    kappa = float(np.sum((loss - out_of_fold) ** 2) / max(np.sum(out_of_fold**2), 1e-300))
    model = _loss_model(categorical, seed).fit(reference, loss)
    expected = np.clip(model.predict(current), 0.0, None)
    realized_var = kappa * float(np.sum(expected**2)) / len(expected) ** 2
    means = np.asarray(fold_means)
    model_var = (LOSS_FOLDS - 1) / LOSS_FOLDS * float(np.sum((means - means.mean()) ** 2))
    return float(expected.mean()), float(np.sqrt(realized_var + model_var))


def _loss_model(categorical: Array, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    mask = np.r_[categorical, False]  # the last feature is the prediction
    return HistGradientBoostingRegressor(
        categorical_features=mask if mask.any() else None,
        learning_rate=0.1,
        max_iter=75,
        min_samples_leaf=40,
        early_stopping=False,
        random_state=seed,
    )
