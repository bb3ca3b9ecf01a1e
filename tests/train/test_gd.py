"""GradientDescentRegressor: the textbook cases, least-squares agreement, sklearn's checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator

from modelkeep.train import GradientDescentRegressor


def test_fits_y_equals_2x_to_two_within_1e_6() -> None:
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    y = 2 * X.ravel()

    model = GradientDescentRegressor().fit(X, y)  # the defaults

    assert model.n_iter_ < model.max_iter  # stopped on the tolerance
    assert abs(model.coef_[0] - 2.0) < 1e-6
    assert abs(model.intercept_) < 1e-6
    np.testing.assert_allclose(model.predict([[10.0]]), [20.0], atol=1e-5)


def _random_problem(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Columns of very different scales and offsets: the descent must still converge.
    X = rng.normal(size=(300, 6)) * [1.0, 10.0, 100.0, 0.1, 5.0, 1.0] + [3, -2, 50, 0, 1, 7]
    y = X @ rng.normal(size=6) + 4.0 + rng.normal(size=300)
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_least_squares_within_1e_6(seed: int) -> None:
    X, y = _random_problem(seed)
    solution = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]

    model = GradientDescentRegressor(learning_rate=0.5).fit(X, y)

    np.testing.assert_allclose(model.coef_, solution[:-1], rtol=0, atol=1e-6)
    assert abs(model.intercept_ - solution[-1]) < 1e-6


def test_without_intercept_matches_least_squares_through_the_origin() -> None:
    X, y = _random_problem(3)
    solution = np.linalg.lstsq(X, y, rcond=None)[0]

    model = GradientDescentRegressor(learning_rate=0.5, fit_intercept=False).fit(X, y)

    np.testing.assert_allclose(model.coef_, solution, rtol=0, atol=1e-6)
    assert model.intercept_ == 0.0


def test_loss_history_is_the_cost_per_iteration_in_original_units() -> None:
    X, y = _random_problem(4)

    model = GradientDescentRegressor(learning_rate=0.1, max_iter=300, tol=0).fit(X, y)

    assert model.n_iter_ == 300 == len(model.loss_history_)
    assert np.all(np.diff(model.loss_history_) <= 1e-12)  # never goes up
    residual = model.predict(X) - y
    assert model.loss_history_[-1] == pytest.approx(residual @ residual / (2 * len(y)))


def test_tolerance_stops_before_max_iter() -> None:
    X, y = _random_problem(5)

    loose = GradientDescentRegressor(learning_rate=0.1, max_iter=10_000, tol=1e-6).fit(X, y)
    tight = GradientDescentRegressor(learning_rate=0.1, max_iter=10_000, tol=1e-14).fit(X, y)

    assert loose.n_iter_ < tight.n_iter_ < 10_000


def test_constant_column_gets_zero_weight() -> None:
    X, y = _random_problem(6)
    X[:, 2] = 0.1

    model = GradientDescentRegressor(learning_rate=0.5).fit(X, y)

    assert abs(model.coef_[2]) < 1e-12
    assert np.all(np.isfinite(model.coef_))


def test_too_large_learning_rate_reports_divergence() -> None:
    X, y = _random_problem(7)

    with pytest.raises(ValueError, match="diverged.*lower learning_rate"):
        GradientDescentRegressor(learning_rate=50.0).fit(X, y)


def test_invalid_parameters_are_refused_at_fit() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        GradientDescentRegressor(learning_rate=0).fit([[1.0], [2.0]], [1.0, 2.0])


def test_same_data_same_model() -> None:
    X, y = _random_problem(8)
    first = GradientDescentRegressor().fit(X, y)
    second = clone(first).fit(X, y)

    np.testing.assert_array_equal(first.coef_, second.coef_)
    np.testing.assert_array_equal(first.loss_history_, second.loss_history_)


def test_passes_scikit_learn_estimator_checks() -> None:
    with warnings.catch_warnings():
        # Array-API checks skip without SCIPY_ARRAY_API; the skip itself is only a warning.
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(GradientDescentRegressor(), on_fail=None)

    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) > 40
