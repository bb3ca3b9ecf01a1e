"""Data quality of a window against the reference summary: what changed in the data itself.

:func:`check_quality` reads the current data once (pandas or polars frames, Arrow tables, or a
Parquet file streamed batch by batch, the same way drift detection reads it) and reports, per
reference column:

- the missing rate (null, NaN and +-inf count as missing, as in the reference summary) and its
  change from the reference;
- numeric columns: the share of present values outside the reference's ``[min, max]``;
- categorical columns: the share of present values whose category the reference never had.
  When the reference kept only its most frequent categories (the rest summed under
  ``__other__``), a category outside them may still have been seen, so such a column is left
  out of ``unseen_categories``;
- schema violations: reference columns that are missing, columns the reference does not have,
  and columns whose kind changed (numbers in the reference, text now; or a type that cannot
  be compared at all). A column the reference counted as categorical is read as categories
  whatever its type now (integer codes forced categorical stay comparable).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
from modelkeep.monitor.summary import OTHER, ColumnSummary, DatasetSummary

__all__ = ["QualityResult", "check_quality"]


@dataclass(frozen=True)
class QualityResult:
    """Data quality of the current rows against the reference.

    Attributes:
        rows: rows in the current data.
        missing_rate: per reference column, the share of current rows missing it (1.0 for a
            column that is not there at all).
        missing_rate_change: the current missing rate minus the reference's.
        out_of_range: per numeric column, the share of present values outside the
            reference's ``[min, max]``.
        unseen_categories: per categorical column, the share of present values of a
            category the reference did not have.
        schema_violations: one sentence per missing, extra or changed column.
    """

    rows: int
    missing_rate: dict[str, float] = field(default_factory=dict)
    missing_rate_change: dict[str, float] = field(default_factory=dict)
    out_of_range: dict[str, float] = field(default_factory=dict)
    unseen_categories: dict[str, float] = field(default_factory=dict)
    schema_violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return asdict(self)


@dataclass
class _Tally:
    """Counts for one column over the batches read so far."""

    missing: int = 0
    present: int = 0
    flagged: int = 0  # out of range (numeric) or of an unseen category (categorical)


def check_quality(
    reference: DatasetSummary, current: Any, *, chunk_rows: int = 1_000_000
) -> QualityResult:
    """Compare the current data with the reference summary.

    Args:
        reference: the reference's summary (:func:`modelkeep.monitor.summary.summarize`).
        current: a pandas or polars DataFrame, a pyarrow Table, or a Parquet path.
        chunk_rows: rows per batch when reading.

    Returns:
        The :class:`QualityResult`.

    Raises:
        InvalidInputError: ``current`` is not a table; repeated column names.
        NotFoundError: ``current`` is a path where no file is.

    Example:
        >>> import pandas as pd
        >>> from modelkeep.monitor.summary import summarize
        >>> ref = summarize(pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}))
        >>> result = check_quality(ref, pd.DataFrame({"x": [2.0, 9.0, None], "c": list("abz")}))
        >>> result.out_of_range["x"], result.unseen_categories["c"], result.missing_rate["x"]
        (0.5, 0.3333333333333333, 0.3333333333333333)
    """
    table = open_table(current, "current")
    try:
        names = _column_names(table)
        kinds, violations = _read_plan(reference, names, select_kinds(table, None))
        absent = {name for name in reference.columns if name not in names}
        tallies = {name: _Tally() for name in kinds}
        for _, columns in iter_chunks(table, kinds, chunk_rows):
            for name, chunk in columns:
                _count(tallies[name], chunk, reference.columns[name])
        rows = _row_count(table)
    finally:
        if table is not current and isinstance(table, pq.ParquetFile):
            table.close()
    return _result(reference, rows, tallies, absent, violations)


def _column_names(table: Table) -> list[str]:
    if isinstance(table, pa.Table):
        return [str(name) for name in table.column_names]
    if isinstance(table, pq.ParquetFile):
        return [str(name) for name in table.schema_arrow.names]
    return [str(name) for name in table.columns]


def _row_count(table: Table) -> int:
    if isinstance(table, pq.ParquetFile):
        return int(table.metadata.num_rows)
    return int(table.num_rows if isinstance(table, pa.Table) else len(table))


def _read_plan(
    reference: DatasetSummary, names: list[str], found: dict[str, ColumnKind]
) -> tuple[dict[str, ColumnKind], list[str]]:
    """How to read each reference column present now, and the schema violations."""
    kinds: dict[str, ColumnKind] = {}
    violations: list[str] = []
    present = set(names)
    for name, summary in reference.columns.items():
        kind = found.get(name)
        if name not in present:
            violations.append(f"missing column {name!r}")
        elif kind is None:
            violations.append(f"column {name!r}: {summary.kind} in the reference, "
                              "a type that cannot be compared now")  # fmt: skip
        elif summary.kind == NUMERIC and kind.kind != NUMERIC:
            violations.append(f"column {name!r}: numeric in the reference, {kind.kind} now")
        else:
            kinds[name] = kind if summary.kind == NUMERIC else ColumnKind(CATEGORICAL)
    violations += [f"extra column {name!r}" for name in names if name not in reference.columns]
    return kinds, violations


def _count(tally: _Tally, chunk: ColumnChunk, reference: ColumnSummary) -> None:
    if chunk.values is not None:
        values = chunk.values
        finite = np.isfinite(values)
        tally.missing += int(values.size - np.count_nonzero(finite))
        tally.present += int(np.count_nonzero(finite))
        tally.flagged += _outside(values[finite], reference)
        return
    counts = chunk.counts or {}
    tally.missing += chunk.missing
    tally.present += sum(counts.values())
    known = reference.categories or {}
    tally.flagged += sum(n for value, n in counts.items() if value not in known)


def _outside(values: np.ndarray[Any, Any], reference: ColumnSummary) -> int:
    if reference.min is None or reference.max is None:
        return int(values.size)  # the reference had no values, so no range to be inside
    return int(np.count_nonzero((values < reference.min) | (values > reference.max)))


def _result(
    reference: DatasetSummary,
    rows: int,
    tallies: dict[str, _Tally],
    absent: set[str],
    violations: list[str],
) -> QualityResult:
    missing_rate: dict[str, float] = {}
    change: dict[str, float] = {}
    out_of_range: dict[str, float] = {}
    unseen: dict[str, float] = {}
    for name, summary in reference.columns.items():
        tally = tallies.get(name)
        if name in absent:
            rate = 1.0  # the whole column is gone
        elif tally is None:
            continue  # present but of a kind that cannot be read as the reference's
        else:
            rate = _share(tally.missing, tally.missing + tally.present)
        missing_rate[name] = rate
        change[name] = rate - _share(summary.missing, summary.missing + summary.count)
        if tally is None:
            continue
        if summary.kind == NUMERIC:
            out_of_range[name] = _share(tally.flagged, tally.present)
        elif not _truncated(summary):
            unseen[name] = _share(tally.flagged, tally.present)
    return QualityResult(rows, missing_rate, change, out_of_range, unseen, violations)


def _truncated(summary: ColumnSummary) -> bool:
    return OTHER in (summary.categories or {}) or not summary.n_unique_exact


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
