"""Direct loss estimation (DLE) of regressors, without labels.

See :mod:`modelkeep.monitor.performance` for the method and its bands.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.multivariate import encode_frames
from modelkeep.monitor.performance import (
    ESTIMATED_REGRESSION_METRICS,
    LOSS_FOLDS,
    Array,
    PerformanceEstimate,
    column_array,
)

__all__ = ["estimate_regression"]


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
        return np.asarray(column_array(values), dtype=float)
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
