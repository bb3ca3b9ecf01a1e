"""What a training run records besides its metrics: data, config, plots, the descent's loss.

Artifacts of a training run::

    config.yaml                    the config as written (or as checked, when given a dict)
    data_profile.json              modelkeep.data.profile(...).to_dict() of the training table
    plots/confusion_matrix.png     classification
    plots/roc_curve.png            classification
    plots/residuals.png            regression
    plots/feature_importance.png   when the model has feature_importances_ or coef_
    model/                         the model package (see modelkeep.registry)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelkeep.train.config import TrainConfig
from modelkeep.train.prepare import PreparedData

if TYPE_CHECKING:
    from modelkeep.tracking import ActiveRun

__all__ = [
    "GD_LOSS_METRIC",
    "TAG_FAMILY",
    "TAG_TASK",
    "log_cv_scores",
    "log_descent",
    "log_inputs",
    "log_plots",
    "mean_scores",
]

TAG_TASK = "modelkeep.task"
TAG_FAMILY = "modelkeep.family"
TAG_PROBLEMS = "modelkeep.data_problems"
GD_LOSS_METRIC = "gd_loss"

_log = logging.getLogger(__name__)


def log_inputs(run: ActiveRun, config: TrainConfig, data: PreparedData) -> None:
    """Params, tags, the datasets (by digest), the data profile and the config file."""
    from modelkeep.data.profile import profile

    run.set_tags({TAG_TASK: config.task, TAG_FAMILY: config.model.family})
    run.log_params(config.flat_params())
    run.log_dataset(data.frame, name="train", context="training")
    if data.test_frame is not None:
        run.log_dataset(data.test_frame, name="test", context="evaluation")
    report = profile(data.frame, target=config.target)
    run.log_dict(report.to_dict(), "data_profile.json")
    if report.problems:
        run.set_tag(TAG_PROBLEMS, ",".join(sorted({p.kind for p in report.problems})))
    run.log_text(config.to_yaml(), "config.yaml")


def mean_scores(folds: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per metric, the mean over the folds where it is defined (NaN if none)."""
    means: dict[str, float] = {}
    for name in folds[0] if folds else ():
        values = [fold[name] for fold in folds if not math.isnan(fold[name])]
        means[name] = float(np.mean(values)) if values else float("nan")
    return means


def log_cv_scores(run: ActiveRun, folds: Sequence[dict[str, float]]) -> dict[str, float]:
    """``cv_<metric>`` at step = fold index, and ``cv_<metric>_mean``; returns the means."""
    for index, scores in enumerate(folds):
        run.log_metrics({f"cv_{name}": value for name, value in scores.items()}, step=index)
    means = {f"cv_{name}_mean": value for name, value in mean_scores(folds).items()}
    run.log_metrics(means)
    return means


def log_descent(run: ActiveRun, estimator: Any) -> None:
    """The gradient-descent cost per iteration as ``gd_loss`` (step = iteration), when the
    model was fitted by :class:`~modelkeep.train.gd.GradientDescentRegressor`."""
    history = getattr(estimator, "loss_history_", None)
    if history is None:
        return
    # Buffered: 10,000 iterations take a few tens of milliseconds and a handful of writes.
    for step, value in enumerate(history):
        run.log_metrics({GD_LOSS_METRIC: float(value)}, step=step)


def log_reference(run: ActiveRun, config: TrainConfig, data: PreparedData, model: Any) -> None:
    """The monitoring reference (``reference.json``): summaries of the held-out rows, the
    model's predictions and, for classifiers, their probabilities with the true labels (see
    :mod:`modelkeep.monitor.reference`)."""
    import json

    from modelkeep.monitor.reference import REFERENCE_FILE, build_reference

    X, y = data.X_test, data.y_test
    proba = classes = None
    if config.task == "classification" and hasattr(model, "predict_proba"):
        proba, classes = model.predict_proba(X), list(model.classes_)
    reference = build_reference(
        X, model.predict(X), task=config.task, proba=proba, classes=classes, labels=y
    )
    run.log_text(json.dumps(reference, allow_nan=True, separators=(",", ":")), REFERENCE_FILE)


def log_plots(run: ActiveRun, config: TrainConfig, data: PreparedData, model: Any) -> None:
    """Confusion matrix and ROC (classification) or residuals (regression) on the test set,
    and feature importance when the model has it, as PNG artifacts under ``plots/``."""
    from modelkeep.train import plots

    images: dict[str, bytes] = {}
    if config.task == "classification":
        classes = list(model.classes_)
        predicted = model.predict(data.X_test)
        images["confusion_matrix"] = plots.confusion_matrix_png(data.y_test, predicted, classes)
        images["roc_curve"] = plots.roc_curve_png(
            data.y_test, model.predict_proba(data.X_test), classes
        )
    else:
        images["residuals"] = plots.residuals_png(data.y_test, model.predict(data.X_test))
    importance = feature_importance(model)
    if importance is not None:
        images["feature_importance"] = plots.feature_importance_png(*importance)
    for name, png in images.items():
        run.client.log_bytes(run.id, png, f"plots/{name}.png")


def feature_importance(model: Any) -> tuple[list[str], Any] | None:
    """(names, importances) of a fitted pipeline's final estimator: ``feature_importances_``,
    else the absolute ``coef_`` (averaged over classes); None when it has neither."""
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        coef = getattr(estimator, "coef_", None)
        if coef is None:
            return None
        coef = np.abs(np.asarray(coef, dtype=float))
        values = coef.mean(axis=0) if coef.ndim > 1 else coef
    values = np.asarray(values, dtype=float).ravel()
    try:
        names = [str(n) for n in model[:-1].get_feature_names_out()]
    except (AttributeError, ValueError, TypeError) as exc:
        _log.debug("no feature names from the preprocessing steps: %s", exc)
        names = []
    if len(names) != values.size:
        names = [f"x{i}" for i in range(values.size)]
    return names, values
