"""What kind of data a column holds, and whether a target asks for classification.

A column's *kind* is one of ``numeric``, ``categorical``, ``boolean``, ``datetime`` and
``text``. Object columns are judged by their elements (numbers stored as objects are numeric);
string columns are ``text`` when most values are distinct and long (free text such as
reviews), ``categorical`` otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "KINDS",
    "Kind",
    "column_kind",
    "hashable",
    "is_classification_target",
    "numeric_values",
]

Kind = Literal["numeric", "categorical", "boolean", "datetime", "text"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical", "boolean", "datetime", "text")

_TEXT_SAMPLE = 10_000
_TEXT_MIN_LENGTH = 20
_TEXT_MIN_DISTINCT = 0.5
_MAX_CLASSES = 20
_NUMERIC_ELEMENTS = {"integer", "floating", "mixed-integer-float", "decimal"}
_DATETIME_ELEMENTS = {"datetime", "datetime64", "date"}


def column_kind(series: pd.Series[Any]) -> Kind:
    """The kind of data ``series`` holds.

    Example:
        >>> column_kind(pd.Series([1.5, 2.0]))
        'numeric'
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    elements = pd.api.types.infer_dtype(series, skipna=True)
    if elements == "boolean":
        return "boolean"
    if elements in _NUMERIC_ELEMENTS:
        return "numeric"
    if elements in _DATETIME_ELEMENTS:
        return "datetime"
    return "text" if _looks_like_text(series) else "categorical"


def _looks_like_text(series: pd.Series[Any]) -> bool:
    values = series.dropna()
    if len(values) > _TEXT_SAMPLE:
        values = values.sample(_TEXT_SAMPLE, random_state=0)
    if values.empty:
        return False
    strings = values.astype(str)
    distinct_share = strings.nunique() / len(strings)
    return bool(
        distinct_share > _TEXT_MIN_DISTINCT and strings.str.len().mean() >= _TEXT_MIN_LENGTH
    )


def numeric_values(series: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The column as float64, missing values (None, NA, NaN) as NaN; booleans as 0/1.

    Datetimes become nanoseconds since the epoch. Infinities are kept.
    """
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        out = stamps.astype(np.int64).astype(np.float64)
        out[np.isnat(stamps)] = np.nan
        return out
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    elements = pd.api.types.infer_dtype(series, skipna=True)
    if elements == "boolean":
        flags = series.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(flags, dtype=np.float64)
    if elements in _DATETIME_ELEMENTS:
        return numeric_values(pd.Series(pd.to_datetime(series, errors="coerce", utc=True)))
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def is_classification_target(series: pd.Series[Any]) -> bool:
    """Whether a target column asks for classification rather than regression.

    Booleans, categories and strings do; numbers do when every value is a whole number and
    there are at most 20 of them (class labels such as 0/1/2, also when stored as floats).

    Example:
        >>> is_classification_target(pd.Series([0, 1, 1, 2]))
        True
        >>> is_classification_target(pd.Series([0.5, 1.25, 3.0]))
        False
    """
    kind = column_kind(series)
    if kind == "datetime":
        return False
    if kind != "numeric":
        return True
    values = numeric_values(series)
    values = values[~np.isnan(values)]
    if values.size == 0 or not np.all(np.isfinite(values)):
        return False
    return bool(np.all(values == np.round(values)) and np.unique(values).size <= _MAX_CLASSES)


def hashable(series: pd.Series[Any]) -> pd.Series[Any]:
    """``series``, or its values' ``repr`` when some are unhashable (lists, dicts from JSON).

    Counting distinct values and finding duplicates hash every value; this lets them run.
    """
    if series.dtype != object:
        return series
    try:
        series.nunique()
    except TypeError:
        return series.map(repr)
    return series
