"""``compress``: candidate variants of a model, measured on validation data, the best one
registered as a new version linked to its parent (see :mod:`modelkeep.compress`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.compress.choose import make_table
from modelkeep.compress.measure import Measurement, Workload, make_workload, measure
from modelkeep.compress.register import register_variant
from modelkeep.compress.result import CompressResult
from modelkeep.compress.trees import is_tree_ensemble
from modelkeep.compress.variants import FAMILIES, ORIGINAL, FitRows, Variant, build_variants
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.serve.onnx_convert import describe_error
from modelkeep.tracking import Client

if TYPE_CHECKING:
    from modelkeep.entities import Run
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature
    from modelkeep.train.metrics import MetricSpec

__all__ = ["CompressResult", "compress"]

_MIN_SPLIT_ROWS = 40
_REFITS = frozenset({"limited_depth", "distilled"})
_TASK_TAG = "modelkeep.task"


@dataclass(frozen=True)
class _Options:
    max_metric_drop: float
    min_fidelity: float
    metric: str | None
    register: bool
    families: frozenset[str]
    calls: int
    seed: int


def compress(
    model_uri: str,
    data: str | Path | pd.DataFrame,
    target: str,
    max_metric_drop: float = 0.005,
    *,
    metric: str | None = None,
    register: bool = True,
    train_data: str | Path | pd.DataFrame | None = None,
    families: Iterable[str] | None = None,
    min_fidelity: float = 0.0,
    single_row_calls: int = 200,
    seed: int = 0,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> CompressResult:
    """Build smaller/faster variants of a model, measure them, register the best one.

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3`` (or ``runs:/...`` with
            ``register=False``).
        data: validation rows with the target column (a CSV/Parquet/JSON path or DataFrame);
            columns the model does not take are ignored, rows without a target dropped.
        target: the target column's name.
        max_metric_drop: how much worse than the original's the metric may be, in its units.
        metric: a metric of :data:`modelkeep.train.metrics.METRICS`; default the source
            run's primary metric (its first ``metrics`` param), else accuracy or rmse.
        register: register the chosen variant (unless it is the original).
        train_data: training rows (with the target) for the limited-depth refits and the
            distillation. Without them, when those apply, ``data`` is split in halves
            (seeded, stratified for classifiers): one to refit on, one to measure on.
        families: candidate families to build (see :data:`FAMILIES`); default all.
        min_fidelity: a variant must also agree with the original at least this much
            (share of equal labels; R^2 to the original's predictions for regressors);
            1.0 demands identical labels.
        single_row_calls: calls timed for the single-row latency (the median is reported).
        seed: seed of the split, the refits and the 1,000-row sample.
        tracking_uri: the store (default: the settings').
        settings: where the store lives.

    Raises:
        InvalidInputError: a missing target column (``field="target"``), a bad tolerance,
            metric, family or data file, rows that do not fit the model's signature, or
            ``register=True`` with a ``runs:/`` URI (``field="model_uri"``).
        NotFoundError: unknown model or version.
    """
    options = _options(
        max_metric_drop, min_fidelity, metric, register, families, single_row_calls, seed
    )
    frame = _read(data, target, "data")
    extra = None if train_data is None else _read(train_data, target, "train_data")
    settings = settings or Settings()
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        loaded = client.load_model(model_uri)
        if options.register and loaded.version is None:
            raise InvalidInputError(
                f"{model_uri} is not a registered version; registering a compressed version "
                "needs a models:/ URI (or pass register=False)",
                field="model_uri",
            )
        return _compress(client, loaded, frame, extra, target, options)


def _options(
    max_metric_drop: float,
    min_fidelity: float,
    metric: str | None,
    register: bool,
    families: Iterable[str] | None,
    calls: int,
    seed: int,
) -> _Options:
    from modelkeep.train.metrics import METRICS

    if not (isinstance(max_metric_drop, int | float) and math.isfinite(max_metric_drop)):
        raise InvalidInputError("max_metric_drop must be a number", field="max_metric_drop")
    if max_metric_drop < 0:
        raise InvalidInputError("max_metric_drop must be 0 or more", field="max_metric_drop")
    if not 0.0 <= min_fidelity <= 1.0:
        raise InvalidInputError("min_fidelity must lie in [0, 1]", field="min_fidelity")
    if metric is not None and metric not in METRICS:
        known = ", ".join(METRICS)
        raise InvalidInputError(f"unknown metric {metric!r}; known: {known}", field="metric")
    wanted = frozenset(FAMILIES if families is None else families)
    unknown = sorted(wanted - set(FAMILIES))
    if unknown:
        raise InvalidInputError(
            f"unknown families {', '.join(unknown)}; known: {', '.join(FAMILIES)}",
            field="families",
        )
    if calls < 1:
        raise InvalidInputError("single_row_calls must be 1 or more", field="single_row_calls")
    return _Options(
        float(max_metric_drop), float(min_fidelity), metric, register, wanted, calls, seed
    )


def _read(source: Any, target: str, name: str) -> pd.DataFrame:
    from modelkeep.data.io import read_table

    try:
        frame = read_table(source)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, field=name) from None
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:20]))
        raise InvalidInputError(
            f"target column {target!r} is not in {name} (columns: {shown})", field="target"
        )
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise InvalidInputError(f"{name} has no rows with a target value", field=name)
    return frame.reset_index(drop=True)


def _compress(
    client: Client,
    loaded: LoadedModel,
    frame: pd.DataFrame,
    extra: pd.DataFrame | None,
    target: str,
    options: _Options,
) -> CompressResult:
    source = _source_run(client, loaded)
    classification = _is_classifier(loaded, source)
    spec = _metric_spec(options.metric, classification, source)
    signature = loaded.signature or _inferred(frame.drop(columns=[target]))
    X, y, fit = _rows(loaded, signature, frame, extra, target, classification, options)
    skipped: dict[str, str] = {}
    variants = build_variants(loaded, signature, options.families, fit, skipped, seed=options.seed)
    workload = make_workload(
        X, y, signature, spec,
        classification=classification, classes=_classes(loaded, y, classification),
        calls=options.calls, seed=options.seed,
    )  # fmt: skip
    measured = _measure_all(variants, loaded, workload, skipped)
    result = _summary(loaded, measured, spec, options, skipped, len(y), fit)
    return _maybe_register(client, loaded, result, options, signature, X)


def _summary(
    loaded: LoadedModel,
    measured: list[tuple[Variant, Measurement]],
    spec: MetricSpec,
    options: _Options,
    skipped: dict[str, str],
    rows: int,
    fit: FitRows | None,
) -> CompressResult:
    table = make_table(
        measured,
        greater_is_better=spec.greater_is_better,
        max_metric_drop=options.max_metric_drop,
        min_fidelity=options.min_fidelity,
    )
    parent = loaded.version
    return CompressResult(
        variants=table,
        chosen=str(table.loc[table["chosen"], "variant"].iloc[0]),
        version=None,
        model=None if parent is None else parent.name,
        parent_version=None if parent is None else int(parent.version),
        metric=spec.name,
        max_metric_drop=options.max_metric_drop,
        min_fidelity=options.min_fidelity,
        validation_rows=rows,
        fit_rows=0 if fit is None else len(fit.y),
        skipped=skipped,
        candidates={variant.name: variant for variant, _ in measured},
    )


def _rows(
    loaded: LoadedModel,
    signature: ModelSignature,
    frame: pd.DataFrame,
    extra: pd.DataFrame | None,
    target: str,
    classification: bool,
    options: _Options,
) -> tuple[Any, np.ndarray, FitRows | None]:
    """Validated validation features, their target, and the refits' rows (or None)."""
    refit = bool(options.families & _REFITS) and _reducible(loaded)
    validation, fitting = _split(frame, extra, target, classification, refit, options.seed)
    X = signature.validate_input(_inputs(signature, validation, target))
    fit = None
    if fitting is not None:
        fit_x = signature.validate_input(_inputs(signature, fitting, target))
        fit = FitRows(fit_x, fitting[target].to_numpy())
    return X, validation[target].to_numpy(), fit


def _inputs(signature: ModelSignature, frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The features: the signature's columns when the table has them all (other columns,
    ids or timestamps, are ignored), else everything but the target (validation then says
    what is missing)."""
    names = [spec.name for spec in signature.inputs]
    if names and all(name in frame.columns for name in names):
        return frame[names]
    return frame.drop(columns=[target])


def _source_run(client: Client, loaded: LoadedModel) -> Run | None:
    run_id = loaded.manifest.source_run_id
    if not run_id:
        return None
    try:
        return client.get_run(run_id)
    except NotFoundError:
        return None


def _is_classifier(loaded: LoadedModel, source: Run | None) -> bool:
    task = None if source is None else source.tags.get(_TASK_TAG)
    if task in ("classification", "regression"):
        return task == "classification"
    if loaded.flavor == "sklearn":
        from sklearn.base import is_classifier

        return bool(is_classifier(loaded.raw))
    return loaded.has_proba


def _metric_spec(name: str | None, classification: bool, source: Run | None) -> MetricSpec:
    from modelkeep.train.metrics import METRICS

    task = "classification" if classification else "regression"
    if name is None:
        listed = "" if source is None else source.params.get("metrics", "")
        primary = listed.split(",")[0].strip()
        spec = METRICS.get(primary)
        if spec is not None and spec.task == task:
            return spec
        return METRICS["accuracy" if classification else "rmse"]
    spec = METRICS[name]
    if spec.task != task:
        raise InvalidInputError(
            f"metric {name!r} is for {spec.task}; this model does {task}", field="metric"
        )
    return spec


def _inferred(features: pd.DataFrame) -> ModelSignature:
    from modelkeep.registry.signature import infer_signature

    return infer_signature(features.head(5))


def _reducible(loaded: LoadedModel) -> bool:
    return loaded.flavor == "sklearn" and is_tree_ensemble(loaded.raw)


def _split(
    frame: pd.DataFrame,
    extra: pd.DataFrame | None,
    target: str,
    stratify: bool,
    refit: bool,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(validation rows, training rows for refits or None)."""
    if extra is not None:
        return frame, extra if refit else None
    if not refit or len(frame) < _MIN_SPLIT_ROWS:
        return frame, None
    from sklearn.model_selection import train_test_split

    labels = frame[target] if stratify and frame[target].value_counts().min() >= 2 else None
    fitting, validation = train_test_split(
        frame, test_size=0.5, random_state=seed, stratify=labels
    )
    return validation.reset_index(drop=True), fitting.reset_index(drop=True)


def _classes(loaded: LoadedModel, y: np.ndarray, classification: bool) -> list[Any]:
    if not classification:
        return []
    classes = getattr(loaded.raw, "classes_", None)
    return list(classes) if classes is not None else sorted(pd.unique(y).tolist())


def _measure_all(
    variants: list[Variant], loaded: LoadedModel, workload: Workload, skipped: dict[str, str]
) -> list[tuple[Variant, Measurement]]:
    numbers, reference = measure(variants[0], loaded, workload, None)
    measured = [(variants[0], numbers)]
    for variant in variants[1:]:
        try:
            found, _ = measure(variant, loaded, workload, reference)
        except Exception as exc:  # a candidate that fails is left out, not the compression
            skipped[variant.name] = f"measuring it failed: {describe_error(exc)}"
            continue
        measured.append((variant, found))
    return measured


def _maybe_register(
    client: Client,
    loaded: LoadedModel,
    result: CompressResult,
    options: _Options,
    signature: ModelSignature,
    X: Any,
) -> CompressResult:
    """Register the chosen variant unless told not to, or unless it is the original:
    a copy of the parent would be a version that changes nothing."""
    if not options.register or result.chosen == ORIGINAL:
        return result
    chosen = result.variants[result.variants["variant"] == result.chosen].iloc[0]
    row = {str(key): value for key, value in chosen.items()}
    example = loaded.input_example
    if example is None:
        example = X.head(5) if isinstance(X, pd.DataFrame) else np.asarray(X)[:5]
    version = register_variant(
        client,
        loaded,
        result.variant(result.chosen),
        row,
        result.to_dict(),
        signature=signature,
        input_example=example,
    )
    return dataclasses.replace(result, version=int(version.version))
