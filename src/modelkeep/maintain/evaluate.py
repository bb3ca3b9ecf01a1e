"""Champion vs challenger on one labelled holdout: scores, paired tests, per-slice changes.

:func:`evaluate_pair` predicts with both loaded models on the same rows (each gets only the
columns its signature names, so slice columns and ids may ride along in the holdout), maps the
holdout's labels onto the models' classes (labels read back from JSON as ``"1"`` still match
class ``1``), then runs :func:`~modelkeep.maintain.stats.paired_bootstrap`, McNemar's test for
classifiers and :func:`compare_slices`. The :class:`Evaluation` it returns is what the
promotion gates judge and what a decision record stores (:meth:`Evaluation.to_dict`).

Every "change" and "improvement" is oriented so that positive means the challenger is better,
also for metrics where lower is better (``rmse``, ``mae``, ``log_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain.stats import (
    BootstrapResult,
    McNemarResult,
    class_labels,
    mcnemar_test,
    metric_spec,
    paired_bootstrap,
)

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel

__all__ = ["Evaluation", "SliceComparison", "compare_slices", "evaluate_pair", "json_safe"]

MISSING = "<missing>"  # the slice of rows whose slice column is empty


@dataclass(frozen=True)
class SliceComparison:
    """Both models on the rows of one slice.

    Attributes:
        column: the slice column.
        value: the category, or a numeric bin such as ``"[0.1, 2.3)"`` (the last bin is
            closed: ``"[2.3, 9]"``), or ``"<missing>"``.
        rows: rows in the slice.
        champion: the champion's metric there (NaN where undefined).
        challenger: the challenger's.
        change: the challenger's improvement there (negative: worse on this slice).
    """

    column: str
    value: str
    rows: int
    champion: float
    challenger: float
    change: float


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate_pair`.

    Attributes:
        metric: the metric compared.
        task: ``classification`` or ``regression``.
        rows: labelled holdout rows both models were scored on.
        champion: the champion's metric on them.
        challenger: the challenger's.
        bootstrap: the paired bootstrap of the difference.
        mcnemar: McNemar's test on right/wrong labels (classification only).
        slices: per-slice comparisons.
        latency: timings the latency gate measured (empty until then).
    """

    metric: str
    task: str
    rows: int
    champion: float
    challenger: float
    bootstrap: BootstrapResult
    mcnemar: McNemarResult | None
    slices: list[SliceComparison] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)

    def improvement(self) -> float:
        """How much better the challenger scored (``challenger - champion``, reversed where
        lower is better)."""
        return self.bootstrap.diff

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the challenger is better beyond chance at level ``alpha``.

        For classification accuracy, McNemar's test: ``p < alpha`` with more rows only the
        challenger got right. Otherwise the paired bootstrap: a positive difference whose
        two-sided p-value is below ``alpha``, i.e. the ``1 - alpha`` percentile interval lies
        above zero.
        """
        test = self.mcnemar
        if test is not None and self.task == "classification" and self.metric == "accuracy":
            return test.c > test.b and test.p_value < alpha
        boot = self.bootstrap
        return math.isfinite(boot.p_value) and boot.diff > 0 and boot.p_value < alpha

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values (NaN and infinities become None), plus
        ``improvement``."""
        data = json_safe(asdict(self))
        data["improvement"] = json_safe(self.improvement())
        return dict(data)


