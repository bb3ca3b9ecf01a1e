"""What drift detection needs to know of a dataset, computed in one streaming pass.

:func:`summarize` reads a pandas or polars DataFrame, an Arrow table or a Parquet file (one
batch at a time, so memory stays bounded) and keeps, per column, a :class:`ColumnSummary`:

- numeric columns: count, missing (NaN and +-inf, as Evidently drops them), the number of
  distinct values, min, max, mean and population standard deviation, and the values
  themselves in the most exact form that fits: their value counts when there are at most
  :data:`UNIQUE_LIMIT` distinct values; else every value, sorted, when there are at most
  ``exact_limit`` of them; else a quantile sketch (:mod:`modelkeep.monitor.sketch`);
- categorical columns: count, missing and the counts of the :data:`CATEGORY_LIMIT` most
  frequent categories, the rest summed under :data:`OTHER`.

A :class:`DatasetSummary` is plain JSON (``to_dict``/``from_dict``), so a model's reference is
summarised once, stored, and compared with every later window without rereading the data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.accumulate import (
    CATEGORY_LIMIT,
    OTHER,
    UNIQUE_LIMIT,
    CategoricalAccumulator,
    NumericAccumulator,
)
from modelkeep.monitor.columns import (
    CATEGORICAL,
    NUMERIC,
    ColumnChunk,
    ColumnKind,
    Table,
    iter_chunks,
    open_table,
    select_kinds,
)

__all__ = [
    "CATEGORY_LIMIT",
    "DEFAULT_EXACT_LIMIT",
    "OTHER",
    "UNIQUE_LIMIT",
    "ColumnSummary",
    "DatasetSummary",
    "summarize",
    "summarize_chunk",
]

DEFAULT_EXACT_LIMIT = 100_000
_FORMAT = 1
_ARRAYS = ("values", "unique_values", "unique_counts", "quantiles")


@dataclass(frozen=True, eq=False)
class ColumnSummary:
    """One column of a :class:`DatasetSummary`.

    Attributes:
        name: the column.
        kind: ``numeric`` or ``categorical``.
        count: non-missing values.
        missing: missing values (null, NaN, +-inf).
        n_unique: distinct non-missing values; a lower bound when ``n_unique_exact`` is false.
        n_unique_exact: whether ``n_unique`` is exact.
        integer: the column has an integer type.
        min, max, mean, std: numeric columns (``std`` is the population one, ``ddof=0``).
        values: every value, sorted (numeric, more than ``UNIQUE_LIMIT`` distinct values,
            at most ``exact_limit`` values).
        unique_values, unique_counts: the distinct values, sorted, and their counts
            (numeric, at most ``UNIQUE_LIMIT`` distinct values).
        quantiles: quantiles at :data:`modelkeep.monitor.sketch.LEVELS` (numeric, otherwise).
        categories: category -> count (categorical).
    """

    name: str
    kind: str
    count: int
    missing: int
    n_unique: int
    n_unique_exact: bool = True
    integer: bool = False
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    values: NDArray[np.float64] | None = None
    unique_values: NDArray[np.float64] | None = None
    unique_counts: NDArray[np.int64] | None = None
    quantiles: NDArray[np.float64] | None = None
    categories: dict[str, int] | None = None

    @property
    def representation(self) -> str:
        """``counts``, ``exact``, ``sketch``, ``categories`` or ``empty``: which of the
        fields above hold the distribution."""
        if self.count == 0:
            return "empty"
        if self.kind == CATEGORICAL:
            return "categories"
        if self.unique_values is not None:
            return "counts"
        return "exact" if self.values is not None else "sketch"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (numbers as lists); ``None`` fields are left out."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is None:
                continue
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSummary:
        """The summary :meth:`to_dict` wrote.

        Raises:
            InvalidInputError: a field is missing or malformed; ``field`` names the column.
        """
        name = str(data.get("name", "?"))
        try:
            fields = dict(data)
            for key in ("count", "missing", "n_unique"):
                fields[key] = int(fields[key])
            for key in ("min", "max", "mean", "std"):
                if fields.get(key) is not None:
                    fields[key] = float(fields[key])
            for key in _ARRAYS:
                if fields.get(key) is not None:
                    kind = np.int64 if key == "unique_counts" else np.float64
                    fields[key] = np.asarray(fields[key], dtype=kind)
            if fields.get("categories") is not None:
                fields["categories"] = {str(k): int(v) for k, v in fields["categories"].items()}
            summary = cls(**fields)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise InvalidInputError(f"summary of column {name!r}: {exc}", field=name) from None
        if summary.kind not in (NUMERIC, CATEGORICAL):
            raise InvalidInputError(
                f"summary of column {name!r}: kind {summary.kind!r}", field=name
            )
        return summary

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnSummary) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class DatasetSummary:
    """Per-column summaries of a dataset of ``rows`` rows (see the module docstring).

    Example:
        >>> import pandas as pd
        >>> summary = summarize(pd.DataFrame({"x": [1.5, 2.5, None], "c": ["a", "b", "a"]}))
        >>> summary.columns["x"].missing, summary.columns["c"].categories
        (1, {'a': 2, 'b': 1})
        >>> DatasetSummary.from_dict(summary.to_dict()) == summary
        True
    """

    rows: int
    columns: dict[str, ColumnSummary]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "format": _FORMAT,
            "rows": self.rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSummary:
        """The summary :meth:`to_dict` wrote.

        Raises:
            InvalidInputError: the dict is not a dataset summary of a known format.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), Mapping):
            raise InvalidInputError("not a dataset summary (no 'columns')", field="summary")
        if data.get("format", _FORMAT) != _FORMAT:
            raise InvalidInputError(
                f"dataset summary format {data.get('format')!r} is not {_FORMAT}", field="format"
            )
        columns = {
            str(name): ColumnSummary.from_dict({**column, "name": str(name)})
            for name, column in data["columns"].items()
        }
        return cls(rows=int(data.get("rows", 0)), columns=columns)


