"""Per-column data drift between a reference and a current dataset, and dataset drift.

:func:`detect_drift` compares each column with a test chosen the way Evidently 0.7's
``DataDriftPreset`` chooses it, so decisions agree with it column by column:

- reference of at most 1,000 values: numeric with more than 5 distinct values (reference and
  current together) -> Kolmogorov-Smirnov; 3 to 5 -> chi-square; 1 or 2 -> two-proportion
  Z-test; categorical -> chi-square (Z-test when binary); drift when p < 0.05;
- larger reference: numeric with more than 5 distinct values -> Wasserstein distance normed
  by the reference's standard deviation, drift when >= 0.1; otherwise Jensen-Shannon
  distance, drift when >= 0.1.

Missing values (null, NaN, +-inf) are left out first, as Evidently does. An integer column
whose current data has at most 10 distinct values is compared as categorical (Evidently's
type inference). The dataset drifts when the share of drifted columns reaches
``DriftConfig.drift_share``. Any method of :mod:`modelkeep.monitor.methods` can be chosen per
column, with its own threshold, and the p-values can be corrected for testing many columns.

In-memory frames are compared exactly, one column at a time, so the extra memory is one
column's worth; Parquet files are summarised in one streaming pass first (numeric columns
past ``exact_limit`` values as quantile sketches, see :mod:`modelkeep.monitor.summary`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.columns import (
    CATEGORICAL,
    NUMERIC,
    ColumnKind,
    Table,
    category_key,
    column_chunk,
    open_table,
    select_kinds,
)
from modelkeep.monitor.methods import DriftMethod, drift_method, exact_support, value_counts
from modelkeep.monitor.stats import adjust_p_values
from modelkeep.monitor.summary import (
    ColumnSummary,
    DatasetSummary,
    summarize,
    summarize_chunk,
)

__all__ = ["CORRECTIONS", "ColumnDrift", "DriftConfig", "DriftResult", "detect_drift"]

CORRECTIONS = ("bonferroni", "benjamini-hochberg")
_SMALL_REFERENCE = 1000
_FEW_VALUES = 5
_INTEGER_CATEGORIES = 10


@dataclass(frozen=True)
class ColumnDrift:
    """The drift test of one column.

    ``statistic`` is the test statistic or distance; ``p_value`` is set for p-value tests
    (after the correction, when one is configured) and ``None`` for distances. The rows are
    the non-missing values compared.
    """

    column: str
    kind: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int


@dataclass(frozen=True)
class DriftConfig:
    """How :func:`detect_drift` compares columns.

    Attributes:
        methods: column -> method name (see :mod:`modelkeep.monitor.methods`); the default
            choice (module docstring) for the others.
        thresholds: column -> threshold; the method's default for the others.
        drift_share: the dataset drifts when at least this share of columns drift.
        correction: ``None``, ``bonferroni`` or ``benjamini-hochberg``, applied to the
            p-values of the p-value tests together.
        categorical: columns compared as categorical whatever their type.

    Raises:
        InvalidInputError: an unknown method or correction, or a threshold or share out of
            range; ``field`` names it.
    """

    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    correction: str | None = None
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for column, name in self.methods.items():
            try:
                drift_method(name)
            except InvalidInputError as exc:
                raise InvalidInputError(f"column {column!r}: {exc}", field=column) from None
        for column, value in self.thresholds.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(
                    f"threshold of column {column!r} must be a number >= 0", field=column
                )
        share = self.drift_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise InvalidInputError("drift_share must be a number in (0, 1]", field="drift_share")
        if self.correction is not None and self.correction not in CORRECTIONS:
            raise InvalidInputError(
                f"correction must be one of {', '.join(CORRECTIONS)} or None",
                field="correction",
            )


@dataclass(frozen=True)
class DriftResult:
    """Drift of every compared column, and of the dataset.

    Attributes:
        columns: column -> :class:`ColumnDrift`, in the data's column order.
        drift_share: the share of columns that drifted.
        dataset_drift: ``drift_share`` reached the configured share.
        number_of_drifted_columns: how many columns drifted.
        drift_share_threshold: the configured share.
    """

    columns: dict[str, ColumnDrift]
    drift_share: float
    dataset_drift: bool
    number_of_drifted_columns: int
    drift_share_threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (an infinite chi-square statistic stays ``inf``)."""
        return {
            "columns": {name: asdict(column) for name, column in self.columns.items()},
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "number_of_drifted_columns": self.number_of_drifted_columns,
            "drift_share_threshold": self.drift_share_threshold,
        }

    def save_html(self, path: str | Path) -> None:
        """Write the drift as a self-contained HTML report (see
        :mod:`modelkeep.monitor.report`)."""
        from modelkeep.monitor.report import render_html

        rows = max((c.current_rows for c in self.columns.values()), default=0)
        page = render_html({"model": "drift", "window": {"rows": rows}, "drift": self.to_dict()})
        Path(path).write_text(page, encoding="utf-8")