def evaluate_pair(
    champion: LoadedModel,
    challenger: LoadedModel,
    holdout: pd.DataFrame,
    target: str,
    *,
    task: str,
    metric: str,
    slices: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Score champion and challenger on the same labelled holdout and compare them.

    Args:
        champion: the model in production.
        challenger: the model that wants its place.
        holdout: rows neither model trained on, with the ``target`` column; rows without a
            label are left out.
        target: the label column.
        task: ``classification`` or ``regression``.
        metric: a metric of that task from :data:`modelkeep.train.metrics.METRICS`.
        slices: columns of ``holdout`` to compare per category / quantile bin.
        n_boot: bootstrap resamples.
        seed: seeds the bootstrap.

    Raises:
        InvalidInputError: an unknown task or metric, a missing target or slice column, no
            labelled rows, a probability metric for a model without probabilities, or labels
            neither model knows for a probability metric.

    Example:
        >>> result = evaluate_pair(old, new, holdout, "churned", task="classification",
        ...                        metric="accuracy", slices=["plan"])  # doctest: +SKIP
        >>> result.improvement(), result.significant(0.05)  # doctest: +SKIP
        (0.031, True)
    """
    if task not in ("classification", "regression"):
        raise InvalidInputError(
            f"task: {task!r} is not classification or regression", field="task"
        )
    spec = metric_spec(metric, task)
    _require_columns(holdout, slices)
    frame = _labelled(holdout, target)
    y = frame[target].to_numpy()
    mcnemar = None
    classes: list[Any] | None = None
    if task == "regression":
        y = _numbers(y, target)
        pred_a = _numbers(champion.predict(_inputs(champion, frame, target)), "champion")
        pred_b = _numbers(challenger.predict(_inputs(challenger, frame, target)), "challenger")
    else:
        labels_a = _column(champion.predict(_inputs(champion, frame, target)))
        labels_b = _column(challenger.predict(_inputs(challenger, frame, target)))
        classes = _union_classes(champion, challenger, labels_a, labels_b)
        y = _as_classes(y, classes, target, strict=spec.needs_proba)
        mcnemar = mcnemar_test(labels_a == y, labels_b == y)
        pred_a, pred_b = labels_a, labels_b
        if spec.needs_proba:
            pred_a = _aligned_proba(champion, frame, target, classes, "champion")
            pred_b = _aligned_proba(challenger, frame, target, classes, "challenger")
    boot = paired_bootstrap(y, pred_a, pred_b, metric, classes=classes, n_boot=n_boot, seed=seed)
    compared = compare_slices(frame, slices, y, pred_a, pred_b, metric, classes=classes)
    return Evaluation(metric, task, len(y), boot.a, boot.b, boot, mcnemar, compared)


def compare_slices(
    frame: pd.DataFrame,
    columns: Sequence[str],
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    metric: str,
    *,
    classes: Sequence[Any] | None = None,
    min_rows: int = 30,
    bins: int = 4,
) -> list[SliceComparison]:
    """Both models' ``metric`` on each slice of ``frame``'s ``columns``.

    A categorical column (or a numeric one with at most ``bins`` distinct values) gives one
    slice per value; a numeric column ``bins`` quantile bins labelled like ``"[0.1, 2.3)"``.
    Missing values form a ``"<missing>"`` slice. Slices under ``min_rows`` rows are left out.

    Args:
        frame: rows aligned with ``y_true`` and the predictions (its index is ignored).
        columns: the slice columns.
        y_true: the true targets.
        pred_a: the champion's predictions (labels, values or probabilities, as the metric
            needs).
        pred_b: the challenger's.
        metric: a name from :data:`modelkeep.train.metrics.METRICS`.
        classes: the classes, in the order of the probability columns.
        min_rows: smallest slice reported.
        bins: quantile bins per numeric column.

    Raises:
        InvalidInputError: an unknown metric or column, or lengths that do not match.
    """
    spec = metric_spec(metric)
    y = _column(y_true)
    a_pred, b_pred = np.asarray(pred_a), np.asarray(pred_b)
    if not len(frame) == len(y) == len(a_pred) == len(b_pred):
        raise InvalidInputError(
            f"frame: {len(frame)} rows, y_true {len(y)}, predictions {len(a_pred)} and "
            f"{len(b_pred)}; they must be the same rows",
            field="frame",
        )
    labels = class_labels(spec, classes, y, a_pred, b_pred) if len(y) else []
    sign = 1.0 if spec.greater_is_better else -1.0
    found = []
    _require_columns(frame, columns)
    for column in columns:
        for value, mask in _slice_masks(frame[column], max(1, bins)):
            rows = int(np.count_nonzero(mask))
            if rows < max(1, min_rows):
                continue
            a = spec.score(y[mask], a_pred[mask], labels)
            b = spec.score(y[mask], b_pred[mask], labels)
            found.append(SliceComparison(str(column), value, rows, a, b, sign * (b - a)))
    return found


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, tuples as lists, non-string keys as
    strings and non-finite floats as None, so ``json.dumps(allow_nan=False)`` takes it."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


# ---- slices ------------------------------------------------------------------------------------


def _slice_masks(series: pd.Series[Any], bins: int) -> Iterator[tuple[str, Any]]:
    missing = series.isna().to_numpy()
    present = series[~missing]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and present.nunique() > bins:
        yield from _quantile_masks(series.to_numpy(dtype=float), missing, bins)
    else:
        values = series.to_numpy()
        for value in sorted(pd.unique(present.to_numpy()), key=str):
            yield str(value), (values == value) & ~missing
    if missing.any():
        yield MISSING, missing


def _quantile_masks(values: Any, missing: Any, bins: int) -> Iterator[tuple[str, Any]]:
    edges = np.unique(np.quantile(values[~missing], np.linspace(0.0, 1.0, bins + 1)))
    codes = np.searchsorted(edges[1:-1], np.where(missing, edges[0], values), side="right")
    last = edges.size - 2
    for index in range(edges.size - 1):
        close = "]" if index == last else ")"
        label = f"[{edges[index]:.4g}, {edges[index + 1]:.4g}{close}"
        yield label, (codes == index) & ~missing


# ---- holdout, predictions and classes ---------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InvalidInputError(f"slices: no column {absent} in the data", field="slices")


def _labelled(holdout: pd.DataFrame, target: str) -> pd.DataFrame:
    if target not in holdout.columns:
        raise InvalidInputError(f"target: column {target!r} is not in the holdout", field="target")
    frame = holdout[holdout[target].notna()].reset_index(drop=True)
    if frame.empty:
        raise InvalidInputError(
            f"holdout: no rows with a {target!r} label to compare the models on",
            field="holdout",
        )
    return frame


def _inputs(model: LoadedModel, frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The columns the model's signature names (all but the target when it has none), so
    extra holdout columns are not refused as unexpected."""
    signature = model.signature
    if signature is not None and signature.input_tensor is None and signature.inputs:
        wanted = {spec.name for spec in signature.inputs}
        return frame[[c for c in frame.columns if c in wanted]]
    return frame.drop(columns=[target])


