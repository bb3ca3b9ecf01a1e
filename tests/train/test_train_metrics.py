"""Training metrics agree with scikit-learn's and cope with awkward validation folds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, r2_score, roc_auc_score

from modelkeep.train.metrics import DEFAULT_METRICS, METRICS, compute_metrics, greater_is_better


def _classification(n_classes: int) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, n_classes, 200)
    X = rng.normal(size=(200, 3)) + y[:, None]
    return X, y, LogisticRegression().fit(X, y)


def test_binary_metrics_match_scikit_learn() -> None:
    X, y, model = _classification(2)

    scores = compute_metrics(model, X, y, ["accuracy", "f1", "roc_auc", "log_loss"])

    assert list(scores) == ["accuracy", "f1", "roc_auc", "log_loss"]
    assert scores["accuracy"] == pytest.approx(model.score(X, y))
    assert scores["f1"] == pytest.approx(f1_score(y, model.predict(X)))
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    assert scores["log_loss"] == pytest.approx(log_loss(y, model.predict_proba(X)))


def test_multiclass_uses_macro_f1_and_one_vs_rest_auc() -> None:
    X, y, model = _classification(3)

    scores = compute_metrics(model, X, y, ["f1", "roc_auc"])

    assert scores["f1"] == pytest.approx(f1_score(y, model.predict(X), average="macro"))
    expected = roc_auc_score(y, model.predict_proba(X), multi_class="ovr")
    assert scores["roc_auc"] == pytest.approx(expected)


def test_a_fold_missing_a_class_still_scores() -> None:
    X, y, model = _classification(3)
    only_two = y != 2

    scores = compute_metrics(model, X[only_two], y[only_two], ["log_loss", "roc_auc", "f1"])

    assert all(math.isfinite(value) for value in scores.values())


def test_roc_auc_is_nan_when_one_class_is_present() -> None:
    X, y, model = _classification(2)
    ones = y == 1

    assert math.isnan(compute_metrics(model, X[ones], y[ones], ["roc_auc"])["roc_auc"])


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2))
    y = X @ [1.0, -2.0] + rng.normal(size=100)
    model = LinearRegression().fit(X, y)
    pred = model.predict(X)

    scores = compute_metrics(model, X, y, ["rmse", "mae", "r2"])

    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((pred - y) ** 2)))
    assert scores["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert scores["r2"] == pytest.approx(r2_score(y, pred))


def test_directions_and_defaults() -> None:
    assert greater_is_better("roc_auc") and greater_is_better("r2")
    assert not greater_is_better("log_loss") and not greater_is_better("rmse")
    assert set(METRICS) == {
        "accuracy",
        "balanced_accuracy",
        "f1",
        "roc_auc",
        "log_loss",
        "rmse",
        "mae",
        "r2",
    }
    for task, names in DEFAULT_METRICS.items():
        assert all(METRICS[name].task == task for name in names)