# ---- where the columns come from -----------------------------------------------------------
class _Source:
    """The columns of one side: summarised on demand and exactly (in-memory tables), or in
    one streaming pass (Parquet files), or given (a summary)."""

    def __init__(self, data: Any, field_name: str, categorical: Sequence[str]) -> None:
        self._summary: DatasetSummary | None = None
        self._table: Table | None = None
        self._kinds: dict[str, ColumnKind] = {}
        if isinstance(data, DatasetSummary):
            self._summary = data
            self.names = list(data.columns)
            return
        self._table = open_table(data, field_name)
        self._kinds = select_kinds(self._table, None, categorical)
        self.names = list(self._kinds)

    def load(self, names: Sequence[str], categorical: Sequence[str]) -> None:
        """Summarise a Parquet file's columns ``names`` in one pass."""
        if isinstance(self._table, pq.ParquetFile):
            with self._table:
                self._summary = summarize(self._table, columns=names, categorical=categorical)

    def column(self, name: str) -> ColumnSummary:
        if self._summary is not None:
            return self._summary.columns[name]
        assert isinstance(self._table, pd.DataFrame | pa.Table)
        kind = self._kinds[name]
        return summarize_chunk(name, column_chunk(self._table, name, kind), kind)


def _as_categorical(column: ColumnSummary) -> ColumnSummary | None:
    """A numeric column's summary as category counts (``None`` when its values are not known
    one by one)."""
    if column.kind == CATEGORICAL:
        return column
    support = exact_support(column)
    if support is None and column.count:
        return None
    categories: dict[str, int] = {}
    if support is not None:
        for value, n in zip(support[0].tolist(), support[1].tolist(), strict=True):
            key = category_key(value)
            categories[key] = categories.get(key, 0) + int(n)
    return ColumnSummary(
        column.name, CATEGORICAL, column.count, column.missing, len(categories),
        integer=column.integer, categories=categories,
    )  # fmt: skip


def _resolve_kind(
    reference: ColumnSummary, current: ColumnSummary, forced: bool
) -> tuple[ColumnSummary, ColumnSummary]:
    few = current.integer and current.n_unique_exact and current.n_unique <= _INTEGER_CATEGORIES
    if not (forced or few or CATEGORICAL in (reference.kind, current.kind)):
        return reference, current
    ref, cur = _as_categorical(reference), _as_categorical(current)
    if ref is not None and cur is not None:
        return ref, cur
    if few and not forced and NUMERIC == reference.kind == current.kind:
        return reference, current
    raise InvalidInputError(
        f"column {reference.name!r} cannot be compared as categorical: a side has too many "
        "distinct numbers to count",
        field=reference.name,
    )


def _combined_unique(reference: ColumnSummary, current: ColumnSummary) -> int:
    if reference.kind == NUMERIC and max(reference.n_unique, current.n_unique) > _FEW_VALUES:
        return max(reference.n_unique, current.n_unique)
    found = value_counts(reference, current)
    return len(found[0]) if found is not None else reference.n_unique + current.n_unique


def default_method(reference: ColumnSummary, current: ColumnSummary) -> str:
    """The method Evidently 0.7 would choose for this column (module docstring)."""
    distinct = _combined_unique(reference, current)
    numeric = reference.kind == NUMERIC
    if reference.count <= _SMALL_REFERENCE:
        if numeric and distinct > _FEW_VALUES:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    return "wasserstein" if numeric and distinct > _FEW_VALUES else "jensenshannon"