def summarize_chunk(
    name: str, chunk: ColumnChunk, kind: ColumnKind, exact_limit: int | None = None
) -> ColumnSummary:
    """The summary of one column given whole as ``chunk`` (``exact_limit=None``: keep every
    value exactly, which :func:`modelkeep.monitor.drift.detect_drift` does for in-memory
    frames)."""
    if kind.kind == NUMERIC:
        numeric = NumericAccumulator(exact_limit)
        assert chunk.values is not None
        numeric.add(chunk.values)
        return ColumnSummary(**numeric.finish(name, kind.integer))
    categorical = CategoricalAccumulator()
    categorical.add(chunk)
    return ColumnSummary(**categorical.finish(name, kind.integer))


def summarize(
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    chunk_rows: int = 1_000_000,
    categorical: Collection[str] | None = None,
    exact_limit: int | None = DEFAULT_EXACT_LIMIT,
) -> DatasetSummary:
    """Summarise ``data`` for drift detection, in one pass.

    Args:
        data: a pandas or polars DataFrame, a pyarrow Table, or the path of a Parquet file
            (read ``chunk_rows`` rows at a time).
        columns: the columns to summarise; all numeric and categorical ones when ``None``.
        chunk_rows: rows per batch.
        categorical: columns to treat as categorical whatever their type.
        exact_limit: a numeric column with more values than this (and more than
            :data:`UNIQUE_LIMIT` distinct ones) is kept as a quantile sketch; ``None`` keeps
            every value.

    Returns:
        The :class:`DatasetSummary`.

    Raises:
        InvalidInputError: bad arguments, or a named column that is missing or of a type that
            cannot be compared (``field`` names it).
        NotFoundError: ``data`` is a path where no file is.
    """
    if chunk_rows < 1:
        raise InvalidInputError("chunk_rows must be at least 1", field="chunk_rows")
    if exact_limit is not None and exact_limit < 0:
        raise InvalidInputError("exact_limit must not be negative", field="exact_limit")
    table = open_table(data, "data")
    try:
        kinds = select_kinds(table, columns, categorical or ())
        return _accumulate(table, kinds, chunk_rows, exact_limit)
    finally:
        if table is not data and isinstance(table, pq.ParquetFile):
            table.close()


def _accumulate(
    table: Table, kinds: dict[str, ColumnKind], chunk_rows: int, exact_limit: int | None
) -> DatasetSummary:
    accumulators: dict[str, NumericAccumulator | CategoricalAccumulator] = {
        name: NumericAccumulator(exact_limit) if kind.kind == NUMERIC else CategoricalAccumulator()
        for name, kind in kinds.items()
    }
    rows = 0
    for batch_rows, chunks in iter_chunks(table, kinds, chunk_rows):
        rows += batch_rows
        for name, chunk in chunks:
            accumulator = accumulators[name]
            if isinstance(accumulator, NumericAccumulator):
                assert chunk.values is not None
                accumulator.add(chunk.values)
            else:
                accumulator.add(chunk)
    summaries = {
        name: ColumnSummary(**accumulator.finish(name, kinds[name].integer))
        for name, accumulator in accumulators.items()
    }
    return DatasetSummary(rows, summaries)
