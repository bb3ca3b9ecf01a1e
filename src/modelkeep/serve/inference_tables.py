"""Inference records and feedback as Arrow tables, built column by column on the writer thread.

Each column is gathered in one pass (a list comprehension, or a C-level transpose for the
inputs) and converted by one ``pyarrow.array`` call, which infers its type in C++.

Types stay stable from file to file, so that readers which take the schema of one file
(``pandas.read_parquet(dir)``, polars) can read them all: a column is cast to the type the
model's earlier files used when that only widens it (an all-null batch, ints in a float
column, anything in a text column). Values no single Arrow type can hold (``1`` and ``"a"``
in one batch) are stored as text: strings as they are, other values as JSON.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import pyarrow as pa

from modelkeep.exceptions import InvalidInputError
from modelkeep.serve.inference_files import HOUR_MS, TIMESTAMP

if TYPE_CHECKING:
    from modelkeep.serve.inference_log import Feedback, InferenceRecord

__all__ = [
    "INPUT_PREFIX",
    "PROBA_TYPE",
    "check_feedback",
    "feedback_key",
    "feedback_table",
    "partitions",
    "record_key",
    "records_table",
    "widened",
]

INPUT_PREFIX = "input."
PROBA_TYPE = pa.list_(pa.float64())

_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)
_T = TypeVar("_T")
_widenings: dict[tuple[pa.DataType, pa.DataType], bool] = {}


def check_feedback(model: str, items: Sequence[Feedback]) -> None:
    """Refuse feedback that cannot be logged (InvalidInputError naming the item's field)."""
    if not isinstance(model, str) or not model:
        raise InvalidInputError("model must be a non-empty string", field="model")
    for index, item in enumerate(items):
        if not isinstance(item.request_id, str) or not item.request_id:
            raise InvalidInputError(
                "request_id must be a non-empty string", field=f"feedback[{index}].request_id"
            )
        if item.label is not None and not isinstance(item.label, str | bool | numbers.Real):
            raise InvalidInputError(
                "label must be a string, number, boolean or null",
                field=f"feedback[{index}].label",
            )
        if not isinstance(item.timestamp_ms, numbers.Integral) or isinstance(
            item.timestamp_ms, bool
        ):
            raise InvalidInputError(
                "timestamp_ms must be an integer", field=f"feedback[{index}].timestamp_ms"
            )


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return str(value)


def widened(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether values of ``source`` fit ``target`` without loss of meaning (null into any
    type, int into float, float32 into float64, any scalar into text)."""
    key = (source, target)
    if key not in _widenings:
        if pa.types.is_string(target):
            ok = not pa.types.is_nested(source)
        else:
            try:
                merged = pa.unify_schemas(
                    [pa.schema([("x", source)]), pa.schema([("x", target)])],
                    promote_options="permissive",
                )
                ok = merged.field("x").type == target
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                ok = False
        _widenings[key] = ok
    return _widenings[key]


def _column(values: Sequence[Any], known: pa.DataType | None) -> pa.Array:
    """Values of any JSON type as one Arrow array (see the module docstring)."""
    try:
        array = pa.array(values)
    except _CONVERSION_ERRORS:
        array = pa.array([_as_text(value) for value in values], pa.string())
    if known is not None and array.type != known and widened(array.type, known):
        try:
            array = array.cast(known)
        except _CONVERSION_ERRORS + (pa.ArrowNotImplementedError,):
            pass  # the inferred type is still right; readers unify the two
    return array


def _typed(values: list[Any], kind: pa.DataType, coerce: Callable[[Any], Any]) -> pa.Array:
    """A column of a fixed type; values of another type go through ``coerce`` (or None)."""
    try:
        return pa.array(values, kind)
    except _CONVERSION_ERRORS:
        return pa.array([_coerced(value, coerce) for value in values], kind)


def _coerced(value: Any, coerce: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    try:
        return coerce(value)
    except _CONVERSION_ERRORS:
        return None


def _floats(value: Any) -> list[float]:
    return [float(item) for item in value]


def _known_type(known: pa.Schema | None, name: str) -> pa.DataType | None:
    if known is None:
        return None
    index = known.get_field_index(name)
    return None if index < 0 else known.field(index).type


def _gathered(rows: list[Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    """Input values by column. When every row has the same keys (the usual case: rows of one
    signature) the transpose runs in C (itemgetter, zip): a quarter faster than ``.get``."""
    keys = list(rows[0])
    if len(keys) > 1 and set(map(len, rows)) == {len(keys)}:
        try:
            return dict(zip(keys, zip(*map(itemgetter(*keys), rows), strict=True), strict=True))
        except KeyError:
            pass  # same sizes, other keys: gather by name below
    names = dict.fromkeys(itertools.chain.from_iterable(rows))
    return {key: [row.get(key) for row in rows] for key in names}


_DECLARED: dict[str, tuple[pa.DataType, Callable[[Any], Any]]] = {
    **{f"float{bits}": (pa.float64(), float) for bits in (16, 32, 64)},
    **{f"int{bits}": (pa.int64(), int) for bits in (8, 16, 32, 64)},
    **{f"uint{bits}": (pa.int64(), int) for bits in (8, 16, 32)},
    "uint64": (pa.uint64(), int),
    "bool": (pa.bool_(), bool),
    "string": (pa.string(), str),
    "category": (pa.string(), str),
}


def _declared_type(dtype: str | None) -> tuple[pa.DataType, Callable[[Any], Any]] | None:
    """The Arrow type a signature dtype is logged as (None: inferred from the values)."""
    return None if dtype is None else _DECLARED.get(dtype)


def _input_columns(
    rows: list[Mapping[str, Any]],
    known: pa.Schema | None,
    declared: Mapping[str, str] | None = None,
) -> dict[str, pa.Array]:
    values = _gathered(rows)
    names = [f"{INPUT_PREFIX}{key}" for key in values]
    if known is not None:
        # Columns of earlier files come first and stay (as nulls) when a batch lacks them.
        earlier = [name for name in known.names if name.startswith(INPUT_PREFIX)]
        names = list(dict.fromkeys(earlier + names))
    missing = [None] * len(rows)
    columns: dict[str, pa.Array] = {}
    for name in names:
        column = name[len(INPUT_PREFIX) :]
        typed = _declared_type((declared or {}).get(column))
        if typed is not None:
            columns[name] = _typed(list(values.get(column, missing)), *typed)
        else:
            columns[name] = _column(values.get(column, missing), _known_type(known, name))
    return columns


def records_table(
    records: Sequence[InferenceRecord],
    known: pa.Schema | None,
    declared: Mapping[str, str] | None = None,
) -> pa.Table:
    """The prediction rows of one model and hour, with the columns of the module docstring of
    :mod:`modelkeep.serve.inference_log` (``model`` lives in the folder name); input columns
    whose signature dtype is ``declared`` get that type whatever JSON sent."""
    columns: dict[str, pa.Array] = {
        "request_id": _typed([r.request_id for r in records], pa.string(), str),
        "timestamp": _typed([r.timestamp_ms for r in records], TIMESTAMP, int),
        "version": _typed([r.version for r in records], pa.string(), str),
        "variant": _typed([r.variant for r in records], pa.string(), str),
        "latency_ms": _typed([r.latency_ms for r in records], pa.float64(), float),
        "prediction": _column([r.prediction for r in records], _known_type(known, "prediction")),
        "proba": _typed([r.proba for r in records], PROBA_TYPE, _floats),
    }
    columns.update(_input_columns([r.inputs for r in records], known, declared))
    return pa.table(columns)


def feedback_table(items: Sequence[Feedback], known: pa.Schema | None) -> pa.Table:
    """The feedback rows of one model and hour: request_id, label, timestamp."""
    return pa.table(
        {
            "request_id": _typed([f.request_id for f in items], pa.string(), str),
            "label": _column([f.label for f in items], _known_type(known, "label")),
            "timestamp": _typed([f.timestamp_ms for f in items], TIMESTAMP, int),
        }
    )


def record_key(record: InferenceRecord) -> tuple[str, int]:
    """(model, hour bucket) of a prediction row."""
    return record.model, record.timestamp_ms // HOUR_MS


def feedback_key(pair: tuple[str, Feedback]) -> tuple[str, int]:
    """(model, hour bucket) of a (model, feedback) pair."""
    return pair[0], pair[1].timestamp_ms // HOUR_MS


def partitions(
    items: Sequence[_T], key: Callable[[_T], tuple[str, int]]
) -> tuple[dict[tuple[str, int], list[_T]], int]:
    """Items grouped by (model, hour bucket) in their order, and how many had no valid key
    (those are left out). One group is the common case and costs no Python loop."""
    try:
        keys: list[tuple[str, int] | None] = [key(item) for item in items]
    except Exception:  # a malformed record must not cost the others their write
        keys = [_safe_key(key, item) for item in items]
    if keys[0] is not None and keys.count(keys[0]) == len(keys):
        return {keys[0]: list(items)}, 0
    groups: dict[tuple[str, int], list[_T]] = {}
    for group_key, item in zip(keys, items, strict=True):
        if group_key is not None:
            groups.setdefault(group_key, []).append(item)
    return groups, keys.count(None)


def _safe_key(key: Callable[[_T], tuple[str, int]], item: _T) -> tuple[str, int] | None:
    try:
        model, bucket = key(item)
    except Exception:
        return None
    return (model, int(bucket)) if isinstance(model, str) else None
