"""Realized performance (training's definitions) and label-free estimates with their bands."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.cbpe import estimate_classification
from modelkeep.monitor.dle import estimate_regression
from modelkeep.monitor.performance import PerformanceEstimate, realized_performance
from modelkeep.train.metrics import compute_metrics

CLASSIFICATION = ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"]
WEIGHTS = np.array([[1.5, -1.0, 0.5], [-0.5, 1.2, 1.0], [0.3, 0.3, -1.4]])


def _classification_data(
    rng: np.random.Generator, n: int, k: int, shift: float = 0.0, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """P(y | x) fixed (logistic / softmax in x); P(x) moved by ``shift`` and ``scale``."""
    x = rng.normal(size=(n, 3)) * scale + shift * np.array([1.0, 0.5, -0.5])
    if k == 2:
        p = 1 / (1 + np.exp(-(x @ WEIGHTS[0] - 0.3)))
        return x, (rng.random(n) < p).astype(int)
    z = x @ WEIGHTS[:k].T
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return x, np.minimum((rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1), k - 1)


def _overconfident(proba: np.ndarray, power: float) -> np.ndarray:
    """Probabilities pushed towards 0 and 1: same ranking, miscalibrated."""
    sharpened = proba**power
    return sharpened / sharpened.sum(axis=1, keepdims=True)


def _scenario(seed: int, k: int, power: float, shift: float, scale: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*_classification_data(rng, 20_000, k))
    x_ref, y_ref = _classification_data(rng, 5_000, k)
    x_cur, y_cur = _classification_data(rng, 2_000, k, shift, scale)
    return {
        "ref_proba": _overconfident(model.predict_proba(x_ref), power),
        "y_ref": y_ref,
        "cur_proba": _overconfident(model.predict_proba(x_cur), power),
        "y_cur": y_cur,
    }


def _realized(s: dict[str, Any], proba_key: str, labels_key: str) -> dict[str, float]:
    proba = s[proba_key]
    k = proba.shape[1]
    return realized_performance(
        "classification", s[labels_key], proba.argmax(axis=1), proba=proba,
        classes=list(range(k)), metrics=["accuracy", "f1", "roc_auc"],
    )  # fmt: skip


# --- realized ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3])
def test_realized_classification_equals_training_metrics(k: int) -> None:
    rng = np.random.default_rng(k)
    x, y = _classification_data(rng, 600, k)
    labels = np.array(["no", "yes", "maybe"])[y]  # string classes, as a model may have
    model = LogisticRegression().fit(x[:300], labels[:300])
    expected = compute_metrics(model, x[300:], labels[300:], CLASSIFICATION)
    realized = realized_performance(
        "classification", labels[300:], model.predict(x[300:]),
        proba=model.predict_proba(x[300:]), classes=model.classes_, metrics=CLASSIFICATION,
    )  # fmt: skip
    assert realized == expected


def test_realized_regression_equals_training_metrics() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = x @ [1.0, -2.0] + rng.normal(size=400)
    model = LinearRegression().fit(x[:200], y[:200])
    expected = compute_metrics(model, x[200:], y[200:], ["rmse", "mae", "r2"])
    assert realized_performance("regression", y[200:], model.predict(x[200:])) == expected


def test_realized_skips_rows_without_a_label() -> None:
    y_true = pd.Series([1, None, 0, 1, None, 0], dtype=object)  # labels arrive one by one
    y_pred = np.array([1, 0, 1, 1, 1, 0])
    realized = realized_performance("classification", y_true, y_pred, metrics=["accuracy"])
    assert realized == {"accuracy": 0.75}
    nothing = realized_performance("classification", [None, None], [0, 1], classes=[0, 1])
    assert all(math.isnan(v) for v in nothing.values())


def test_realized_default_metrics_follow_the_inputs() -> None:
    y, pred = [0, 1, 1, 0], [0, 1, 0, 0]
    assert list(realized_performance("classification", y, pred)) == [
        "accuracy", "balanced_accuracy", "f1",
    ]  # fmt: skip
    proba = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]
    with_proba = realized_performance("classification", y, pred, proba=proba, classes=[0, 1])
    assert list(with_proba) == ["roc_auc", "accuracy", "balanced_accuracy", "f1", "log_loss"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"task": "ranking"}, "task"),
        ({"metrics": ["rmse"]}, "metrics"),
        ({"metrics": ["roc_auc"]}, "proba"),
        ({"y_pred": [0, 1]}, "y_pred"),
        ({"proba": [[0.5, 0.5]], "classes": [0, 1]}, "proba"),
        ({"y_true": [0, 1, 5], "proba": [[0.5, 0.5]] * 3, "classes": [0, 1]}, "y_true"),
    ],
)
def test_realized_rejects_bad_input(kwargs: dict[str, Any], field: str) -> None:
    call: dict[str, Any] = {"task": "classification", "y_true": [0, 1, 1], "y_pred": [0, 1, 0]}
    call.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        realized_performance(**call)
    assert info.value.field == field


# --- estimated: classification (CBPE) ------------------------------------------------------


def test_expected_confusion_matrix_by_hand() -> None:
    proba = [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]
    estimates = estimate_classification(proba, [0, 1], metrics=["accuracy", "f1"])
    assert estimates["accuracy"].value == pytest.approx((0.8 + 0.6 + 0.9) / 3)
    # Predicted positive: rows 0 and 2. TP = 0.8 + 0.9, FP = 0.2 + 0.1, FN = 0.4.
    assert estimates["f1"].value == pytest.approx(3.4 / (3.4 + 0.3 + 0.4))
    correct = np.array([0.8, 0.6, 0.9])
    standard_error = np.sqrt(np.sum(correct * (1 - correct))) / 3
    assert estimates["accuracy"].standard_error == pytest.approx(standard_error)
    upper = min(1.0, (0.8 + 0.6 + 0.9) / 3 + 3 * standard_error)
    assert estimates["accuracy"].upper == pytest.approx(upper)


def test_expected_roc_auc_is_the_mean_over_labels_drawn_from_the_probabilities() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    p = rng.beta(2, 2, size=500)
    draws = [roc_auc_score(rng.random(500) < p, p) for _ in range(800)]
    estimate = estimate_classification(np.c_[1 - p, p], [0, 1], metrics=["roc_auc"])["roc_auc"]
    assert estimate.value == pytest.approx(np.mean(draws), abs=0.004)
    assert estimate.standard_error == pytest.approx(np.std(draws), rel=0.15)


@pytest.mark.parametrize(
    ("k", "power", "seeds"),
    [(2, 2.5, range(4)), (3, 1.0, range(3))],
    ids=["binary-overconfident", "multiclass"],
)
def test_estimate_within_band_under_covariate_shift(k: int, power: float, seeds: range) -> None:
    """Same P(y | x), P(x) moved: the estimate's band holds the realized metric."""
    for seed in seeds:
        s = _scenario(seed, k, power, shift=-0.5, scale=0.5)
        estimates = estimate_classification(
            s["cur_proba"], list(range(k)), calibration=(s["ref_proba"], s["y_ref"]), seed=seed
        )
        realized = _realized(s, "cur_proba", "y_cur")
        reference = _realized(s, "ref_proba", "y_ref")
        for name, estimate in estimates.items():
            assert estimate.lower <= realized[name] <= estimate.upper, (seed, name)
            assert estimate.upper - estimate.lower < 0.15
        # The shift really moved performance, and the estimate followed it.
        assert realized["accuracy"] < reference["accuracy"] - 0.05
        assert estimates["accuracy"].value < reference["accuracy"] - 0.04


