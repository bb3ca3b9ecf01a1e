"""Exact attributions: TreeSHAP for tree models, the closed form for linear models.

Both work on the rows as the final estimator sees them (after the pipeline's preprocessing)
and sum the attributions of the transformed columns per original column
(:mod:`modelkeep.explain.columns`), which keeps them exact: ``base + sum(attributions)``
equals the model's output in the explained space.

Explained space:

- **tree** (``shap.TreeExplainer``, path-dependent): regressors in their prediction; classifiers
  in probability when the trees hold probabilities (decision trees, random forests, extra
  trees). Boosted classifiers hold log-odds: their binary probability is explained with the
  interventional algorithm over the background rows when shap supports the model and the
  result adds up exactly (it does for GradientBoosting), else the log-odds
  (``log_odds``; the per-class raw score, ``margin``, for multiclass boosters).
- **linear** (``coef * (x - mean(background x))`` per transformed column): regressors in their
  prediction, a binary logistic model in log-odds, a multiclass one in the predicted class's
  raw score (``margin``). A model counts as linear only when ``X @ coef.T + intercept``
  reproduces its output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelkeep.explain.columns import UnmappableError, aggregation_matrix, source_columns
from modelkeep.explain.model_parts import (
    Attribution,
    ModelParts,
    NotApplicableError,
    import_shap,
    select_output,
)

__all__ = ["EXACT_TOLERANCE", "linear_attribution", "tree_attribution"]

EXACT_TOLERANCE = 1e-6
"""Largest additivity error accepted from an explanation meant to be exact."""


def tree_attribution(
    parts: ModelParts,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    class_index: NDArray[np.intp] | None,
) -> Attribution:
    """TreeSHAP attributions of ``frame``'s rows (see the module docstring).

    Raises:
        NotApplicableError: not a tree model shap knows, or unmappable preprocessing.
    """
    shap = import_shap()
    matrix = _aggregation(parts)
    X = _transformed(parts, frame)
    try:
        explainer = shap.TreeExplainer(parts.estimator)
    except Exception as exc:  # noqa: BLE001 - shap raises assorted types for unknown models
        raise NotApplicableError(f"shap's TreeExplainer does not take it: {exc}") from None
    tree_output = getattr(explainer.model, "tree_output", None)
    if parts.is_classifier and tree_output != "probability":
        found = _boosted_probability(shap, parts, frame, X, background, class_index, matrix)
        if found is not None:
            return found
    raw = explainer.shap_values(X, check_additivity=False)
    values, base = select_output(raw, explainer.expected_value, class_index, len(X))
    if not parts.is_classifier:
        space, outputs = "prediction", _predictions(parts, frame)
    elif tree_output == "probability":
        space, outputs = "probability", _probabilities(parts, frame, class_index)
    else:
        space, outputs = _margin_space(parts.estimator, X, class_index)
    return Attribution(values @ matrix, base, outputs, space, "tree", 0)


def _boosted_probability(
    shap: Any,
    parts: ModelParts,
    frame: pd.DataFrame,
    X: NDArray[np.float64],
    background: pd.DataFrame,
    class_index: NDArray[np.intp] | None,
    matrix: NDArray[np.float64],
) -> Attribution | None:
    """Interventional TreeSHAP in probability space, or None where shap cannot do it
    exactly (multiclass boosters; HistGradientBoosting, whose result does not add up)."""
    try:
        explainer = shap.TreeExplainer(
            parts.estimator,
            data=_transformed(parts, background),
            model_output="probability",
            feature_perturbation="interventional",
        )
        raw = explainer.shap_values(X, check_additivity=False)
    except Exception:  # noqa: BLE001 - shap refuses many models here; log-odds then
        return None
    values, base = select_output(raw, explainer.expected_value, class_index, len(X))
    outputs = _probabilities(parts, frame, class_index)
    if np.max(np.abs(base + values.sum(axis=1) - outputs)) > EXACT_TOLERANCE:
        return None
    return Attribution(values @ matrix, base, outputs, "probability", "tree", len(background))


def linear_attribution(
    parts: ModelParts,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    class_index: NDArray[np.intp] | None,
) -> Attribution:
    """Closed-form attributions of a linear model (see the module docstring).

    Raises:
        NotApplicableError: no ``coef_``, or ``X @ coef.T + intercept`` is not its output.
    """
    estimator = parts.estimator
    coef = getattr(estimator, "coef_", None)
    if coef is None:
        raise NotApplicableError(f"{type(estimator).__name__} has no coef_")
    matrix = _aggregation(parts)
    X = _transformed(parts, frame)
    weights = np.atleast_2d(np.asarray(coef, dtype=float))
    if weights.shape[1] != X.shape[1]:
        raise NotApplicableError("coef_ does not match the transformed columns")
    intercept = np.asarray(getattr(estimator, "intercept_", 0.0), dtype=float).reshape(-1)
    scores = _linear_scores(parts, X).reshape(len(X), -1)
    if scores.shape[1] != weights.shape[0]:
        raise NotApplicableError("the model has more outputs than one explanation covers")
    if not np.allclose(scores, X @ weights.T + intercept, rtol=1e-6, atol=1e-8):
        raise NotApplicableError(f"{type(estimator).__name__} is not linear in its inputs")
    mean = _transformed(parts, background).mean(axis=0)
    rows = np.arange(len(X))
    chosen = np.zeros(len(X), dtype=np.intp)
    if weights.shape[0] > 1 and class_index is not None:
        chosen = class_index
    values = weights[chosen] * (X - mean)
    base = (mean @ weights.T + intercept)[chosen]
    outputs = scores[rows, chosen]
    if not parts.is_classifier:
        space = "prediction"
    else:
        space = "log_odds" if weights.shape[0] == 1 else "margin"
    return Attribution(values @ matrix, base, outputs, space, "linear", len(background))


def _linear_scores(parts: ModelParts, X: NDArray[np.float64]) -> NDArray[np.float64]:
    estimator = parts.estimator
    if parts.is_classifier:
        if not hasattr(estimator, "decision_function"):
            raise NotApplicableError(f"{type(estimator).__name__} has no decision_function")
        return np.asarray(estimator.decision_function(named(estimator, X)), dtype=float)
    return np.asarray(estimator.predict(named(estimator, X)), dtype=float)


def named(estimator: Any, X: NDArray[np.float64]) -> Any:
    """``X`` with the column names ``estimator`` was fitted with, when it has them: a bare
    estimator fitted on a DataFrame warns about every unnamed array."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or len(names) != X.shape[1]:
        return X
    return pd.DataFrame(X, columns=list(names))


