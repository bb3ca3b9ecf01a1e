"""Measuring a candidate: size on disk, latency, its metric, and fidelity to the original.

* size: bytes of the variant's saved model package (model file(s) and ``MODEL.json``; the
  input example, the same for every variant, is not counted). The original's is its own
  package; the others are saved with :func:`~modelkeep.registry.package.save_package`
  exactly as registering them would.
* latency: what serving does per call. Inputs are validated once beforehand (the server
  validates each batch before the model sees it); native variants call their library's
  ``predict``, ONNX ones the serving runtime's ``OnnxPredictor`` in a one-thread session.
  Single row: the median of ``calls`` calls on successive one-row inputs, after a warm-up.
  1,000 rows: the median of :data:`BATCH_REPEATS` calls on 1,000 rows drawn from the data.
* metric: computed on the validation rows like training does
  (:data:`modelkeep.train.metrics.METRICS`), probabilities from ``predict_proba``.
* fidelity: classifiers, the share of rows whose label equals the original's; regressors,
  R^2 of the variant's predictions against the original's predictions (1.0: identical).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.compress.variants import ORIGINAL, Variant, flat_output, onnx_predictor

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature
    from modelkeep.train.metrics import MetricSpec

__all__ = ["BATCH_REPEATS", "BATCH_ROWS", "Measurement", "Workload", "make_workload", "measure"]

BATCH_ROWS = 1000
BATCH_REPEATS = 5
_WARM_UP = 5


@dataclass(frozen=True)
class Measurement:
    """One variant's numbers (latencies in milliseconds)."""

    size_bytes: int
    latency_1row_ms: float
    latency_1000rows_ms: float
    metric: float
    fidelity: float


@dataclass(frozen=True)
class Workload:
    """The validation rows and what every variant is measured with.

    Attributes:
        data: validated features (what the model's flavor takes).
        y: the true target.
        rows: the one-row inputs of the single-row timing.
        batch: the 1,000-row input.
        signature: the original's input signature (saved with every variant).
        spec: the metric.
        classification: whether the model is a classifier.
        classes: the classifier's classes, in its ``predict_proba`` column order.
    """

    data: Any
    y: np.ndarray
    rows: list[Any]
    batch: Any
    signature: ModelSignature
    spec: MetricSpec
    classification: bool
    classes: list[Any]


def make_workload(
    data: Any,
    y: Any,
    signature: ModelSignature,
    spec: MetricSpec,
    *,
    classification: bool,
    classes: list[Any],
    calls: int,
    seed: int,
) -> Workload:
    """The workload over validated ``data`` and target ``y`` (``calls`` one-row inputs)."""
    count = len(data)
    rows = [_take(data, [i % count]) for i in range(calls)]
    if count >= BATCH_ROWS:
        picks = np.arange(BATCH_ROWS)
    else:
        picks = np.random.default_rng(seed).integers(0, count, BATCH_ROWS)
    batch = _take(data, picks.tolist())
    return Workload(
        data, np.asarray(y), rows, batch, signature, spec, classification, list(classes)
    )


def _take(data: Any, positions: list[int]) -> Any:
    if isinstance(data, pd.DataFrame):
        return data.iloc[positions].reset_index(drop=True)
    return np.ascontiguousarray(np.asarray(data)[positions])


def measure(
    variant: Variant, loaded: LoadedModel, workload: Workload, reference: np.ndarray | None
) -> tuple[Measurement, np.ndarray]:
    """Measure ``variant``; ``reference`` is the original's predictions (None: this is it).

    Returns:
        The measurement and the variant's predictions on the validation rows.
    """
    predictor = _predictor(variant, loaded, workload.data)
    predictions = flat_output(predictor.predict(workload.data))
    metric = _metric(workload, predictor, predictions)
    fidelity = 1.0 if reference is None else _fidelity(workload, reference, predictions)
    single = _median_ms(predictor.predict, workload.rows, warm_up=_WARM_UP)
    batch = _median_ms(predictor.predict, [workload.batch] * BATCH_REPEATS, warm_up=1)
    size = package_size(variant, loaded, workload.signature)
    return Measurement(size, single, batch, metric, fidelity), predictions


def _predictor(variant: Variant, loaded: LoadedModel, data: Any) -> Any:
    if variant.runtime == "onnx":
        columns = tuple(data.columns) if isinstance(data, pd.DataFrame) else None
        return onnx_predictor(variant.model, columns)
    if variant.name == ORIGINAL:
        return loaded.flavor_model
    return variant.model


def _metric(workload: Workload, predictor: Any, predictions: np.ndarray) -> float:
    spec = workload.spec
    if spec.needs_proba:
        scores = np.asarray(predictor.predict_proba(workload.data))
        return float(spec.score(workload.y, scores, workload.classes))
    return float(spec.score(workload.y, predictions, workload.classes))


def _fidelity(workload: Workload, reference: np.ndarray, predictions: np.ndarray) -> float:
    if workload.classification:
        return float(np.mean(_same_labels(reference, predictions)))
    from sklearn.metrics import r2_score

    return float(r2_score(reference.astype(np.float64), predictions.astype(np.float64)))


def _same_labels(reference: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Row-wise label equality; labels of different kinds (ONNX strings for object labels,
    int64 for int32...) are compared by value, or as text when one side is not numeric."""
    if reference.dtype.kind in "biuf" and predictions.dtype.kind in "biuf":
        return np.asarray(reference == predictions)
    return np.asarray(reference.astype(str) == predictions.astype(str))


def _median_ms(call: Callable[[Any], Any], inputs: list[Any], *, warm_up: int) -> float:
    for item in inputs[:warm_up]:
        call(item)
    samples = []
    for item in inputs:
        start = time.perf_counter()
        call(item)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000.0


def package_size(variant: Variant, loaded: LoadedModel, signature: ModelSignature) -> int:
    """Bytes of ``variant``'s model package, without the input example."""
    from modelkeep.registry.package import save_package

    if variant.name == ORIGINAL:
        return _folder_size(loaded.path, skip=loaded.manifest.input_example)
    with tempfile.TemporaryDirectory(prefix="modelkeep-compress-") as tmp:
        save_package(variant.model, Path(tmp) / "package", signature=signature)
        return _folder_size(Path(tmp) / "package", skip=None)


def _folder_size(root: Path, *, skip: str | None) -> int:
    excluded = None if skip is None else root / skip
    return sum(
        path.stat().st_size for path in root.rglob("*") if path.is_file() and path != excluded
    )
