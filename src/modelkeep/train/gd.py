"""``GradientDescentRegressor``: linear regression fitted by batch gradient descent.

The model is ``h(x) = x . theta + b`` and the cost the mean squared error halved,
``J(theta) = 1/(2m) * sum((h(x_i) - y_i)^2)``. Every iteration takes one full-batch step
``theta <- theta - alpha * dJ/dtheta`` with ``dJ/dtheta = 1/m * X^T (X theta + b - y)``.

The descent runs on standardised columns (and a standardised target): one learning rate then
suits every data set, whatever the units of its columns, and the problem is well conditioned
enough to converge to least-squares precision. ``coef_`` and ``intercept_`` are mapped back to
the original units, and ``loss_history_`` holds ``J`` in the original units too, so the
fitted model predicts exactly as the plain formula says.

Example:
    >>> import numpy as np
    >>> X = np.arange(1.0, 6.0).reshape(-1, 1)
    >>> model = GradientDescentRegressor().fit(X, 2 * X.ravel())
    >>> round(float(model.coef_[0]), 6)
    2.0
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["GradientDescentRegressor"]

Array = NDArray[np.float64]


class GradientDescentRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Least-squares linear regression by batch gradient descent (scikit-learn compatible).

    Args:
        learning_rate: the step size ``alpha`` (on standardised columns; 0.01 to 1 is sane).
        max_iter: the most gradient steps taken.
        tol: stop once every component of the gradient ``dJ/dtheta`` is below this (on the
            standardised problem, so the tolerance does not depend on the data's units); 0
            runs all ``max_iter`` steps. With uncorrelated columns the standardised weights
            then lie about ``tol`` from the optimum, so the default reaches least-squares
            precision (1e-6 and better); strongly correlated columns converge more slowly.
        fit_intercept: fit ``b``; without it the line goes through the origin.

    Attributes:
        coef_: the weights ``theta``, one per feature, in the original units.
        intercept_: ``b`` (0.0 when ``fit_intercept`` is False).
        loss_history_: ``J`` after each step, in the original units (one float per iteration).
        n_iter_: the number of steps taken.
        n_features_in_: the number of input columns.

    Raises:
        ValueError: at fit, when a parameter is out of range or the descent diverges (the
            cost becomes infinite or grows: lower ``learning_rate``).
    """

    # scikit-learn's declarative parameter check (run by fit, and by modelkeep's config check).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
    }

    def __init__(
        self,
        learning_rate: float = 0.01,
        max_iter: int = 10_000,
        tol: float = 1e-12,
        fit_intercept: bool = True,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any) -> GradientDescentRegressor:
        """Fit ``coef_`` and ``intercept_`` by gradient descent on ``(X, y)``.

        Args:
            X: array-like of shape (n_samples, n_features), numeric.
            y: array-like of shape (n_samples,), numeric.

        Returns:
            self, fitted.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        x_shift, x_scale = _location_scale(X, self.fit_intercept)
        y_shift, y_scale = _location_scale(y.reshape(-1, 1), self.fit_intercept)
        z = (X - x_shift) / x_scale
        target = (y - y_shift[0]) / y_scale[0]
        theta, history = _descend(z, target, float(self.learning_rate), self.max_iter, self.tol)
        self.coef_ = theta * y_scale[0] / x_scale
        self.intercept_ = float(y_shift[0] - x_shift @ self.coef_)
        # The standardised cost times the target's squared scale is J in the original units.
        self.loss_history_ = history * y_scale[0] ** 2
        self.n_iter_ = int(history.size)
        return self

    def predict(self, X: Any) -> Array:
        """``X . coef_ + intercept_`` for each row of ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        result: Array = X @ self.coef_ + self.intercept_
        return result


def _location_scale(data: Array, center: bool) -> tuple[Array, Array]:
    """Per-column mean (0 without an intercept) and spread; constant columns keep scale 1,
    so they stay at zero weight instead of dividing by zero."""
    shift = data.mean(axis=0) if center else np.zeros(data.shape[1])
    spread = np.sqrt(((data - shift) ** 2).mean(axis=0))
    # Rounding leaves a constant column a spread of a few ulps of its value, not exactly 0.
    floor = 1e-12 * np.abs(shift) + np.finfo(np.float64).tiny
    scale = np.where(spread > floor, spread, 1.0)
    return shift, scale


def _descend(
    z: Array, target: Array, alpha: float, max_iter: int, tol: float
) -> tuple[Array, Array]:
    """Batch gradient descent from ``theta = 0``; returns theta and the cost after each step."""
    m = z.shape[0]
    theta = np.zeros(z.shape[1])
    history = np.empty(max_iter)
    residual = -target
    first = float(residual @ residual) / (2 * m)
    steps = 0
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        while steps < max_iter:
            gradient = (z.T @ residual) / m
            if float(np.max(np.abs(gradient), initial=0.0)) < tol:
                break
            theta -= alpha * gradient
            residual = z @ theta - target
            loss = float(residual @ residual) / (2 * m)
            history[steps] = loss
            steps += 1
            if not np.isfinite(loss) or loss > max(first, 1.0) * 1e6:
                raise ValueError(
                    f"gradient descent diverged after {steps} steps (cost {loss:.3g}); "
                    f"lower learning_rate (now {alpha})"
                )
    return theta, history[:steps].copy()
