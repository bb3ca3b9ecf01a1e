"""Input examples stored in a model package as small files, never as pickles.

A numeric numpy array (a tensor) is stored as ``input_example.npy`` (``allow_pickle=False``);
any other example goes through :func:`~modelkeep.registry.tabular.to_pandas` and is stored as
``input_example.json`` in pandas "split" layout (``columns`` and row-wise ``data``) with the
exact dtype of each column in ``dtypes``, so that it reads back equal, dtypes included:

```
{"format": "pandas-split", "columns": ["age", "city"], "dtypes": ["int64", "category"],
 "categories": {"city": {"dtype": "str", "values": ["Oslo", "Rome"], "ordered": false}},
 "data": [[31, "Oslo"], [45, null]]}
```

Nulls are ``null``; infinite floats are ``"Infinity"``/``"-Infinity"`` (JSON has neither);
datetimes are ISO 8601 text with their time zone offset and full precision. The index is not
kept: the example reads back with a fresh ``RangeIndex``. Object columns must hold JSON values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.registry.tabular import is_tensor, to_pandas

__all__ = ["EXAMPLE_JSON", "EXAMPLE_NPY", "load_input_example", "save_input_example"]

EXAMPLE_JSON = "input_example.json"
EXAMPLE_NPY = "input_example.npy"
_FORMAT = "pandas-split"


def save_input_example(example: Any, directory: Path) -> str:
    """Write ``example`` into ``directory`` (created if needed); return the file's name.

    Args:
        example: a numeric numpy array (stored as ``.npy``) or anything
            :func:`~modelkeep.registry.tabular.to_pandas` reads (stored as ``.json``).
        directory: the model package directory.

    Raises:
        InvalidInputError: (``field="input_example"``) a column cannot be stored as JSON.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if is_tensor(example):
        np.save(directory / EXAMPLE_NPY, example, allow_pickle=False)
        return EXAMPLE_NPY
    payload = _encode_frame(to_pandas(example))
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot store the input example as JSON ({exc}); use plain values",
            field="input_example",
        ) from None
    (directory / EXAMPLE_JSON).write_text(text + "\n", encoding="utf-8")
    return EXAMPLE_JSON


def load_input_example(path: Path) -> Any:
    """Read an example written by :func:`save_input_example`: a numpy array or a DataFrame.

    Raises:
        NotFoundError: there is no such file.
        InvalidInputError: (``field="input_example"``) the file is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"input example {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != _FORMAT:
            raise ValueError(f"format is {payload.get('format')!r}, not {_FORMAT!r}")
        return _decode_frame(payload)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"input example {path.name} is malformed ({exc}); save it again",
            field="input_example",
        ) from None


def _encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    columns: list[list[Any]] = []
    categories: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(frame.columns):
        series = frame.iloc[:, index]
        if isinstance(series.dtype, pd.CategoricalDtype):
            kinds = pd.Series(series.dtype.categories)
            encoded = _encode_values(name, kinds)
            categories[name] = {
                "dtype": str(kinds.dtype),
                "values": encoded,
                "ordered": bool(series.dtype.ordered),
            }
            # The values as category labels, not codes, so the file reads as a sample request.
            columns.append([None if code < 0 else encoded[code] for code in series.cat.codes])
        else:
            columns.append(_encode_values(name, series))
    return {
        "format": _FORMAT,
        "columns": list(frame.columns),
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "categories": categories,
        "data": [list(row) for row in zip(*columns, strict=False)],
    }


def _encode_values(name: str, series: pd.Series[Any]) -> list[Any]:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return [None if pd.isna(value) else value.isoformat() for value in series]
    if isinstance(dtype, pd.StringDtype):
        return [value if isinstance(value, str) else None for value in series.tolist()]
    numbers = getattr(dtype, "numpy_dtype", dtype)
    if isinstance(numbers, np.dtype) and numbers.kind == "f":
        return [_encode_float(value) for value in series.to_numpy(np.float64, na_value=np.nan)]
    if isinstance(numbers, np.dtype) and numbers.kind in "biu":
        return [None if value is pd.NA else value for value in series.tolist()]
    if pd.api.types.is_object_dtype(dtype):
        return [None if _is_scalar_null(value) else value for value in series.tolist()]
    raise InvalidInputError(
        f"cannot store column {name!r} of dtype {dtype} in an input example; convert it to a"
        " number, string, bool, datetime or category column",
        field="input_example",
    )


def _encode_float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _is_scalar_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _decode_frame(payload: dict[str, Any]) -> pd.DataFrame:
    names, dtypes, rows = payload["columns"], payload["dtypes"], payload["data"]
    categories = payload.get("categories") or {}
    if len(names) != len(dtypes) or any(len(row) != len(names) for row in rows):
        raise ValueError("columns, dtypes and rows do not line up")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    decoded = {
        index: _decode_column(dtype, list(values), categories.get(name))
        for index, (name, dtype, values) in enumerate(zip(names, dtypes, columns, strict=True))
    }
    frame = pd.DataFrame(decoded, index=pd.RangeIndex(len(rows)))
    return frame.set_axis([str(name) for name in names], axis=1)


def _decode_column(name: str, values: list[Any], categories: Any) -> pd.Series[Any]:
    if name == "category":
        kinds = _decode_column(categories["dtype"], categories["values"], None)
        values_typed = _decode_column(categories["dtype"], values, None)
        return pd.Series(
            pd.Categorical(
                values_typed, categories=pd.Index(kinds), ordered=bool(categories["ordered"])
            )
        )
    dtype = pd.api.types.pandas_dtype(name)
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        zone = getattr(dtype, "tz", None)
        parsed = pd.to_datetime(
            pd.Series(values, dtype=object), format="ISO8601", utc=zone is not None
        )
        return parsed.astype(dtype)  # converts the time zone and unit, both exactly
    numbers = getattr(dtype, "numpy_dtype", dtype)
    if isinstance(numbers, np.dtype) and numbers.kind == "f":
        missing = np.nan if isinstance(dtype, np.dtype) else None
        return pd.Series([missing if v is None else float(v) for v in values], dtype=dtype)
    return pd.Series(values, dtype=dtype)
