"""Paired tests for champion vs challenger on the same rows: McNemar's test and the bootstrap.

- :func:`mcnemar_test` compares two classifiers' right/wrong answers row by row (exact binomial
  test below 25 discordant rows, else chi-squared with continuity correction).
- :func:`paired_bootstrap` resamples the rows (one resample for both models) for a confidence
  interval and a two-sided p-value of the difference in any metric of
  :data:`modelkeep.train.metrics.METRICS`, "improvement" oriented: positive means the
  challenger (``b``) is better, also where lower is better.

Resampling is vectorised: a block of resamples is a matrix of row counts from which every
built-in metric follows by matrix products (:func:`metric_on_resamples`), so 100,000 rows x
1,000 resamples take seconds. A metric added to ``METRICS`` later is scored per resample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.metrics import METRICS, MetricSpec

__all__ = [
    "BootstrapResult",
    "McNemarResult",
    "class_labels",
    "mcnemar_test",
    "metric_on_resamples",
    "metric_spec",
    "paired_bootstrap",
]

EXACT_BELOW = 25  # discordant pairs below which McNemar's test is the exact binomial test
CHUNK_CELLS = 4_000_000  # resample-matrix cells per block (32 MB of float64)

Array = npt.NDArray[Any]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired right/wrong answers.

    Attributes:
        b: rows the champion got right and the challenger wrong.
        c: rows the champion got wrong and the challenger right.
        statistic: ``min(b, c)`` for the exact test, else ``(|b - c| - 1)^2 / (b + c)``.
        p_value: two-sided.
        exact: whether the exact binomial test was used.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


@dataclass(frozen=True)
class BootstrapResult:
    """A paired bootstrap comparison of one metric.

    Attributes:
        metric: the metric's name.
        a: the champion's value on all rows.
        b: the challenger's value on all rows.
        diff: the improvement, ``b - a`` (``a - b`` where lower is better).
        lower: lower end of the percentile confidence interval of ``diff``.
        upper: upper end of that interval.
        p_value: two-sided bootstrap p-value of "no difference".
        n: rows compared.
        n_boot: resamples on which the metric was defined for both models (ROC AUC is not
            on a resample holding one class); NaN interval and p-value when none was.
    """

    metric: str
    a: float
    b: float
    diff: float
    lower: float
    upper: float
    p_value: float
    n: int
    n_boot: int


def mcnemar_test(correct_a: Any, correct_b: Any) -> McNemarResult:
    """McNemar's test of whether two models are right equally often on the same rows.

    Args:
        correct_a: per row, whether the champion was right.
        correct_b: per row, whether the challenger was right.

    Raises:
        InvalidInputError: the two do not have the same length.

    Example:
        >>> mcnemar_test([True, True, False], [True, False, True]).p_value
        1.0
    """
    right_a = np.asarray(correct_a, dtype=bool).reshape(-1)
    right_b = np.asarray(correct_b, dtype=bool).reshape(-1)
    if right_a.shape != right_b.shape:
        raise InvalidInputError(
            f"correct_b: {right_b.size} rows for {right_a.size} in correct_a", field="correct_b"
        )
    only_a = int(np.count_nonzero(right_a & ~right_b))
    only_b = int(np.count_nonzero(~right_a & right_b))
    discordant = only_a + only_b
    if discordant == 0:
        return McNemarResult(only_a, only_b, 0.0, 1.0, True)
    if discordant < EXACT_BELOW:
        from scipy.stats import binomtest

        smaller = min(only_a, only_b)
        p_value = float(binomtest(smaller, discordant, 0.5).pvalue)
        return McNemarResult(only_a, only_b, float(smaller), min(1.0, p_value), True)
    from scipy.stats import chi2

    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return McNemarResult(only_a, only_b, float(statistic), float(chi2.sf(statistic, 1)), False)


def paired_bootstrap(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    metric: str,
    *,
    classes: Sequence[Any] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Paired bootstrap of the difference in ``metric`` between two models on the same rows.

    Args:
        y_true: the true targets.
        pred_a: the champion's predictions: labels or values, or for probability metrics
            (``roc_auc``, ``log_loss``) a rows x classes probability array.
        pred_b: the challenger's, in the same form.
        metric: a name from :data:`modelkeep.train.metrics.METRICS`.
        classes: the classes, in the order of the probability columns (default: the sorted
            labels seen).
        n_boot: resamples to draw.
        confidence: level of the percentile interval.
        seed: seeds the resampling, so a result can be reproduced.

    Raises:
        InvalidInputError: an unknown metric, no rows, lengths or shapes that do not match,
            ``n_boot`` below 1 or ``confidence`` outside (0, 1).

    Example:
        >>> result = paired_bootstrap([1, 0, 1, 1], [1, 1, 0, 1], [1, 0, 1, 1], "accuracy")
        >>> result.diff
        0.5
    """
    spec = metric_spec(metric)
    if n_boot < 1:
        raise InvalidInputError(f"n_boot: {n_boot} must be at least 1", field="n_boot")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence: {confidence} must be in (0, 1)", field="confidence")
    y, a_pred, b_pred = _paired_inputs(spec, y_true, pred_a, pred_b)
    labels = class_labels(spec, classes, y, a_pred, b_pred)
    a, b = spec.score(y, a_pred, labels), spec.score(y, b_pred, labels)
    sign = 1.0 if spec.greater_is_better else -1.0
    blocks = [
        sign
        * (
            metric_on_resamples(metric, y, b_pred, weights, labels)
            - metric_on_resamples(metric, y, a_pred, weights, labels)
        )
        for weights in _resample_counts(len(y), n_boot, seed)
    ]
    diffs = np.concatenate(blocks)
    diffs = diffs[np.isfinite(diffs)]
    lower = upper = p_value = math.nan
    if diffs.size:
        tail = (1.0 - confidence) / 2.0
        lower, upper = (float(v) for v in np.quantile(diffs, [tail, 1.0 - tail]))
        p_value = _two_sided_p(diffs)
    return BootstrapResult(
        metric, a, b, sign * (b - a), lower, upper, p_value, len(y), int(diffs.size)
    )


