"""McNemar's test and the paired bootstrap of ``modelkeep.maintain.stats``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, kstest

from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain.stats import mcnemar_test, metric_on_resamples, paired_bootstrap
from modelkeep.train.metrics import METRICS, MetricSpec


def _pairs(b: int, c: int, both: int = 10, neither: int = 5) -> tuple[list[bool], list[bool]]:
    """Right/wrong answers with ``b`` rows only the champion got and ``c`` only the
    challenger got."""
    a = [True] * b + [False] * c + [True] * both + [False] * neither
    ch = [False] * b + [True] * c + [True] * both + [False] * neither
    return a, ch


def _noisy(y: Any, accuracy: float, rng: np.random.Generator) -> Any:
    """Binary labels that are right with probability ``accuracy``, independently per row."""
    return np.where(rng.random(len(y)) < accuracy, y, 1 - y)


def test_mcnemar_below_25_discordant_rows_is_the_exact_binomial_test() -> None:
    result = mcnemar_test(*_pairs(3, 9))
    assert (result.b, result.c, result.exact) == (3, 9, True)
    assert result.statistic == 3.0
    assert result.p_value == pytest.approx(binomtest(3, 12, 0.5).pvalue)


def test_mcnemar_from_25_discordant_rows_is_chi_squared_with_continuity() -> None:
    result = mcnemar_test(*_pairs(20, 40))
    expected = (abs(20 - 40) - 1) ** 2 / 60
    assert (result.b, result.c, result.exact) == (20, 40, False)
    assert result.statistic == pytest.approx(expected)
    assert result.p_value == pytest.approx(chi2.sf(expected, 1))
    assert mcnemar_test(*_pairs(12, 13)).exact is False  # 25 discordant: the chi-squared form


def test_mcnemar_without_discordant_rows_finds_no_difference() -> None:
    result = mcnemar_test([True, False, True], [True, False, True])
    assert (result.b, result.c, result.p_value) == (0, 0, 1.0)


def test_mcnemar_refuses_inputs_of_different_lengths() -> None:
    with pytest.raises(InvalidInputError) as caught:
        mcnemar_test([True, False], [True])
    assert caught.value.field == "correct_b"


def test_bootstrap_of_a_clearly_better_model_is_significant() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    result = paired_bootstrap(y, _noisy(y, 0.6, rng), _noisy(y, 0.9, rng), "accuracy")
    assert result.diff == pytest.approx(result.b - result.a)
    assert result.diff > 0.2
    assert 0 < result.lower < result.diff < result.upper
    assert result.p_value < 0.01
    assert (result.n, result.n_boot) == (300, 1000)


def test_bootstrap_is_reproducible_from_its_seed() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    a, b = _noisy(y, 0.7, rng), _noisy(y, 0.75, rng)
    first = paired_bootstrap(y, a, b, "accuracy", n_boot=300, seed=5)
    assert paired_bootstrap(y, a, b, "accuracy", n_boot=300, seed=5) == first
    assert paired_bootstrap(y, a, b, "accuracy", n_boot=300, seed=6) != first


def test_bootstrap_interval_covers_the_true_difference() -> None:
    # Champion right 70% of the time, challenger 80%: the true improvement is 0.10.
    rng = np.random.default_rng(3)
    covered = 0
    for rep in range(100):
        y = rng.integers(0, 2, 400)
        result = paired_bootstrap(
            y, _noisy(y, 0.7, rng), _noisy(y, 0.8, rng), "accuracy", n_boot=400, seed=rep
        )
        covered += result.lower <= 0.10 <= result.upper
    assert covered >= 88  # nominal 95 of 100


def test_bootstrap_p_values_are_uniform_without_a_difference() -> None:
    rng = np.random.default_rng(4)
    p_values = []
    for rep in range(200):
        y = rng.normal(size=150)
        a, b = y + rng.normal(size=150), y + rng.normal(size=150)  # equally good regressors
        p_values.append(paired_bootstrap(y, a, b, "mae", n_boot=300, seed=rep).p_value)
    values = np.asarray(p_values)
    assert 0.4 < values.mean() < 0.6
    assert np.mean(values < 0.05) < 0.1
    assert kstest(values, "uniform").pvalue > 0.01


def test_bootstrap_orients_lower_is_better_metrics_as_improvement() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=500)
    worse, better = y + rng.normal(0, 1.0, 500), y + rng.normal(0, 0.5, 500)
    result = paired_bootstrap(y, worse, better, "rmse", n_boot=300)
    assert result.a > result.b
    assert result.diff == pytest.approx(result.a - result.b)
    assert result.lower > 0
    backwards = paired_bootstrap(y, better, worse, "rmse", n_boot=300)
    assert backwards.diff == pytest.approx(-result.diff)
    assert backwards.upper < 0


def test_bootstrap_scores_probability_metrics_with_the_classes() -> None:
    rng = np.random.default_rng(6)
    y = np.where(rng.random(300) < 0.5, "stay", "leave")
    signal = (y == "stay").astype(float)
    proba_a = np.clip(0.5 + 0.2 * (signal - 0.5) + rng.normal(0, 0.2, 300), 0.01, 0.99)
    proba_b = np.clip(0.5 + 0.8 * (signal - 0.5) + rng.normal(0, 0.1, 300), 0.01, 0.99)
    classes = ["leave", "stay"]
    a, b = np.c_[1 - proba_a, proba_a], np.c_[1 - proba_b, proba_b]
    auc = paired_bootstrap(y, a, b, "roc_auc", classes=classes, n_boot=300)
    assert auc.a == pytest.approx(METRICS["roc_auc"].score(y, a, classes))
    assert auc.diff > 0 and auc.lower > 0
    loss = paired_bootstrap(y, a, b, "log_loss", classes=classes, n_boot=300)
    assert loss.diff == pytest.approx(loss.a - loss.b) and loss.diff > 0


def test_bootstrap_of_100k_rows_is_blocked_and_sound() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 100_000)
    a, b = _noisy(y, 0.80, rng), _noisy(y, 0.82, rng)
    result = paired_bootstrap(y, a, b, "accuracy", n_boot=250)  # 25M cells: several blocks
    assert result.n_boot == 250
    assert result.lower < result.diff < result.upper
    assert result.upper - result.lower < 0.02


def _classification_case(
    classes: int, rng: np.random.Generator
) -> tuple[Any, Any, Any, list[int]]:
    y = rng.integers(0, classes, 60)
    labels = np.where(rng.random(60) < 0.6, y, rng.integers(0, classes, 60))
    proba = rng.dirichlet(np.ones(classes), 60)
    proba[np.arange(60), y] += 0.5
    proba = np.round(proba / proba.sum(axis=1, keepdims=True), 2)  # rounding makes ties
    proba /= proba.sum(axis=1, keepdims=True)
    return y, labels, proba, list(range(classes))


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"])
def test_vectorised_classification_metrics_equal_the_training_metrics(
    metric: str, classes: int
) -> None:
    rng = np.random.default_rng(8)
    y, labels, proba, names = _classification_case(classes, rng)
    pred = proba if METRICS[metric].needs_proba else labels
    weights = rng.multinomial(60, np.full(60, 1 / 60), size=12)
    fast = metric_on_resamples(metric, y, pred, weights, names)
    rows = np.arange(60)
    for row, value in zip(weights, fast, strict=True):
        drawn = np.repeat(rows, row)
        expected = METRICS[metric].score(y[drawn], pred[drawn], names)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_vectorised_regression_metrics_equal_the_training_metrics(metric: str) -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(3, 2, 50)
    pred = y + rng.normal(0, 1, 50)
    weights = rng.multinomial(50, np.full(50, 1 / 50), size=12)
    fast = metric_on_resamples(metric, y, pred, weights)
    rows = np.arange(50)
    for row, value in zip(weights, fast, strict=True):
        drawn = np.repeat(rows, row)
        assert value == pytest.approx(METRICS[metric].score(y[drawn], pred[drawn], []))


def test_roc_auc_is_undefined_on_a_resample_with_one_class() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    weights = np.array([[2, 2, 0, 0], [1, 1, 1, 1]])
    values = metric_on_resamples("roc_auc", y, proba, weights, [0, 1])
    assert np.isnan(values[0]) and values[1] == 1.0


def test_a_metric_without_a_fast_path_is_scored_per_resample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def median_error(y: Any, pred: Any, _classes: Any) -> float:
        return float(np.median(np.abs(y - pred)))

    spec = MetricSpec("median_ae", "regression", False, False, median_error)
    monkeypatch.setitem(METRICS, "median_ae", spec)
    rng = np.random.default_rng(10)
    y = rng.normal(size=80)
    worse, better = y + rng.normal(0, 2, 80), y + rng.normal(0, 0.2, 80)
    result = paired_bootstrap(y, worse, better, "median_ae", n_boot=100)
    assert (result.a, result.b) == (median_error(y, worse, []), median_error(y, better, []))
    assert result.diff > 0 and result.lower > 0
    weights = rng.multinomial(80, np.full(80, 1 / 80), size=3)
    values = metric_on_resamples("median_ae", y, worse, weights)
    drawn = np.repeat(np.arange(80), weights[0])
    assert values[0] == median_error(y[drawn], worse[drawn], [])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "auc"}, "metric"),
        ({"n_boot": 0}, "n_boot"),
        ({"confidence": 1.0}, "confidence"),
        ({"pred_b": [1, 0]}, "pred_b"),
        ({"metric": "roc_auc"}, "pred_a"),
        ({"y_true": []}, "y_true"),
    ],
)
def test_bootstrap_refuses_bad_input_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "y_true": [0, 1, 1],
        "pred_a": [0, 1, 0],
        "pred_b": [0, 1, 1],
        "metric": "accuracy",
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError) as caught:
        paired_bootstrap(**args)
    assert caught.value.field == field


def test_probability_columns_must_match_the_classes() -> None:
    proba = np.full((4, 3), 1 / 3)
    with pytest.raises(InvalidInputError) as caught:
        paired_bootstrap([0, 1, 0, 1], proba, proba, "log_loss")
    assert caught.value.field == "classes"
