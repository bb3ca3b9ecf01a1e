"""How well each feature alone predicts the target: the score behind ``target_leakage``.

Each feature gets an honest, out-of-fold score from a one-feature model under 3-fold
cross-validation on a random sample of at most ``sample_size`` rows (so 100k rows cost the same
as 5k):

- numbers, booleans and datetimes: a depth-limited decision tree (depth 4 for classes, 8 for a
  numeric target), which handles missing values itself;
- categories and strings: a lookup from each category to its majority class (or mean target)
  learned on the other folds; unseen categories get the overall majority (or mean), so a column
  that is unique per row scores like a constant and is not mistaken for a leak.

Classification is scored by balanced accuracy (a constant guess gets ``1 / n_classes``, however
imbalanced the classes), regression by R² (a constant guess gets about 0). Scores are computed
with numpy rather than scikit-learn's metrics, which warn when a fold misses a class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelkeep.data.kinds import column_kind, is_classification_target, numeric_values

__all__ = ["LeakageScore", "leakage_scores"]

_FOLDS = 3
_CLASSIFIER_DEPTH = 4
_REGRESSOR_DEPTH = 8

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.intp]]
LeakageScore = tuple[float, str]
"""A feature's score and the metric it is in (``balanced_accuracy`` or ``r2``)."""


def leakage_scores(
    frame: pd.DataFrame, target: str, *, sample_size: int = 5000, seed: int = 0
) -> dict[str, LeakageScore]:
    """Out-of-fold score of a one-feature model for every column but ``target``.

    Rows without a target are left out. Returns an empty dict when the target has a single
    value, or more classes than a third of the sampled rows (most classes would be seen once);
    leaves out features with fewer than two distinct values.
    """
    labelled = frame.loc[frame[target].notna()]
    if len(labelled) > sample_size:
        labelled = labelled.sample(sample_size, random_state=seed)
    classify = is_classification_target(frame[target])
    y = _encoded_target(labelled[target], classify)
    finite = np.isfinite(y)
    labelled, y = labelled.loc[finite], y[finite]
    n_values = np.unique(y).size
    if len(y) < _FOLDS or n_values < 2 or (classify and 3 * n_values > len(y)):
        return {}
    folds = np.random.default_rng(seed).permutation(len(y)) % _FOLDS
    metric = "balanced_accuracy" if classify else "r2"
    scores: dict[str, LeakageScore] = {}
    for position, name in enumerate(labelled.columns):
        if name == target:
            continue
        column = labelled.iloc[:, position]
        if column.nunique(dropna=True) < 2:
            continue
        predicted = _out_of_fold(column, y, folds, classify, seed)
        score = _balanced_accuracy(y, predicted) if classify else _r2(y, predicted)
        scores[str(name)] = (score, metric)
    return scores


def _encoded_target(series: pd.Series[Any], classify: bool) -> FloatArray:
    if classify:
        codes, _ = pd.factorize(series)
        return codes.astype(np.float64)
    return numeric_values(series)


def _out_of_fold(
    column: pd.Series[Any], y: FloatArray, folds: IntArray, classify: bool, seed: int
) -> FloatArray:
    if column_kind(column) in ("numeric", "boolean", "datetime"):
        raw = numeric_values(column)
        x = np.where(np.isinf(raw), np.nan, raw)
        return _tree_predictions(x.reshape(-1, 1), y, folds, classify, seed)
    codes, _ = pd.factorize(column, use_na_sentinel=False)
    return _lookup_predictions(codes.astype(np.intp), y, folds, classify)


def _tree_predictions(
    x: FloatArray, y: FloatArray, folds: IntArray, classify: bool, seed: int
) -> FloatArray:
    predicted = np.empty_like(y)
    for fold in range(_FOLDS):
        test = folds == fold
        tree: DecisionTreeClassifier | DecisionTreeRegressor
        if classify:
            tree = DecisionTreeClassifier(max_depth=_CLASSIFIER_DEPTH, random_state=seed)
        else:
            tree = DecisionTreeRegressor(
                max_depth=_REGRESSOR_DEPTH, min_samples_leaf=5, random_state=seed
            )
        tree.fit(x[~test], y[~test])
        predicted[test] = tree.predict(x[test])
    return predicted


def _lookup_predictions(
    codes: IntArray, y: FloatArray, folds: IntArray, classify: bool
) -> FloatArray:
    n_codes = int(codes.max()) + 1
    predicted = np.empty_like(y)
    for fold in range(_FOLDS):
        test = folds == fold
        train_codes, train_y = codes[~test], y[~test]
        seen = np.bincount(train_codes, minlength=n_codes)
        if classify:
            by_code = _majority_class(train_codes, train_y.astype(np.int64), n_codes)
            fallback = float(np.bincount(train_y.astype(np.intp)).argmax())
        else:
            sums = np.bincount(train_codes, weights=train_y, minlength=n_codes)
            by_code = sums / np.maximum(seen, 1)
            fallback = float(train_y.mean())
        by_code[seen == 0] = fallback
        predicted[test] = by_code[codes[test]]
    return predicted


def _majority_class(codes: IntArray, labels: np.ndarray[Any, Any], n_codes: int) -> FloatArray:
    """The most frequent label per code, counted sparsely (many categories x many classes)."""
    n_classes = int(labels.max()) + 1
    pairs, counts = np.unique(codes.astype(np.int64) * n_classes + labels, return_counts=True)
    pair_codes, pair_labels = pairs // n_classes, pairs % n_classes
    order = np.lexsort((counts, pair_codes))  # by code, then count: the last of a code wins
    last = np.r_[pair_codes[order][1:] != pair_codes[order][:-1], True]
    majority = np.zeros(n_codes, dtype=np.float64)
    majority[pair_codes[order][last]] = pair_labels[order][last]
    return majority


def _balanced_accuracy(y: FloatArray, predicted: FloatArray) -> float:
    classes = np.unique(y)
    recalls = [float(np.mean(predicted[y == label] == label)) for label in classes]
    return float(np.mean(recalls))


def _r2(y: FloatArray, predicted: FloatArray) -> float:
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:
        return 0.0
    return 1.0 - float(np.sum((y - predicted) ** 2)) / total