def metric_spec(metric: str, task: str | None = None) -> MetricSpec:
    """The :class:`MetricSpec` of ``metric`` (InvalidInputError when unknown or, given
    ``task``, not a metric of that task)."""
    spec = METRICS.get(metric)
    if spec is None or (task is not None and spec.task != task):
        kind = f"{task} " if task else ""
        known = ", ".join(n for n, s in METRICS.items() if task is None or s.task == task)
        raise InvalidInputError(
            f"metric: {metric!r} is not a {kind}metric (known: {known})", field="metric"
        )
    return spec


def class_labels(
    spec: MetricSpec, classes: Sequence[Any] | None, y: Array, *preds: Array
) -> list[Any]:
    """The classes a classification metric scores against: ``classes`` when given, else the
    sorted labels in ``y`` (and, for label metrics, in ``preds``); ``[]`` for regression."""
    if spec.task != "classification":
        return []
    if classes is not None:
        found = list(classes)
    elif spec.needs_proba:
        found = _sorted_unique([y])
    else:
        found = _sorted_unique([y, *preds])
    if spec.needs_proba:
        for pred in preds:
            if pred.shape[1] != len(found):
                raise InvalidInputError(
                    f"classes: {len(found)} classes for {pred.shape[1]} probability columns; "
                    "pass the model's classes",
                    field="classes",
                )
    return found