# ---- the comparison --------------------------------------------------------------------------
def _compare(
    name: str, reference: ColumnSummary, current: ColumnSummary, config: DriftConfig
) -> tuple[ColumnDrift, DriftMethod]:
    for side, column in (("reference", reference), ("current", current)):
        if column.count == 0:
            raise InvalidInputError(
                f"column {name!r} has no values in the {side} data", field=name
            )
    reference, current = _resolve_kind(reference, current, name in config.categorical)
    method = drift_method(config.methods.get(name) or default_method(reference, current))
    if reference.kind not in method.kinds:
        raise InvalidInputError(
            f"{method.name} does not compare {reference.kind} columns such as {name!r}",
            field=name,
        )
    threshold = float(config.thresholds.get(name, method.default_threshold))
    statistic, p_value = method.compute(reference, current)
    drift = ColumnDrift(
        name, reference.kind, method.name, float(statistic),
        None if p_value is None else float(p_value), threshold,
        method.drifted(statistic, p_value, threshold), reference.count, current.count,
    )  # fmt: skip
    return drift, method


def _corrected(
    found: dict[str, tuple[ColumnDrift, DriftMethod]], correction: str | None
) -> dict[str, ColumnDrift]:
    tested = [name for name, (drift, method) in found.items() if drift.p_value is not None]
    results = {name: drift for name, (drift, _) in found.items()}
    if correction is None or not tested:
        return results
    raw = np.array([results[name].p_value for name in tested], dtype=np.float64)
    for name, p in zip(tested, adjust_p_values(raw, correction).tolist(), strict=True):
        drift, method = found[name]
        decided = method.drifted(drift.statistic, p, drift.threshold)
        results[name] = ColumnDrift(**{**asdict(drift), "p_value": p, "drifted": decided})
    return results


def _column_names(
    reference: _Source, current: _Source, columns: Sequence[str] | None
) -> list[str]:
    if columns is None:
        present = set(current.names)
        return [name for name in reference.names if name in present]
    for name in columns:
        for side, source in (("reference", reference), ("current", current)):
            if name not in source.names:
                raise InvalidInputError(
                    f"column {name!r} is not in the {side} data (or cannot be compared)",
                    field=name,
                )
    return list(dict.fromkeys(columns))


def detect_drift(
    reference: Any,
    current: Any,
    columns: Sequence[str] | None = None,
    config: DriftConfig | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        reference: a pandas or polars DataFrame, a pyarrow Table, a Parquet path, or a
            :class:`~modelkeep.monitor.summary.DatasetSummary`.
        current: the same kinds of input.
        columns: the columns to compare; by default every numeric and categorical column
            the two sides share.
        config: methods, thresholds, drift share, correction (:class:`DriftConfig`).

    Returns:
        The :class:`DriftResult`.

    Raises:
        InvalidInputError: no column to compare, a named column missing on a side or empty,
            or a method that cannot compare the column; ``field`` names it.
        NotFoundError: a Parquet path where no file is.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame({"x": rng.normal(size=5000)})
        >>> cur = pd.DataFrame({"x": rng.normal(1.0, size=5000)})
        >>> result = detect_drift(ref, cur)
        >>> result.columns["x"].method, result.columns["x"].drifted, result.dataset_drift
        ('wasserstein', True, True)
    """
    config = config or DriftConfig()
    forced = list(config.categorical)
    ref_source = _Source(reference, "reference", forced)
    cur_source = _Source(current, "current", forced)
    names = _column_names(ref_source, cur_source, columns)
    if not names:
        raise InvalidInputError("the two datasets share no column to compare", field="columns")
    ref_source.load(names, forced)
    cur_source.load(names, forced)
    found = {
        name: _compare(name, ref_source.column(name), cur_source.column(name), config)
        for name in names
    }
    results = _corrected(found, config.correction)
    drifted = sum(1 for drift in results.values() if drift.drifted)
    share = drifted / len(results)
    return DriftResult(results, share, share >= config.drift_share, drifted, config.drift_share)
