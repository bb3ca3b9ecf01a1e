"""The bodies ``POST /invocations`` reads and the answer it writes (MLflow's scoring protocol).

A JSON body is an object with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs``, plus optional ``params``; other top-level keys are ignored, as
MLflow does. ``text/csv`` bodies have a header row; Parquet bodies are one file. Every answer
is ``{"predictions": [...]}``.

>>> parse_invocation(b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}', "application/json")
Invocation(table=Table(columns=('a',), rows=[[1]], frame=None), output='predict', params={})

JSON bodies become a :class:`Table` straight from the parsed lists (no DataFrame per request:
the server builds one per batch); CSV and Parquet go through pandas and keep their frame.
``NaN``/``Infinity`` literals, which Python's ``json.dumps`` writes and MLflow accepts, are
read by a slower fallback parser that only runs when orjson refuses a body.

Everything a client can get wrong raises :class:`~modelkeep.exceptions.InvalidInputError`
whose ``field`` names the place (``"dataframe_split.data[3]"``, ``"instances[0][2]"``,
``"inputs.age"``, ``"params.output"``), or UnsupportedMediaTypeError for the content type.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn

import numpy as np
import orjson
import pandas as pd

from modelkeep.exceptions import InvalidInputError, ModelkeepError, UnsupportedMediaTypeError
from modelkeep.serve.table import Table

__all__ = [
    "OUTPUT_KINDS",
    "PARQUET_MAX_CELLS",
    "PARQUET_MAX_DECODED_BYTES",
    "Invocation",
    "encode_predictions",
    "load_json_body",
    "parse_invocation",
]

OUTPUT_KINDS = ("predict", "proba")
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARQUET_TYPES = frozenset(
    {"application/vnd.apache.parquet", "application/x-parquet", "application/parquet"}
)
# A Parquet body is compressed and run-length encoded, so a small one can decode to gigabytes:
# both bounds are checked on the file's metadata before any column is read.
PARQUET_MAX_CELLS = 5_000_000
PARQUET_MAX_DECODED_BYTES = 256 * 1024 * 1024

_SCALARS = frozenset({str, int, float, bool, type(None)})
_SPLIT_KEYS = frozenset({"columns", "data", "index"})
_NAME_TYPES, _STR = frozenset({str, int}), frozenset({str})
_KEYS_TEXT = ", ".join(INPUT_KEYS)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One parsed scoring request.

    Attributes:
        table: the input rows.
        output: ``"predict"`` (labels or values) or ``"proba"`` (class probabilities).
        params: the body's ``params`` without ``output`` (empty for CSV and Parquet).
    """

    table: Table
    output: str
    params: dict[str, Any]


def parse_invocation(
    body: bytes,
    content_type: str | None,
    *,
    output: str | None = None,
    text_columns: frozenset[str] = frozenset(),
) -> Invocation:
    """Parse a ``POST /invocations`` body.

    Args:
        body: the raw request body.
        content_type: the ``Content-Type`` header (``charset`` may only be utf-8).
        output: the ``?output=`` query value, if any; ``params.output`` in a JSON body also
            selects the output, and the two must agree.
        text_columns: columns a CSV body's values are kept as text in (the signature's string
            and category columns: type inference would turn ``"007"`` into 7).

    Raises:
        InvalidInputError: an empty, malformed or wrongly shaped body; ``field`` names it.
        UnsupportedMediaTypeError: a content type other than JSON, CSV or Parquet.
    """
    kind = _body_kind(content_type)
    if not body:
        raise InvalidInputError("the request body is empty", field="body")
    params: dict[str, Any] = {}
    if kind == "json":
        table, params = _parse_json(body)
    elif kind == "csv":
        table = _parse_csv(body, text_columns)
    else:
        table = _parse_parquet(body)
    return Invocation(table, _choose_output(output, params.pop("output", None)), params)


def encode_predictions(values: Any) -> bytes:
    """``{"predictions": values}`` as JSON bytes.

    numpy arrays (1-D labels or values, 2-D probabilities), numpy scalars, pandas Series and
    DataFrames (as records, like MLflow) are written natively; NaN and infinities become null.

    Raises:
        ModelkeepError: the model returned something JSON cannot hold (a server-side fault).

    >>> encode_predictions(np.array([0.5, np.nan]))
    b'{"predictions":[0.5,null]}'
    """
    if isinstance(values, np.ndarray) and not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))  # orjson reads native only
    try:
        return orjson.dumps(
            {"predictions": values}, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY
        )
    except TypeError as exc:
        raise ModelkeepError(
            f"the model's output cannot be written as JSON: {exc}", field="predictions"
        ) from exc