def metric_on_resamples(
    metric: str, y_true: Array, pred: Array, weights: Array, classes: Sequence[Any] = ()
) -> Floats:
    """``metric`` on each resample given as a row of ``weights`` (how often each row was
    drawn): the same values ``METRICS[metric].score`` gives on the resampled rows.

    Args:
        metric: a name from ``METRICS``.
        y_true: the true targets, one per column of ``weights``.
        pred: predictions (labels, values or a probability array), aligned with ``y_true``.
        weights: resamples x rows counts (non-negative integers for metrics without a
            vectorised path).
        classes: as for the metric's ``score``.

    Returns:
        One value per resample (NaN where the metric is undefined).
    """
    fast = _FAST.get(metric)
    counts = np.asarray(weights, dtype=np.float64)
    if fast is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(fast(y_true, pred, counts, list(classes)), dtype=np.float64)
    spec = METRICS[metric]
    rows = np.arange(counts.shape[1])
    values = []
    for row in counts.astype(np.int64):
        drawn = np.repeat(rows, row)
        values.append(spec.score(y_true[drawn], pred[drawn], list(classes)))
    return np.asarray(values, dtype=np.float64)


# ---- inputs and resampling --------------------------------------------------------------------


def _paired_inputs(
    spec: MetricSpec, y_true: Any, pred_a: Any, pred_b: Any
) -> tuple[Array, Array, Array]:
    y = _column(y_true)
    if y.size == 0:
        raise InvalidInputError("y_true: no rows to compare", field="y_true")
    preds = []
    for name, pred in (("pred_a", pred_a), ("pred_b", pred_b)):
        values = np.asarray(pred, dtype=np.float64) if spec.needs_proba else _column(pred)
        if spec.needs_proba and values.ndim != 2:
            raise InvalidInputError(
                f"{name}: {spec.name} scores probabilities, a rows x classes array",
                field=name,
            )
        if len(values) != len(y):
            raise InvalidInputError(f"{name}: {len(values)} rows for {len(y)}", field=name)
        preds.append(values)
    if spec.task == "regression":
        return y.astype(np.float64), preds[0].astype(np.float64), preds[1].astype(np.float64)
    return y, preds[0], preds[1]


def _column(values: Any) -> Array:
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    return array.reshape(-1)


def _sorted_unique(arrays: Sequence[Array]) -> list[Any]:
    found = pd.unique(np.concatenate([np.asarray(a, dtype=object) for a in arrays])).tolist()
    try:
        return sorted(found)
    except TypeError:  # mixed types have no order; keep first appearance
        return found


