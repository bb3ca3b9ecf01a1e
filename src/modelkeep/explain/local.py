"""``explain(model_uri, rows)``: per-row attributions on the original input columns.

Methods (``method=``):

- ``tree``: exact TreeSHAP on the final estimator of a tree model (decision trees, random
  forests, gradient boosting, HistGradientBoosting, LightGBM, XGBoost);
- ``linear``: the closed form ``coef * (x - mean(background))`` of a linear model;
- ``kernel``: sampled KernelSHAP on the original columns, for any model (python functions too);
- ``auto`` (default): the first of tree, linear, kernel that applies.

See :mod:`modelkeep.explain.exact` and :mod:`modelkeep.explain.kernel` for the output space
each explains in, and :mod:`modelkeep.explain.model_parts` for which class a classifier's
explanation is about.

The background (what "expected output" means): the rows given as ``background``; else the
row sample stored in the training run's ``reference.json`` (models trained with ``modelkeep
train``); else the explained rows themselves. At most 100 background rows are used by
interventional TreeSHAP and 1,000 by the linear mean; KernelSHAP summarises them into 10.

Example:
    >>> from modelkeep.explain import explain
    >>> result = explain("models:/churn@champion", "rows.csv")  # doctest: +SKIP
    >>> result.additivity_error < 1e-6  # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.explain.exact import linear_attribution, tree_attribution
from modelkeep.explain.explanation import Explanation
from modelkeep.explain.kernel import kernel_attribution
from modelkeep.explain.model_parts import (
    Attribution,
    ModelParts,
    NotApplicableError,
    explained_classes,
    split_model,
)
from modelkeep.registry.loaded import LoadedModel

__all__ = ["METHODS", "explain", "explain_model", "reference_background"]

METHODS = ("auto", "tree", "linear", "kernel")
TREE_BACKGROUND_ROWS = 100  # interventional TreeSHAP's cost grows with it; shap warns past 100
LINEAR_BACKGROUND_ROWS = 1_000
KERNEL_INPUT_ROWS = 1_000  # clustered into BACKGROUND_CLUSTERS medoids


def explain(
    model_uri: str,
    rows: pd.DataFrame | str | Path,
    *,
    background: pd.DataFrame | str | Path | None = None,
    method: str = "auto",
    nsamples: int | None = None,
    seed: int = 0,
    allow_code: bool = False,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> Explanation:
    """Attributions of ``rows`` for the model at ``model_uri`` (see the module docstring).

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3`` or ``runs:/<id>/model``.
        rows: the rows to explain: a DataFrame or a CSV/Parquet/JSON file.
        background: the rows the base value is the expectation over (default: the training
            run's reference sample, else ``rows``).
        method: ``auto``, ``tree``, ``linear`` or ``kernel``.
        nsamples: KernelSHAP coalitions per row (None: shap's default).
        seed: for background sampling, clustering and KernelSHAP's sampling.
        allow_code: trust pickled code (python-function models need it).
        tracking_uri: the store (default: the settings').
        settings: configuration (default: from the environment).

    Returns:
        The :class:`Explanation`.

    Raises:
        InvalidInputError: bad rows (``field`` names the column), an unknown method, or a
            method that does not apply to the model (``field="method"``).
        NotFoundError: unknown model.
    """
    from modelkeep.data.io import read_table
    from modelkeep.tracking import Client

    settings = settings or Settings()
    table = read_table(rows)
    given = None if background is None else read_table(background)
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        model = client.load_model(model_uri, allow_code=allow_code)
        stored = reference_background(client, model) if given is None else None
    chosen = given if given is not None else stored
    result = explain_model(
        model, table, background=chosen, method=method, nsamples=nsamples, seed=seed
    )
    source = "given" if given is not None else ("reference" if stored is not None else "rows")
    version = None if model.version is None else str(model.version.version)
    return dataclasses.replace(result, background=source, model_uri=model_uri, version=version)


def reference_background(client: Any, model: LoadedModel) -> pd.DataFrame | None:
    """The row sample of the model's training run reference (None when it has none)."""
    from modelkeep.monitor.reference import load_reference, sample_frame

    run_id = model.manifest.source_run_id
    if model.version is not None and model.version.run_id:
        run_id = model.version.run_id
    try:
        return sample_frame(load_reference(client, run_id))
    except (NotFoundError, KeyError):
        return None


def explain_model(
    model: LoadedModel,
    rows: Any,
    *,
    background: Any = None,
    method: str = "auto",
    nsamples: int | None = None,
    seed: int = 0,
) -> Explanation:
    """Attributions of ``rows`` for a loaded ``model`` (what :func:`explain` does once the
    model is loaded; the inference server calls it directly).

    Args:
        model: the loaded model.
        rows: a DataFrame (or rows the signature accepts).
        background: background rows (default: ``rows``).
        method, nsamples, seed: as for :func:`explain`.

    Raises:
        InvalidInputError: see :func:`explain`.
    """
    check_method(method)
    if nsamples is not None and nsamples < 1:
        raise InvalidInputError("nsamples: a positive number is needed", field="nsamples")
    parts = split_model(model, rows if isinstance(rows, pd.DataFrame) else None)
    frame = parts.validate(rows)
    if frame.empty:
        raise InvalidInputError("rows: there is no row to explain", field="rows")
    back = frame if background is None else parts.validate(background)
    if back.empty:
        raise InvalidInputError("background: there is no row", field="background")
    proba = model.predict_proba(frame) if parts.is_classifier else None
    class_index = explained_classes(parts, proba)
    found = _attribute(parts, frame, back, class_index, method, nsamples, seed)
    error = np.abs(found.base + found.values.sum(axis=1) - found.outputs)
    labels = None
    if class_index is not None:
        classes = parts.classes
        labels = [classes[i] if classes else int(i) for i in class_index]
    return Explanation(
        attributions=pd.DataFrame(found.values, columns=list(parts.columns)),
        base_values=found.base,
        outputs=found.outputs,
        method=found.method,
        output_space=found.space,
        explained_class=labels,
        additivity_error=float(np.max(error)),
        background="given" if background is not None else "rows",
        background_rows=found.background_rows,
    )


def check_method(method: str) -> None:
    """Raise InvalidInputError (``field="method"``) unless ``method`` is one of METHODS."""
    if method not in METHODS:
        raise InvalidInputError(
            f"method: {method!r} is not one of {', '.join(METHODS)}", field="method"
        )


def _attribute(
    parts: ModelParts,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    class_index: Any,
    method: str,
    nsamples: int | None,
    seed: int,
) -> Attribution:
    """The first method of ``method``'s order that applies."""
    order = ("tree", "linear", "kernel") if method == "auto" else (method,)
    reasons: list[str] = []
    for name in order:
        try:
            if name == "tree":
                sample = _sample(background, TREE_BACKGROUND_ROWS, seed)
                return tree_attribution(parts, frame, sample, class_index)
            if name == "linear":
                sample = _sample(background, LINEAR_BACKGROUND_ROWS, seed)
                return linear_attribution(parts, frame, sample, class_index)
            sample = _sample(background, KERNEL_INPUT_ROWS, seed)
            return kernel_attribution(
                parts, frame, sample, class_index, nsamples=nsamples, seed=seed
            )
        except NotApplicableError as exc:
            reasons.append(f"{name}: {exc}")
    raise InvalidInputError(
        f"method {method!r} does not apply to this model ({'; '.join(reasons)}); "
        "method 'kernel' explains any model",
        field="method",
    )


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).reset_index(drop=True)