def _column(values: Any) -> Any:
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    return array.reshape(-1)


def _numbers(values: Any, name: str) -> Any:
    try:
        return _column(values).astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: regression values must be numbers", field=name) from None


def _model_classes(model: LoadedModel) -> list[Any] | None:
    raw = model.raw
    found = getattr(raw, "classes_", None)
    if found is None and hasattr(raw, "steps"):
        found = getattr(raw.steps[-1][1], "classes_", None)
    if found is None:
        found = model.manifest.flavor_options.get("classes")
    return None if found is None else [_key(c) for c in np.asarray(found).tolist()]


def _union_classes(
    champion: LoadedModel, challenger: LoadedModel, labels_a: Any, labels_b: Any
) -> list[Any]:
    """Both models' classes (or, for a model that does not tell, the labels it predicted),
    sorted as scikit-learn orders probability columns."""
    found: dict[Any, Any] = {}
    for model, labels in ((champion, labels_a), (challenger, labels_b)):
        known = _model_classes(model)
        for label in known if known is not None else pd.unique(labels).tolist():
            found.setdefault(_key(label), _key(label))
    values = list(found.values())
    try:
        return sorted(values)
    except TypeError:  # mixed types have no order
        return values


def _as_classes(y: Any, classes: list[Any], target: str, *, strict: bool) -> Any:
    """Labels as the models' class values: equal values first, then equal text (a label read
    back from JSON as ``"1"`` is class ``1``). A label neither model knows stays as it is (it
    counts as wrong), unless ``strict`` or its kind (text vs number) differs from the classes."""
    exact = {c: c for c in classes}
    text = {str(c): c for c in classes}
    mapped = []
    for value in (_key(v) for v in y):
        if value in exact:
            mapped.append(exact[value])
        elif str(value) in text:
            mapped.append(text[str(value)])
        elif strict or (classes and isinstance(value, str) != isinstance(classes[0], str)):
            raise InvalidInputError(
                f"{target}: label {value!r} is not a class of either model (classes: {classes})",
                field=target,
            )
        else:
            mapped.append(value)
    return _column(pd.Series(mapped, dtype=object).infer_objects())


def _aligned_proba(
    model: LoadedModel, frame: pd.DataFrame, target: str, classes: list[Any], name: str
) -> Any:
    """The model's probabilities with one column per class of ``classes`` (zeros for a class
    this model does not know), so both models are scored against the same columns."""
    if not model.has_proba:
        raise InvalidInputError(f"metric: the {name} has no class probabilities", field="metric")
    known = _model_classes(model)
    proba = np.asarray(model.predict_proba(_inputs(model, frame, target)), dtype=np.float64)
    if known is None or proba.ndim != 2 or proba.shape[1] != len(known):
        raise InvalidInputError(
            f"metric: the {name}'s probability columns cannot be matched to its classes",
            field="metric",
        )
    aligned = np.zeros((len(frame), len(classes)))
    position = {c: i for i, c in enumerate(classes)}
    for column, label in enumerate(known):
        aligned[:, position[label]] = proba[:, column]
    return aligned


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
