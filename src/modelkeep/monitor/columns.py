"""Columns out of pandas and polars DataFrames, Arrow tables and Parquet files, batch by batch.

Drift only needs two things of a column: its numbers (numeric columns, as float64 with every
missing value as NaN) or its category counts (categorical columns, keyed by text). This module
turns each input into those; a Parquet file is read one column of a few row groups at a time,
so memory stays bounded by the size of a row group's column, not of the file.

Column kinds follow Evidently's inference, so results are comparable: float and integer
columns are numeric, bool, string, object and pandas ``category`` columns categorical; dates
and nested values are not compared. (Evidently's rule that an integer column with at most ten
distinct values is categorical needs the whole column; :mod:`modelkeep.monitor.drift` applies
it from the summaries.)
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "ColumnChunk",
    "ColumnKind",
    "Table",
    "category_key",
    "column_chunk",
    "iter_chunks",
    "open_table",
    "select_kinds",
]

NUMERIC = "numeric"
CATEGORICAL = "categorical"

Table: TypeAlias = pd.DataFrame | pa.Table | pq.ParquetFile


@dataclass(frozen=True)
class ColumnKind:
    """How a column is compared: ``numeric`` or ``categorical``, and whether it holds integers."""

    kind: str
    integer: bool = False


@dataclass(frozen=True, eq=False)
class ColumnChunk:
    """One batch of one column: float64 ``values`` (numeric; NaN and +-inf are missing) or
    category ``counts`` with the number of ``missing`` values (categorical)."""

    kind: str
    values: NDArray[np.float64] | None = None
    counts: dict[str, int] | None = None
    missing: int = 0


def category_key(value: Any) -> str:
    """The text a category is counted under: integral numbers without ``.0``, so the integer
    column ``[1, 2]`` and the float column ``[1.0, 2.0]`` have the same categories."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _string_labels(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    """``frame`` with its column labels as text (``0`` becomes ``"0"``), refusing labels
    that collide once written as text."""
    if all(isinstance(name, str) for name in frame.columns):
        return frame
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise InvalidInputError(
            f"{field}: column labels repeat once written as text: {names}", field=field
        )
    return frame.set_axis(names, axis=1)


def open_table(data: Any, field: str) -> Table:
    """``data`` as something columns can be read from: a pandas DataFrame, an Arrow table
    (polars frames convert to one without copying) or an open Parquet file.

    Raises:
        NotFoundError: ``data`` is a path and nothing is there.
        InvalidInputError: ``data`` is neither a table nor a readable Parquet file.
    """
    if isinstance(data, pd.DataFrame):
        return _string_labels(data, field)
    if isinstance(data, pa.Table | pq.ParquetFile):
        return data
    if type(data).__module__.split(".")[0] == "polars":
        frame = data.collect() if hasattr(data, "collect") else data
        if hasattr(frame, "to_arrow"):
            table: pa.Table = frame.to_arrow()
            return table
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise NotFoundError(f"{field}: no Parquet file at {path}", field=field)
        try:
            return pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(
                f"{field}: {path} is not a Parquet file: {exc}", field=field
            ) from None
    raise InvalidInputError(
        f"{field}: expected a pandas or polars DataFrame, a pyarrow Table or a Parquet path, "
        f"not {type(data).__name__}",
        field=field,
    )


def _pandas_kind(dtype: Any) -> ColumnKind | None:
    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return ColumnKind(CATEGORICAL)
    if api.is_integer_dtype(dtype):
        return ColumnKind(NUMERIC, integer=True)
    if api.is_float_dtype(dtype):
        return ColumnKind(NUMERIC)
    if isinstance(dtype, pd.CategoricalDtype) or api.is_string_dtype(dtype):
        return ColumnKind(CATEGORICAL)
    if api.is_object_dtype(dtype):
        return ColumnKind(CATEGORICAL)
    return None


def _arrow_kind(kind: pa.DataType) -> ColumnKind | None:
    types = pa.types
    if types.is_boolean(kind) or types.is_dictionary(kind):
        return ColumnKind(CATEGORICAL)
    if types.is_string(kind) or types.is_large_string(kind) or types.is_string_view(kind):
        return ColumnKind(CATEGORICAL)
    if types.is_integer(kind):
        return ColumnKind(NUMERIC, integer=True)
    if types.is_floating(kind) or types.is_decimal(kind):
        return ColumnKind(NUMERIC)
    return None


def _all_kinds(table: Table) -> dict[str, ColumnKind | None]:
    if isinstance(table, pd.DataFrame):
        if not table.columns.is_unique:
            raise InvalidInputError("the table has repeated column names", field="columns")
        return {str(name): _pandas_kind(dtype) for name, dtype in table.dtypes.items()}
    schema = table.schema if isinstance(table, pa.Table) else table.schema_arrow
    return {field.name: _arrow_kind(field.type) for field in schema}


def select_kinds(
    table: Table, columns: Sequence[str] | None, categorical: Collection[str] = ()
) -> dict[str, ColumnKind]:
    """The kind of each column to compare: ``columns`` (all supported ones when ``None``),
    those in ``categorical`` forced categorical.

    Raises:
        InvalidInputError: a named column is absent or of a type that cannot be compared;
            ``field`` names it.
    """
    found = _all_kinds(table)
    names = list(found) if columns is None else list(columns)
    kinds: dict[str, ColumnKind] = {}
    for name in names:
        if name not in found:
            raise InvalidInputError(f"column {name!r} is not in the data", field=name)
        kind = found[name]
        if name in categorical:
            kinds[name] = ColumnKind(CATEGORICAL, integer=kind is not None and kind.integer)
        elif kind is not None:
            kinds[name] = kind
        elif columns is not None:
            raise InvalidInputError(
                f"column {name!r} is neither numeric nor categorical (dates and nested values "
                "are not compared)",
                field=name,
            )
    return kinds


def _coded_counts(codes: NDArray[Any], uniques: Sequence[Any]) -> ColumnChunk:
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=len(uniques))
    out: dict[str, int] = {}
    for value, n in zip(uniques, counts.tolist(), strict=True):
        if n:
            key = category_key(value)
            out[key] = out.get(key, 0) + n
    return ColumnChunk(CATEGORICAL, counts=out, missing=int(codes.size - np.count_nonzero(valid)))


def _factorized(values: Any, name: str) -> ColumnChunk:
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError as exc:  # unhashable cells, such as lists in an object column
        raise InvalidInputError(
            f"column {name!r} holds values that cannot be counted: {exc}", field=name
        ) from None
    return _coded_counts(np.asarray(codes), list(uniques))


def _pandas_chunk(series: pd.Series[Any], name: str, kind: ColumnKind) -> ColumnChunk:
    if kind.kind == NUMERIC:
        if series.dtype == np.float64:
            return ColumnChunk(NUMERIC, values=series.to_numpy())
        return ColumnChunk(NUMERIC, values=series.to_numpy(dtype=np.float64, na_value=np.nan))
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes.to_numpy())
        return _coded_counts(codes, list(series.cat.categories))
    return _factorized(series, name)


def _arrow_chunk(array: pa.Array | pa.ChunkedArray, name: str, kind: ColumnKind) -> ColumnChunk:
    if kind.kind == NUMERIC:
        if not pa.types.is_float64(array.type):
            array = pc.cast(array, pa.float64())
        values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
        return ColumnChunk(NUMERIC, values=values)
    if _arrow_kind(array.type) != ColumnKind(CATEGORICAL):
        # a numeric column forced categorical: NaN must count as missing, as in pandas
        return _factorized(np.asarray(array.to_numpy(zero_copy_only=False)), name)
    counted = pc.value_counts(array)
    out: dict[str, int] = {}
    for value, n in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    ):
        if value is not None:
            key = category_key(value)
            out[key] = out.get(key, 0) + n
    return ColumnChunk(CATEGORICAL, counts=out, missing=array.null_count)


def column_chunk(table: pd.DataFrame | pa.Table, name: str, kind: ColumnKind) -> ColumnChunk:
    """The whole column ``name`` of an in-memory table as one chunk."""
    if isinstance(table, pd.DataFrame):
        return _pandas_chunk(table[name], name, kind)
    return _arrow_chunk(table.column(name), name, kind)


def _row_group_spans(file: pq.ParquetFile, chunk_rows: int) -> Iterator[tuple[int, list[int]]]:
    """Consecutive row groups gathered until they hold ``chunk_rows`` rows (a larger row group
    stays alone: Parquet cannot read less than one)."""
    span: list[int] = []
    rows = 0
    for index in range(file.metadata.num_row_groups):
        span.append(index)
        rows += file.metadata.row_group(index).num_rows
        if rows >= chunk_rows:
            yield rows, span
            span, rows = [], 0
    if span:
        yield rows, span


def _parquet_columns(
    file: pq.ParquetFile, span: list[int], kinds: Mapping[str, ColumnKind]
) -> Iterator[tuple[str, ColumnChunk]]:
    # One column at a time: a batch of all columns would hold the whole row group, decoded
    # and compressed, which costs several times the memory.
    for name, kind in kinds.items():
        column = file.read_row_groups(span, columns=[name]).column(0)
        yield name, _arrow_chunk(column, name, kind)


def iter_chunks(
    table: Table, kinds: Mapping[str, ColumnKind], chunk_rows: int
) -> Iterator[tuple[int, Iterator[tuple[str, ColumnChunk]]]]:
    """``(rows, columns)`` for each batch of about ``chunk_rows`` rows, where ``columns``
    yields ``(name, chunk)`` lazily: consume it before asking for the next batch. A Parquet
    file is read one column of a few row groups at a time, so memory stays bounded whatever
    the file's size."""
    names = list(kinds)
    if isinstance(table, pd.DataFrame):
        for start in range(0, len(table), chunk_rows):
            part = table.iloc[start : start + chunk_rows]
            yield len(part), ((n, _pandas_chunk(part[n], n, kinds[n])) for n in names)
    elif isinstance(table, pa.Table):
        for batch in table.select(names).to_batches(chunk_rows):
            yield batch.num_rows, ((n, _arrow_chunk(batch.column(n), n, kinds[n])) for n in names)
    else:
        for rows, span in _row_group_spans(table, chunk_rows):
            yield rows, _parquet_columns(table, span, kinds)