def load_json_body(body: bytes, field: str = "body") -> Any:
    """Parse JSON ``body`` with orjson, falling back to the standard library for the
    ``NaN``/``Infinity`` literals orjson refuses.

    Raises:
        InvalidInputError: the body is not JSON (or nests too deeply).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise InvalidInputError(
            f"the body is not valid JSON: {first_error}", field=field
        ) from None
    try:  # the standard parser lets "\ud800" (a lone surrogate) through: not text at all
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as exc:
        if "surrogate" in str(exc) or "str is not valid UTF-8" in str(exc):
            raise InvalidInputError(
                "the body holds a string that is not valid Unicode (a lone surrogate)",
                field=field,
            ) from None
    return data


@lru_cache(maxsize=64)
def _body_kind(content_type: str | None) -> str:
    """``"json"``, ``"csv"`` or ``"parquet"`` for a Content-Type header (cached: clients send
    the same few strings over and over)."""
    if not content_type:
        _unsupported("the request has no Content-Type")
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    mime = mime.lower()
    kind = {"application/json": "json", "text/csv": "csv"}.get(mime)
    if kind is None and mime in PARQUET_TYPES:
        kind = "parquet"
    if kind is None:
        _unsupported(f"Content-Type {mime!r} is not supported")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name != "charset":
            _unsupported(f"unrecognized Content-Type parameter {name!r}")
        if value not in ("utf-8", "utf8"):
            _unsupported(f"charset {value!r} is not supported; send utf-8")
    return kind


def _unsupported(reason: str) -> NoReturn:
    raise UnsupportedMediaTypeError(
        f"{reason}; send application/json, text/csv or Parquet "
        f"({', '.join(sorted(PARQUET_TYPES))})",
        field="content-type",
    )


def _choose_output(query: str | None, param: Any) -> str:
    for value, field in ((query, "output"), (param, "params.output")):
        if value is not None and value not in OUTPUT_KINDS:
            raise InvalidInputError(
                f"output {value!r} is not one of {', '.join(OUTPUT_KINDS)}", field=field
            )
    if query is not None and param is not None and query != param:
        raise InvalidInputError(
            f"?output={query} and params.output={param!r} disagree; give one", field="output"
        )
    chosen: str = query or param or "predict"
    return chosen


def _parse_json(body: bytes) -> tuple[Table, dict[str, Any]]:
    document = load_json_body(body)
    if type(document) is not dict:
        kind = "a list" if isinstance(document, list) else f"a JSON {type(document).__name__}"
        _bad(f"the body must be a JSON object with one of {_KEYS_TEXT}; got {kind}", "body")
    present = [key for key in INPUT_KEYS if key in document]
    if len(present) != 1:
        got = ", ".join(present) if present else f"keys {sorted(document)}"
        _bad(f"the body must hold exactly one of {_KEYS_TEXT}; got {got}", "body")
    key = present[0]
    params = document.get("params")
    if params is None:
        params = {}
    elif type(params) is not dict:
        _bad(f"params must be an object, not {_json_type(params)}", "params")
    value = document[key]
    if key == "dataframe_split":
        return _split_table(value), params
    if key == "dataframe_records":
        if type(value) is not list:
            _bad(f"must be a list of records, not {_json_type(value)}", key)
        return _records_table(value, key), params
    return _tf_serving_table(value, key), params


def _split_table(value: Any) -> Table:
    field = "dataframe_split"
    if type(value) is not dict:
        _bad(f"must be an object with 'columns' and 'data', not {_json_type(value)}", field)
    if not value.keys() <= _SPLIT_KEYS:
        extra = sorted(value.keys() - _SPLIT_KEYS)
        _bad(f"unexpected keys {extra}; only 'columns', 'data' and 'index' are read", field)
    if "data" not in value:
        _bad("'data' is missing", f"{field}.data")
    columns = value.get("columns")
    names = None if columns is None else _column_names(columns, f"{field}.columns")
    rows = _row_lists(value["data"], None if names is None else len(names), f"{field}.data")
    return Table(names, rows)


def _column_names(columns: Any, field: str) -> tuple[str, ...]:
    if type(columns) is not list or not columns:
        _bad("must be a non-empty list of column names", field)
    kinds = set(map(type, columns))
    if not kinds <= _NAME_TYPES:
        _bad("column names must be strings", field)
    names = tuple(columns) if kinds == _STR else tuple(map(str, columns))
    _check_unique(names, field)
    return names


def _row_lists(data: Any, width: int | None, field: str) -> list[list[Any]]:
    """Rows given as lists (a lone scalar is a row of one value when there is one column)."""
    if type(data) is not list:
        _bad(f"must be a list of rows, not {_json_type(data)}", field)
    _require_rows(data, field)
    if width is None:
        first = data[0]
        width = len(first) if type(first) is list else 1
    if width == 1 and type(data[0]) is not list:
        if not set(map(type, data)) <= _SCALARS:
            index = next(i for i, cell in enumerate(data) if type(cell) not in _SCALARS)
            _not_scalar(data[index], f"{field}[{index}]")
        return [[cell] for cell in data]
    for index, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if type(row) is list else _json_type(row)
            _bad(f"row {index} has {got}; expected {width}", f"{field}[{index}]")
        if not set(map(type, row)) <= _SCALARS:
            position = next(i for i, cell in enumerate(row) if type(cell) not in _SCALARS)
            _not_scalar(row[position], f"{field}[{index}][{position}]")
    return data


def _records_table(records: list[Any], field: str) -> Table:
    _require_rows(records, field)
    for index, record in enumerate(records):
        if type(record) is not dict:
            _bad(f"a record must be an object, not {_json_type(record)}", f"{field}[{index}]")
    keys = records[0].keys()
    if all(record.keys() == keys for record in records):
        columns = tuple(keys)
        rows = [[record[name] for name in columns] for record in records]
    else:  # as pandas does: the union of the keys, null where a record lacks one
        columns = tuple({name: None for record in records for name in record})
        rows = [[record.get(name) for name in columns] for record in records]
    _check_cells(rows, columns, field)
    return Table(columns, rows)


def _check_cells(rows: list[list[Any]], columns: tuple[str, ...], field: str) -> None:
    for index, row in enumerate(rows):
        if not set(map(type, row)) <= _SCALARS:
            position = next(i for i, cell in enumerate(row) if type(cell) not in _SCALARS)
            _not_scalar(row[position], f"{field}[{index}].{columns[position]}")


def _tf_serving_table(value: Any, field: str) -> Table:
    """``instances``/``inputs``: records, rows of values, one column of scalars, or an
    object of columns (``{"age": [31, 45]}``, or scalars for a single row)."""
    if type(value) is dict:
        return _columns_table(value, field)
    if type(value) is not list:
        _bad(f"must be a list or an object of columns, not {_json_type(value)}", field)
    _require_rows(value, field)
    if type(value[0]) is dict:
        return _records_table(value, field)
    return Table(None, _row_lists(value, None, field))


def _columns_table(columns: dict[str, Any], field: str) -> Table:
    if not columns:
        _bad("holds no columns", field)
    names = tuple(columns)
    values = list(columns.values())
    if all(type(column) is not list for column in values):
        rows = [values]  # one row given as name -> value
    else:
        length = None
        for name, column in zip(names, values, strict=True):
            if type(column) is not list:
                _bad(
                    f"must be a list like the other columns, not {_json_type(column)}",
                    f"{field}.{name}",
                )
            if length is None:
                length = len(column)
            elif len(column) != length:
                _bad(f"has {len(column)} values; {names[0]} has {length}", f"{field}.{name}")
        rows = [list(row) for row in zip(*values, strict=True)]
        _require_rows(rows, field)
    _check_cells(rows, names, field)
    return Table(names, rows)


def _parse_csv(body: bytes, text_columns: frozenset[str] = frozenset()) -> Table:
    dtypes = dict.fromkeys(text_columns, "str")
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding="utf-8", low_memory=False, dtype=dtypes)
        return _frame_table(frame)
    except InvalidInputError:
        raise
    except Exception as exc:  # pandas raises many types for malformed text; all are 400s
        raise InvalidInputError(
            f"the body is not valid CSV with a header row: {type(exc).__name__}: {exc}",
            field="body",
        ) from exc


def _parse_parquet(body: bytes) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(body))
        _check_parquet_metadata(parquet)
        table = parquet.read(use_threads=False)
        table.validate(full=True)  # corrupt pages can decode to invalid UTF-8 and the like
        return _frame_table(table.to_pandas())
    except InvalidInputError:
        raise
    except Exception as exc:  # corrupt files raise ArrowInvalid, OSError, ValueError...
        raise InvalidInputError(
            f"the body is not a readable Parquet file: {type(exc).__name__}: {exc}",
            field="body",
        ) from exc


def _check_parquet_metadata(parquet: Any) -> None:
    import pyarrow as pa

    for field in parquet.schema_arrow:
        if pa.types.is_nested(field.type):
            _bad(
                f"column {field.name!r} has nested type {field.type}; columns must hold scalars",
                field.name,
            )
    meta = parquet.metadata
    cells = meta.num_rows * max(meta.num_columns, 1)
    decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if cells > PARQUET_MAX_CELLS or decoded > PARQUET_MAX_DECODED_BYTES:
        _bad(
            f"the Parquet file decodes to {meta.num_rows} rows x {meta.num_columns} columns "
            f"({decoded} bytes); a request may hold at most {PARQUET_MAX_CELLS} values and "
            f"{PARQUET_MAX_DECODED_BYTES} bytes. Score large files with `modelkeep predict`",
            "body",
        )


def _frame_table(frame: pd.DataFrame) -> Table:
    _check_unique(tuple(str(name) for name in frame.columns), "columns")
    if len(frame) == 0:
        _bad("the request holds no rows", "body")
    return Table.from_frame(frame)


def _check_unique(names: tuple[str, ...], field: str) -> None:
    if len(set(names)) != len(names):
        _bad(f"duplicate column names {sorted({n for n in names if names.count(n) > 1})}", field)


def _require_rows(rows: list[Any], field: str) -> None:
    if not rows:
        _bad("the request holds no rows", field)


def _not_scalar(cell: Any, field: str) -> NoReturn:
    _bad(f"values must be strings, numbers, booleans or null, not {_json_type(cell)}", field)


def _bad(message: str, field: str) -> NoReturn:
    raise InvalidInputError(message if field == "body" else f"{field}: {message}", field=field)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if type(value) in (int, float) else "a value")


def _json_default(value: Any) -> Any:
    """What orjson calls for a type it does not write itself."""
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