def _resample_counts(n: int, n_boot: int, seed: int) -> Iterator[Floats]:
    """Blocks of resamples, each a resamples x rows matrix of how often a row was drawn."""
    rng = np.random.default_rng(seed)
    per_block = max(1, CHUNK_CELLS // n)
    for start in range(0, n_boot, per_block):
        size = min(per_block, n_boot - start)
        drawn = rng.integers(0, n, size=(size, n))
        drawn += np.arange(size)[:, None] * n
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
        yield counts.astype(np.float64)


def _two_sided_p(diffs: Floats) -> float:
    """Twice the smaller share of resamples on either side of zero (ties count on both),
    with the +1 correction that keeps a finite bootstrap from claiming p = 0."""
    below = int(np.count_nonzero(diffs <= 0.0))
    above = int(np.count_nonzero(diffs >= 0.0))
    return min(1.0, 2.0 * (min(below, above) + 1) / (diffs.size + 1))


# ---- vectorised metrics: weights is resamples x rows ------------------------------------------


def _mean(weights: Floats, values: Array) -> Floats:
    return np.asarray(weights @ np.asarray(values, dtype=np.float64) / weights.sum(axis=1))


def _accuracy(y: Array, pred: Array, w: Floats, _classes: list[Any]) -> Floats:
    return _mean(w, y == pred)


def _mae(y: Array, pred: Array, w: Floats, _classes: list[Any]) -> Floats:
    return _mean(w, np.abs(y - pred))


def _rmse(y: Array, pred: Array, w: Floats, _classes: list[Any]) -> Floats:
    return np.sqrt(_mean(w, (y - pred) ** 2))


def _r2(y: Array, pred: Array, w: Floats, _classes: list[Any]) -> Floats:
    centred = y - y.mean()  # centring keeps the variance below accurate
    error = _mean(w, (y - pred) ** 2)
    spread = _mean(w, centred**2) - _mean(w, centred) ** 2
    flat = spread <= 1e-12 * max(1.0, float(np.mean(centred**2)))
    # scikit-learn's r2_score: 1.0 for a perfect fit of constant targets, else 0.0
    score = np.where(flat, np.where(error <= 1e-12, 1.0, 0.0), 1.0 - error / spread)
    return np.where(w.sum(axis=1) < 2, math.nan, score)


def _log_loss(y: Array, proba: Array, w: Floats, classes: list[Any]) -> Floats:
    column = pd.Index(classes, dtype=object).get_indexer(np.asarray(y, dtype=object))
    if (column < 0).any():
        unknown = np.asarray(y, dtype=object)[column < 0][0]
        raise InvalidInputError(f"y_true: {unknown!r} is not one of the classes", field="y_true")
    eps = np.finfo(proba.dtype).eps
    chosen = np.clip(proba[np.arange(len(y)), column], eps, 1 - eps)
    return _mean(w, -np.log(chosen))


def _f1(y: Array, pred: Array, w: Floats, classes: list[Any]) -> Floats:
    scored = [classes[1]] if len(classes) == 2 else classes
    per_class = []
    for label in scored:
        truth, said = y == label, pred == label
        hits = 2.0 * (w @ (truth & said).astype(np.float64))
        total = w @ truth.astype(np.float64) + w @ said.astype(np.float64)
        per_class.append(np.divide(hits, total, out=np.zeros_like(hits), where=total > 0))
    return np.asarray(np.mean(per_class, axis=0))


def _balanced_accuracy(y: Array, pred: Array, w: Floats, _classes: list[Any]) -> Floats:
    recall_sum = np.zeros(w.shape[0])
    present = np.zeros(w.shape[0])
    for label in pd.unique(np.asarray(y, dtype=object)):
        truth = y == label
        support = w @ truth.astype(np.float64)
        hits = w @ (truth & (pred == label)).astype(np.float64)
        recall_sum += np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
        present += support > 0
    return recall_sum / present


def _roc_auc(y: Array, proba: Array, w: Floats, classes: list[Any]) -> Floats:
    labels = pd.unique(np.asarray(y, dtype=object))
    supports = {_key(label): w @ (y == label).astype(np.float64) for label in labels}
    distinct = np.sum([s > 0 for s in supports.values()], axis=0)
    if len(classes) == 2:
        score = _weighted_auc(y == classes[1], proba[:, 1], w)
    else:
        total, count = np.zeros(w.shape[0]), np.zeros(w.shape[0])
        for column, label in enumerate(classes):
            support = supports.get(_key(label))
            if support is None:
                continue
            auc = _weighted_auc(y == label, proba[:, column], w)
            total += np.where(support > 0, auc, 0.0)
            count += support > 0
        score = total / count
    return np.where(distinct >= 2, score, math.nan)


def _weighted_auc(positive: Array, score: Array, w: Floats) -> Floats:
    """Mann-Whitney AUC with per-row weights, per resample: each positive counts the weight of
    the negatives scored below it plus half of those tied with it."""
    order = np.argsort(score, kind="mergesort")
    ranked, hit = score[order], np.asarray(positive, dtype=bool)[order]
    first = np.r_[True, ranked[1:] != ranked[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], ranked.size]
    drawn = w.take(order, axis=1)
    # negatives' weight up to each position; column j holds the total of positions < j
    below = np.zeros((w.shape[0], ranked.size + 1))
    np.cumsum(drawn * ~hit, axis=1, out=below[:, 1:])
    where = np.flatnonzero(hit)
    group = (np.cumsum(first) - 1)[where]
    drawn_pos = drawn[:, where]
    area = 0.5 * (
        np.einsum("ij,ij->i", drawn_pos, below[:, starts[group]])
        + np.einsum("ij,ij->i", drawn_pos, below[:, ends[group]])
    )
    pairs = drawn_pos.sum(axis=1) * below[:, -1]
    return np.where(pairs > 0, area / pairs, math.nan)


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


_FAST: dict[str, Callable[[Array, Array, Floats, list[Any]], Floats]] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "f1": _f1,
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
}