def _aggregation(parts: ModelParts) -> NDArray[np.float64]:
    """The matrix summing transformed-column attributions per original column."""
    if parts.preprocess is None:
        sources = list(range(len(parts.columns)))
    else:
        try:
            sources = source_columns(parts.preprocess, parts.columns)
        except UnmappableError as exc:
            raise NotApplicableError(str(exc)) from None
    return aggregation_matrix(sources, len(parts.columns))


def _transformed(parts: ModelParts, frame: pd.DataFrame) -> NDArray[np.float64]:
    try:
        return parts.transform(frame)
    except (TypeError, ValueError) as exc:  # raw text columns reach a model without encoding
        raise NotApplicableError(f"the rows are not numeric for the estimator: {exc}") from None


def _predictions(parts: ModelParts, frame: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(parts.model.predict(frame), dtype=float).reshape(len(frame))


def _probabilities(
    parts: ModelParts, frame: pd.DataFrame, class_index: NDArray[np.intp] | None
) -> NDArray[np.float64]:
    proba = np.asarray(parts.model.predict_proba(frame), dtype=float)
    chosen = class_index if class_index is not None else np.ones(len(frame), dtype=np.intp)
    return np.asarray(proba[np.arange(len(frame)), chosen])


def _margin_space(
    estimator: Any, X: NDArray[np.float64], class_index: NDArray[np.intp] | None
) -> tuple[str, NDArray[np.float64]]:
    """(space, raw score of the explained class) of a boosted classifier."""
    margin = _raw_margin(estimator, X)
    if margin.ndim == 1 or margin.shape[1] == 1:
        return "log_odds", margin.reshape(len(X))
    chosen = class_index if class_index is not None else np.zeros(len(X), dtype=np.intp)
    return "margin", np.asarray(margin[np.arange(len(X)), chosen])


def _raw_margin(estimator: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(named(estimator, X)), dtype=float)
    for option in ({"raw_score": True}, {"output_margin": True}):  # LightGBM, XGBoost
        try:
            return np.asarray(estimator.predict(named(estimator, X), **option), dtype=float)
        except TypeError:
            continue
    raise NotApplicableError(f"cannot read the raw scores of {type(estimator).__name__}")