def test_calibration_on_the_reference_is_what_makes_it_right() -> None:
    s = _scenario(7, 2, power=2.5, shift=1.0, scale=0.6)
    realized = _realized(s, "cur_proba", "y_cur")["accuracy"]
    raw = estimate_classification(s["cur_proba"], [0, 1], metrics=["accuracy"])["accuracy"]
    calibrated = estimate_classification(
        s["cur_proba"], [0, 1], metrics=["accuracy"], calibration=(s["ref_proba"], s["y_ref"])
    )["accuracy"]
    assert not raw.lower <= realized <= raw.upper  # overconfident scores overstate accuracy
    assert raw.value > realized
    assert calibrated.lower <= realized <= calibrated.upper
    platt = estimate_classification(
        s["cur_proba"], [0, 1], metrics=["accuracy"],
        calibration=(s["ref_proba"], s["y_ref"]), calibration_method="platt",
    )["accuracy"]  # fmt: skip
    assert platt.lower <= realized <= platt.upper


def test_concept_shift_is_not_covered() -> None:
    """With P(y | x) changed (labels of a third of the rows flipped) the band misses."""
    s = _scenario(11, 2, power=1.0, shift=0.0, scale=1.0)
    flip = np.random.default_rng(0).random(len(s["y_cur"])) < 0.3
    s["y_cur"] = np.where(flip, 1 - s["y_cur"], s["y_cur"])
    estimates = estimate_classification(
        s["cur_proba"], [0, 1], calibration=(s["ref_proba"], s["y_ref"])
    )
    realized = _realized(s, "cur_proba", "y_cur")
    for name in ("accuracy", "roc_auc"):
        assert realized[name] < estimates[name].lower


