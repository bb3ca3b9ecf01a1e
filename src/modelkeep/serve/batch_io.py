"""Reading and writing for batch scoring: input files in chunks, output files atomically.

:func:`read_chunks` streams a CSV file (pandas' chunked reader) or a Parquet file (pyarrow's
batch reader, with streamed page reads) as :class:`Chunk` objects, so at most one chunk of the
input is in memory. :class:`AtomicOutput` appends Arrow tables to a hidden temporary file in
the output's folder (Parquet row groups or CSV) and renames it into place only when every
chunk is written; on an error it removes the file, so no partial output is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    from modelkeep.registry.signature import ModelSignature

__all__ = [
    "INPUT_SUFFIXES",
    "OUTPUT_SUFFIXES",
    "AtomicOutput",
    "Chunk",
    "first_line",
    "has_suffix",
    "read_chunks",
]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_COMPRESSION: dict[str, Literal["gzip", "bz2", "xz", "zstd"]] = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zst": "zstd",
}
INPUT_SUFFIXES = (".csv", *(f".csv{c}" for c in CSV_COMPRESSION), *PARQUET_SUFFIXES)
OUTPUT_SUFFIXES = (".csv", *PARQUET_SUFFIXES)
# Parquet pages are streamed through a buffer this size per column (and not pre-buffered):
# pyarrow's default reads a whole row group at once, and pandas and pyarrow write up to a
# million rows into one, which would defeat chunking (measured: 1M x 30 float columns,
# 335 MB of Arrow memory by default, about 100 MB streamed, flat as the row group grows).
_PARQUET_READ_BUFFER = 1 << 18


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive rows of the input, as read.

    Attributes:
        start: the 0-based number of the chunk's first row in the input.
        rows: how many rows it holds.
        features: the input columns (the id column removed), for the model.
        ids: the id column's values, when an id column was named.
        total: rows in the whole input: exact (Parquet metadata) or estimated from the bytes
            read so far (CSV); for the progress bar.
    """

    start: int
    rows: int
    features: pd.DataFrame
    ids: pa.Array | None
    total: int | None

    def where(self, source: Path) -> str:
        """Where the chunk is, for messages: ``data.csv rows 100000-199999``."""
        return f"{source.name} rows {self.start}-{self.start + self.rows - 1}"


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the file name ends in one of ``suffixes`` (any case)."""
    return path.name.lower().endswith(suffixes)


def read_chunks(
    source: Path, chunk_size: int, id_column: str | None, signature: ModelSignature | None
) -> Generator[Chunk]:
    """The chunks of ``source`` (``chunk_size`` rows each, the last one shorter).

    Args:
        source: a CSV (maybe compressed) or Parquet file; the caller checked its suffix.
        chunk_size: rows per chunk.
        id_column: a column to split off into :attr:`Chunk.ids`.
        signature: the model's signature: its text columns are read from CSV as text.

    Raises:
        InvalidInputError: the file cannot be read (``field="input"``, the row the reading
            stopped at named) or lacks ``id_column`` (``field="id_column"``).
    """
    if has_suffix(source, PARQUET_SUFFIXES):
        return _parquet_chunks(source, chunk_size, id_column)
    return _csv_chunks(source, chunk_size, id_column, signature)


def _parquet_chunks(source: Path, chunk_size: int, id_column: str | None) -> Generator[Chunk]:
    try:
        file = pq.ParquetFile(source, pre_buffer=False, buffer_size=_PARQUET_READ_BUFFER)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(source, None, exc) from None
    with file:
        total = file.metadata.num_rows
        _check_id_column(id_column, file.schema_arrow.names, source)
        batches = file.iter_batches(batch_size=chunk_size)
        start = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(source, start, exc) from None
            ids = None if id_column is None else batch.column(id_column)
            features = batch if id_column is None else batch.drop_columns([id_column])
            yield Chunk(start, batch.num_rows, features.to_pandas(), ids, total)
            start += batch.num_rows


def _csv_chunks(
    source: Path, chunk_size: int, id_column: str | None, signature: ModelSignature | None
) -> Generator[Chunk]:
    size = source.stat().st_size
    compression = CSV_COMPRESSION.get(source.suffix.lower())
    read_errors = (ValueError, pd.errors.ParserError, UnicodeDecodeError, ImportError, OSError)
    with source.open("rb") as handle:
        try:
            reader = pd.read_csv(
                handle,
                chunksize=chunk_size,
                dtype=_csv_dtypes(signature, id_column),
                compression=compression,
            )
        except read_errors as exc:  # EmptyDataError (no header at all) is a ValueError
            raise _unreadable(source, None, exc) from None
        with reader:
            start = 0
            while True:
                try:
                    frame = next(reader)
                except StopIteration:
                    return
                except read_errors as exc:
                    raise _unreadable(source, start, exc) from None
                if start == 0:
                    _check_id_column(id_column, [str(c) for c in frame.columns], source)
                if frame.empty:
                    continue
                chunk = _csv_chunk(frame, start, id_column, _estimate(start, frame, handle, size))
                yield chunk
                start += chunk.rows


def _csv_chunk(frame: pd.DataFrame, start: int, id_column: str | None, total: int) -> Chunk:
    if id_column is None:
        return Chunk(start, len(frame), frame, None, total)
    ids = pa.Array.from_pandas(frame[id_column])
    return Chunk(start, len(frame), frame.drop(columns=id_column), ids, total)


def _csv_dtypes(signature: ModelSignature | None, id_column: str | None) -> dict[str, str]:
    """Read the signature's text columns, and the id column, as text: inference would turn
    ``"007"`` into 7, a chunk where a text column is empty into floats, and ids that look
    numeric in one chunk but not the next into a type clash. A CSV id is copied through
    exactly as the file spells it."""
    dtypes = {} if id_column is None else {id_column: "str"}
    if signature is None or signature.input_kind != "dataframe":
        return dtypes
    text = {c.name: "str" for c in signature.inputs if c.dtype in ("string", "category")}
    return {**text, **dtypes}


def _estimate(start: int, frame: pd.DataFrame, handle: Any, size: int) -> int:
    """Rows in the whole file, extrapolated from the bytes the reader has consumed so far."""
    done = start + len(frame)
    position = handle.tell()
    return max(done, round(done * size / position)) if position > 0 else done


def _check_id_column(id_column: str | None, names: list[str], source: Path) -> None:
    if id_column is not None and id_column not in names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise InvalidInputError(
            f"{source.name} has no column {id_column!r} (it has: {shown})", field="id_column"
        )


def _unreadable(source: Path, start: int | None, exc: BaseException) -> InvalidInputError:
    where = "" if start is None else f" after row {start}"
    return InvalidInputError(f"cannot read {source.name}{where}: {first_line(exc)}", field="input")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AtomicOutput:
    """Writes tables to a hidden temporary file beside ``path`` (CSV when ``path`` ends in
    ``.csv``, else Parquet); renames it onto ``path`` only when the ``with`` block ends without
    an error, and removes it otherwise."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        self._csv = not has_suffix(path, PARQUET_SUFFIXES)
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> AtomicOutput:
        return self

    def write(self, table: pa.Table, where: str) -> None:
        """Append ``table``; later chunks are cast to the first chunk's column types."""
        if self._writer is None or self._schema is None:
            self._schema = table.schema
            if self._csv:
                self._writer = pa_csv.CSVWriter(str(self.temp), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.temp), table.schema)
        elif not table.schema.equals(self._schema):
            table = _conform_types(table, self._schema, where)
        self._writer.write_table(table)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._writer is not None:
                # After an error, a second one while closing must not hide the first.
                with contextlib.suppress(Exception) if exc_type else contextlib.nullcontext():
                    self._writer.close()
            if exc_type is None:
                _fsync(self.temp)
                os.replace(self.temp, self.path)
        finally:
            self.temp.unlink(missing_ok=True)


def _conform_types(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """``table`` cast to the types of the first chunk (CSV type inference is per chunk: ids
    read as integers may come as floats in a chunk with a missing one)."""
    if table.schema.names != schema.names:
        raise InvalidInputError(
            f"{where}: the model returned columns {table.schema.names}, earlier chunks "
            f"{schema.names}",
            field="model",
        )
    for index, field in enumerate(schema):
        column = table.column(index)
        if column.type == field.type:
            continue
        try:
            table = table.set_column(index, field, column.cast(field.type))
        except (pa.ArrowException, ValueError) as exc:
            raise InvalidInputError(
                f"{where}: column {field.name!r} holds {column.type} values where earlier rows "
                f"had {field.type} ({first_line(exc)})",
                field=field.name,
            ) from None
    return table


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
