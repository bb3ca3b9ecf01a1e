"""The reference a model is monitored against, computed once when it is trained.

:func:`build_reference` summarises the data a model was validated on (per-feature summaries
with frozen histogram and quantile information, category counts and missing rates; see
:mod:`modelkeep.monitor.summary`), the model's predictions there, and for classifiers the
validation probabilities with their true labels (calibration data for label-free performance
estimation). It keeps a bounded random sample of rows too (multivariate drift and the
regression loss model are fitted on it), so monitoring never reads the training data again.

The reference is a JSON artifact, ``reference.json``, of the training run, next to the model
package (packages are sealed, so it cannot go inside). ``modelkeep train`` and the tuning
refit log it; :func:`log_reference` does it for a model logged by hand. A registered version
finds its reference through its source run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "REFERENCE_FILE",
    "build_reference",
    "load_reference",
    "log_reference",
    "sample_frame",
    "store_reference",
]

REFERENCE_FILE = "reference.json"
SAMPLE_ROWS = 2_000
EXACT_VALUES = 5_000  # a column keeps its values exactly up to this; a quantile sketch beyond
CALIBRATION_ROWS = 20_000
_FORMAT = 1


def build_reference(
    features: Any,
    predictions: Any,
    *,
    task: str,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    labels: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The reference of a model, as JSON-ready values.

    Args:
        features: the validation (or training) rows as the model takes them (a DataFrame).
        predictions: the model's predictions for those rows.
        task: ``classification`` or ``regression``.
        proba: class probabilities for those rows (classifiers), columns in ``classes`` order.
        classes: the class labels, in the model's order.
        labels: the true targets of those rows (calibration data and the loss model).
        seed: for the row sample.

    Raises:
        InvalidInputError: lengths that do not match, or an unknown task.
    """
    from modelkeep.monitor.summary import summarize

    frame = _frame(features)
    n = len(frame)
    predicted = np.asarray(predictions)
    _check_lengths(n, predicted, proba, labels)
    if task not in ("classification", "regression"):
        raise InvalidInputError(
            f"task: {task!r} is not classification or regression", field="task"
        )
    outputs = pd.DataFrame({"prediction": predicted})
    reference: dict[str, Any] = {
        "format": _FORMAT,
        "task": task,
        "rows": n,
        "features": summarize(frame, exact_limit=EXACT_VALUES).to_dict(),
        "prediction": summarize(
            outputs, categorical=_categorical(task), exact_limit=EXACT_VALUES
        ).to_dict(),
        "classes": None if classes is None else [_plain(c) for c in classes],
        "sample": _sample(frame, predicted, labels, seed),
    }
    if proba is not None and classes is not None and labels is not None:
        reference["calibration"] = _calibration(np.asarray(proba), labels, seed)
    return reference


def store_reference(client: Any, run_id: str, reference: dict[str, Any]) -> None:
    """Store ``reference`` (see :func:`build_reference`) as the run's ``reference.json``."""
    text = json.dumps(reference, allow_nan=True, separators=(",", ":"))
    client.artifacts.log_bytes(run_id, text.encode(), REFERENCE_FILE)


def log_reference(
    run_id: str,
    features: Any,
    predictions: Any,
    *,
    task: str,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    labels: Any = None,
    tracking_uri: str | None = None,
) -> None:
    """Build the reference of a model logged by hand (its validation rows, predictions,
    probabilities and labels) and store it with its run, as ``modelkeep train`` does.

    Example:
        >>> log_reference(run.id, X_val, model.predict(X_val), task="classification",
        ...               proba=model.predict_proba(X_val), classes=list(model.classes_),
        ...               labels=y_val)  # doctest: +SKIP
    """
    from modelkeep.tracking import Client
    from modelkeep.tracking.fluent import get_tracking_uri

    reference = build_reference(
        features, predictions, task=task, proba=proba, classes=classes, labels=labels
    )
    with Client(tracking_uri or get_tracking_uri()) as client:
        store_reference(client, run_id, reference)


def load_reference(client: Any, run_id: str | None) -> dict[str, Any]:
    """The reference stored with run ``run_id``.

    Raises:
        NotFoundError: the run has no ``reference.json`` (train it with ``modelkeep train``
            or call :func:`log_reference`).
    """
    if run_id is None:
        raise NotFoundError("the model version has no source run, so no reference", field="model")
    try:
        data = client.artifacts.read_bytes(run_id, REFERENCE_FILE)
    except NotFoundError:
        raise NotFoundError(
            f"run {run_id} has no {REFERENCE_FILE}: models trained with `modelkeep train` or "
            "`modelkeep tune` have one; for a model logged by hand call "
            "modelkeep.monitor.log_reference(...)",
            field="reference",
        ) from None
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def _frame(features: Any) -> pd.DataFrame:
    if isinstance(features, pd.DataFrame):
        return features.reset_index(drop=True)
    if hasattr(features, "to_pandas"):
        return pd.DataFrame(features.to_pandas()).reset_index(drop=True)
    array = np.asarray(features)
    if array.ndim != 2:
        raise InvalidInputError("features: a table (2-D) is needed", field="features")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _check_lengths(n: int, predicted: Any, proba: Any, labels: Any) -> None:
    for name, value in (("predictions", predicted), ("proba", proba), ("labels", labels)):
        if value is not None and len(value) != n:
            raise InvalidInputError(f"{name}: {len(value)} rows for {n} feature rows", field=name)


def _categorical(task: str) -> Sequence[str] | None:
    return ("prediction",) if task == "classification" else None


def _sample(frame: pd.DataFrame, predicted: Any, labels: Any, seed: int) -> dict[str, Any]:
    """Up to SAMPLE_ROWS rows, in pandas "split" layout with the prediction and label."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(frame), min(len(frame), SAMPLE_ROWS), replace=False))
    chosen = frame.iloc[rows]
    return {
        "columns": [str(c) for c in chosen.columns],
        "data": [[_plain(v) for v in row] for row in chosen.itertuples(index=False)],
        "prediction": [_plain(v) for v in np.asarray(predicted)[rows]],
        "label": None if labels is None else [_plain(v) for v in np.asarray(labels)[rows]],
    }


def _calibration(proba: Any, labels: Any, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    keep = np.sort(rng.choice(len(proba), min(len(proba), CALIBRATION_ROWS), replace=False))
    return {
        "proba": np.round(proba[keep], 9).tolist(),
        "labels": [_plain(v) for v in np.asarray(labels)[keep]],
    }


def sample_frame(reference: dict[str, Any]) -> pd.DataFrame:
    """The stored row sample as a DataFrame (feature columns only)."""
    sample = reference["sample"]
    return pd.DataFrame(sample["data"], columns=sample["columns"])


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (numpy scalars unwrapped; NaN kept: JSON gets NaN)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