def test_estimate_takes_given_predictions_and_labels_of_any_type() -> None:
    proba = np.array([[0.7, 0.3], [0.4, 0.6], [0.8, 0.2]])
    by_argmax = estimate_classification(proba, ["ham", "spam"], metrics=["accuracy"])
    given = estimate_classification(
        proba, ["ham", "spam"], metrics=["accuracy"], y_pred=["spam", "spam", "ham"]
    )
    assert by_argmax["accuracy"].value == pytest.approx((0.7 + 0.6 + 0.8) / 3)
    assert given["accuracy"].value == pytest.approx((0.3 + 0.6 + 0.8) / 3)


def test_estimate_of_no_rows_is_nan() -> None:
    estimates = estimate_classification(np.empty((0, 2)), [0, 1])
    assert set(estimates) == {"accuracy", "f1", "roc_auc"}
    assert all(math.isnan(e.value) and e.rows == 0 for e in estimates.values())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"proba": [[0.5, 0.3, 0.2]]}, "proba"),
        ({"proba": [[0.5, float("nan")]]}, "proba"),
        ({"classes": [0]}, "classes"),
        ({"metrics": ["log_loss"]}, "metrics"),
        ({"calibration_method": "beta"}, "calibration_method"),
        ({"y_pred": [7]}, "y_pred"),
        ({"calibration": ([[0.5, 0.5], [0.1, 0.9]], [0, 2])}, "calibration"),
        ({"calibration": ([[0.5, 0.5]], [0, 1])}, "calibration"),
    ],
)
def test_estimate_rejects_bad_input(kwargs: dict[str, Any], field: str) -> None:
    call: dict[str, Any] = {"proba": [[0.5, 0.5]], "classes": [0, 1]}
    call.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        estimate_classification(call.pop("proba"), call.pop("classes"), **call)
    assert info.value.field == field


# --- estimated: regression (DLE) -------------------------------------------------------


def _regression_data(rng: np.random.Generator, n: int, low: float) -> tuple[pd.DataFrame, Any]:
    """Noise grows with |a|; the current rows keep to part of the reference's range."""
    x = rng.uniform(-2.5, 2.5, size=(n, 3))
    x[:, 0] = rng.uniform(low, 2.5, size=n)
    noise = rng.normal(size=n) * (0.3 + 0.7 * np.abs(x[:, 0]))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["segment"] = np.where(x[:, 1] > 0, "north", "south")
    return frame, x[:, 0] + 2 * x[:, 1] - x[:, 2] + noise


@pytest.mark.parametrize(("metric", "seeds"), [("mae", range(3)), ("rmse", range(2))])
def test_direct_loss_estimate_within_band_under_covariate_shift(metric: str, seeds: range) -> None:
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train, y_train = _regression_data(rng, 5_000, -2.5)
        x_ref, y_ref = _regression_data(rng, 2_000, -2.5)
        x_cur, y_cur = _regression_data(rng, 2_000, 1.0)
        features = ["a", "b", "c"]
        model = LinearRegression().fit(train[features], y_train)
        pred_ref, pred_cur = model.predict(x_ref[features]), model.predict(x_cur[features])
        estimate = estimate_regression(
            x_ref, y_ref, pred_ref, x_cur, pred_cur, metric=metric, seed=seed
        )
        realized = realized_performance("regression", y_cur, pred_cur, metrics=[metric])
        reference = realized_performance("regression", y_ref, pred_ref, metrics=[metric])
        assert estimate.lower <= realized[metric] <= estimate.upper, seed
        assert realized[metric] > 1.15 * reference[metric]  # the shift made errors larger
        assert estimate.value > 1.1 * reference[metric]
        assert estimate.rows == 2_000


def test_direct_loss_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    x, y = _regression_data(rng, 50, -2.5)
    pred = y + rng.normal(size=50)
    with pytest.raises(InvalidInputError) as info:
        estimate_regression(x, y, pred, x, pred, metric="r2")
    assert info.value.field == "metric"
    with pytest.raises(InvalidInputError) as info:
        estimate_regression(x, y, pred, x.drop(columns="b"), pred)
    assert info.value.field == "b"
    with pytest.raises(InvalidInputError) as info:
        estimate_regression(x, y, pred[:10], x, pred)
    assert info.value.field == "pred_ref"


def test_performance_estimate_values() -> None:
    exact = PerformanceEstimate.exact("accuracy", 0.8, rows=10)
    assert exact.lower == exact.upper == exact.value == 0.8
    banded = PerformanceEstimate.with_band("accuracy", 0.95, 0.05, rows=10)
    assert (banded.lower, banded.upper) == (pytest.approx(0.8), 1.0)  # clipped to [0, 1]
    assert banded.to_dict() == {
        "metric": "accuracy", "value": 0.95, "lower": pytest.approx(0.8), "upper": 1.0,
        "standard_error": 0.05, "rows": 10,
    }  # fmt: skip
