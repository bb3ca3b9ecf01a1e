"""The tables a model accepts, as pandas, and the names signatures give their dtypes.

:func:`to_pandas` reads pandas, numpy, polars, pyarrow and plain Python tables;
:func:`is_tensor` says when a numpy array is a tensor rather than a table. polars and pyarrow
are imported only when such an object is passed: they are optional for users.

:func:`column_dtype` and :func:`array_dtype` give the normalised dtype names of
:mod:`modelkeep.registry.signature` (its docstring lists them).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError

__all__ = [
    "DATETIME_DTYPE",
    "NUMBER_DTYPES",
    "array_dtype",
    "column_dtype",
    "is_known_dtype",
    "is_tensor",
    "masked_dtype_name",
    "to_pandas",
]

INT_DTYPES = tuple(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
NUMBER_DTYPES = frozenset({"bool", *INT_DTYPES, "float16", "float32", "float64"})
DATETIME_DTYPE = re.compile(r"datetime64\[(s|ms|us|ns)(?:, ([^\]]+))?\]")
"""Matches a datetime dtype name; group 1 is the unit, group 2 the time zone or None."""
_OBJECT_ELEMENTS = {
    "string": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
}


def is_known_dtype(name: str) -> bool:
    """Whether ``name`` is one of the normalised dtype names."""
    return (
        name in NUMBER_DTYPES
        or name in ("string", "category", "object")
        or DATETIME_DTYPE.fullmatch(name) is not None
    )


def column_dtype(series: pd.Series[Any]) -> str:
    """The normalised dtype name of a column (object columns by the type of their elements)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[{dtype.unit}, {dtype.tz}]"
    np_dtype = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "numpy_dtype", None)
    if not isinstance(np_dtype, np.dtype) or np_dtype.kind == "O":
        elements = pd.api.types.infer_dtype(series, skipna=True)
        return _OBJECT_ELEMENTS.get(elements, "object")
    return array_dtype(np_dtype)


def array_dtype(dtype: np.dtype[Any]) -> str:
    """The normalised dtype name of a numpy dtype."""
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iuf" and dtype.name in NUMBER_DTYPES:
        return dtype.name
    if dtype.kind == "M":
        name = f"datetime64[{np.datetime_data(dtype)[0]}]"
        return name if DATETIME_DTYPE.fullmatch(name) else "object"
    return "object"


def is_tensor(data: Any) -> bool:
    """True for a numeric or boolean numpy array that is not structured (at least 1-D)."""
    return (
        isinstance(data, np.ndarray)
        and data.dtype.names is None
        and data.dtype.kind in "biuf"
        and data.ndim >= 1
    )


def masked_dtype_name(dtype: str) -> str:
    """The pandas masked dtype that holds ``dtype`` values and nulls: int8 -> Int8..."""
    return "boolean" if dtype == "bool" else dtype.replace("uint", "UInt").replace("int", "Int")


def to_pandas(data: Any) -> pd.DataFrame:
    """Turn tabular data into a pandas DataFrame whose column names are strings.

    Accepts a pandas DataFrame or Series (an unnamed one becomes column ``"0"``), a numpy
    1-D or 2-D array (columns ``"0"``, ``"1"``...) or structured array (its field names), a
    polars DataFrame, a pyarrow Table or RecordBatch (int and bool columns with nulls become
    ``Int64``/``boolean``, not float), a list of dicts or a dict of lists. A DataFrame whose
    column names are already strings is returned as is.

    Raises:
        InvalidInputError: (``field="input"``) for anything else.

    >>> to_pandas([{"a": 1, "b": "x"}]).dtypes.astype(str).tolist()
    ['int64', 'str']
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame("0" if data.name is None else data.name)
    elif isinstance(data, np.ndarray) and (data.ndim in (1, 2) or data.dtype.names):
        frame = pd.DataFrame(data)
    elif isinstance(data, list | dict):
        try:
            frame = pd.DataFrame(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read the input as a table: {exc}", field="input"
            ) from None
    elif type(data).__module__.split(".")[0] in ("polars", "pyarrow"):
        frame = _arrow_to_pandas(data)
    else:
        kind = f"{type(data).__module__}.{type(data).__qualname__}"
        shape = f" of shape {data.shape}" if isinstance(data, np.ndarray) else ""
        raise InvalidInputError(
            f"cannot read a {kind}{shape} as a table; pass a pandas, polars or pyarrow table,"
            " a 2-D numpy array, a list of dicts or a dict of lists",
            field="input",
        )
    if all(isinstance(name, str) for name in frame.columns):
        return frame
    return frame.set_axis([str(name) for name in frame.columns], axis=1)


def _arrow_to_pandas(data: Any) -> pd.DataFrame:
    import pyarrow as pa

    if type(data).__name__ == "LazyFrame":
        raise InvalidInputError("call .collect() on the polars LazyFrame first", field="input")
    if hasattr(data, "to_arrow") and not isinstance(data, pa.Table | pa.RecordBatch):
        data = data.to_arrow()  # polars DataFrame (a polars Series gives an Array)
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        raise InvalidInputError(
            f"cannot read a {type(data).__name__} as a table; pass a DataFrame or Table",
            field="input",
        )
    frame: pd.DataFrame = data.to_pandas()
    masked: dict[Any, Any] = {pa.bool_(): pd.BooleanDtype()}
    for name in INT_DTYPES:
        masked[getattr(pa, name)()] = pd.api.types.pandas_dtype(masked_dtype_name(name))
    for index in range(data.num_columns):
        column = data.column(index)
        # The default conversion turns an int column with nulls into float, which loses
        # large values and the column's type.
        if column.null_count and column.type in masked:
            frame.isetitem(index, column.to_pandas(types_mapper=masked.get))
    return frame
