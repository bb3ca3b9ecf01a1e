"""Model-agnostic attributions: KernelSHAP on the original columns, for any loaded model.

``shap.KernelExplainer`` calls the loaded model's own ``predict_proba`` (classifiers: the
explained class's probability) or ``predict`` (the prediction) on rows whose columns are
switched between the explained row and background rows; it needs nothing from the model but
those calls, so python-function models are explained too.

The background is summarised by k-means (k = 10 by default): the rows are encoded as numbers
(numeric columns standardised, categorical columns one-hot), clustered with scikit-learn's
``KMeans``, and each cluster is represented by its *medoid* (the real row nearest its centre,
so categorical values stay valid) weighted by the cluster's share of the rows.

KernelSHAP is a sampled estimate: its attributions add up to ``output - base`` by construction
(the efficiency constraint of its weighted regression), but the split between columns carries
sampling noise that shrinks with ``nsamples``. With few columns (``2**p - 2 <= nsamples``)
every coalition is enumerated and the values are the exact Shapley values with respect to the
summarised background. Sampling uses numpy's global generator, seeded for the call and
restored afterwards, so the same call gives the same numbers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError
from modelkeep.explain.model_parts import Attribution, ModelParts, import_shap, select_output

__all__ = ["BACKGROUND_CLUSTERS", "kernel_attribution", "summarize_background"]

BACKGROUND_CLUSTERS = 10


def kernel_attribution(
    parts: ModelParts,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    class_index: NDArray[np.intp] | None,
    *,
    nsamples: int | None = None,
    seed: int = 0,
) -> Attribution:
    """KernelSHAP attributions of ``frame``'s rows (see the module docstring).

    Args:
        nsamples: coalitions evaluated per row (None: shap's default, ``2 * p + 2048``).
        seed: for the background clustering and the coalition sampling.
    """
    shap = import_shap()
    # The weighted background type shap.kmeans builds (shap has no public constructor).
    dense_data = importlib.import_module("shap.utils._legacy").DenseData

    predict = _output_function(parts, frame)
    summary, weights = summarize_background(background, BACKGROUND_CLUSTERS, seed)
    data = dense_data(summary.to_numpy(dtype=object), list(frame.columns), None, weights)
    rows = frame.to_numpy(dtype=object)
    with _seeded(seed):
        explainer = shap.KernelExplainer(predict, data)
        raw = explainer.shap_values(
            rows, nsamples="auto" if nsamples is None else nsamples, silent=True, l1_reg=False
        )
    outputs = np.asarray(predict(rows), dtype=float)
    values, base = select_output(raw, explainer.expected_value, class_index, len(frame))
    n = np.arange(len(frame))
    if outputs.ndim == 2:
        chosen = class_index if class_index is not None else np.zeros(len(frame), dtype=np.intp)
        outputs = outputs[n, chosen]
    space = "probability" if parts.is_classifier else "prediction"
    return Attribution(values, base, outputs, space, "kernel", len(summary))


def _output_function(parts: ModelParts, frame: pd.DataFrame) -> Callable[[Any], Any]:
    """The function shap calls: object rows in, probabilities or predictions out."""
    dtypes = frame.dtypes.to_dict()
    columns = list(frame.columns)
    model = parts.model

    def as_frame(rows: Any) -> pd.DataFrame:
        table = pd.DataFrame(np.asarray(rows, dtype=object), columns=columns)
        return table.astype(dtypes)

    if parts.is_classifier:

        def probabilities(rows: Any) -> Any:
            return np.asarray(model.predict_proba(as_frame(rows)), dtype=float)

        return probabilities

    def predictions(rows: Any) -> Any:
        answer = np.asarray(model.predict(as_frame(rows)))
        if answer.dtype.kind not in "biuf":
            raise InvalidInputError(
                "the model predicts labels and has no predict_proba: nothing numeric to attribute",
                field="method",
            )
        return answer.astype(float).reshape(len(answer), -1)[:, 0]

    return predictions


def summarize_background(
    background: pd.DataFrame, clusters: int = BACKGROUND_CLUSTERS, seed: int = 0
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """(medoid rows, their weights summing to 1): ``background`` summarised by k-means.

    A background with at most ``clusters`` distinct rows is returned as those rows, weighted
    by how often each occurs.
    """
    from sklearn.cluster import KMeans

    encoded = _encode(background)
    distinct, inverse = np.unique(encoded, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(distinct) <= clusters:
        first = np.array([np.flatnonzero(inverse == i)[0] for i in range(len(distinct))])
        counts = np.bincount(inverse, minlength=len(distinct)).astype(float)
        return background.iloc[first].reset_index(drop=True), counts / counts.sum()
    fitted = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(encoded)
    medoids: list[int] = []
    weights: list[float] = []
    for label in range(clusters):
        members = np.flatnonzero(fitted.labels_ == label)
        if len(members) == 0:
            continue
        gaps = np.linalg.norm(encoded[members] - fitted.cluster_centers_[label], axis=1)
        medoids.append(int(members[np.argmin(gaps)]))
        weights.append(len(members) / len(encoded))
    return background.iloc[medoids].reset_index(drop=True), np.asarray(weights)


def _encode(frame: pd.DataFrame) -> NDArray[np.float64]:
    """Rows as numbers for clustering: numeric columns standardised (missing -> mean),
    the others one-hot (missing is its own category)."""
    parts: list[NDArray[np.float64]] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            centre = float(finite.mean()) if finite.size else 0.0
            spread = float(finite.std()) if finite.size else 0.0
            filled = np.where(np.isfinite(values), values, centre)
            parts.append(((filled - centre) / (spread or 1.0)).reshape(-1, 1))
        else:
            text = column.astype(object).where(column.notna(), "\0missing").astype(str)
            parts.append(pd.get_dummies(text).to_numpy(dtype=float))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """numpy's global generator seeded for the block (KernelExplainer samples from it)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
