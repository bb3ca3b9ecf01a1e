"""Checking data against a signature and casting it safely: the engine behind
:meth:`modelkeep.registry.signature.ModelSignature.validate_input`.

The rules (which casts are safe, nullability, missing and extra columns) are listed in the
docstring of :mod:`modelkeep.registry.signature`. Every check is vectorised; a column whose
dtype already matches costs no more than a null scan, and not even that when it cannot hold
nulls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InputSchemaError
from modelkeep.registry.tabular import (
    DATETIME_DTYPE,
    NUMBER_DTYPES,
    array_dtype,
    column_dtype,
    masked_dtype_name,
    to_pandas,
)

if TYPE_CHECKING:
    from modelkeep.registry.signature import ColumnSpec, TensorSpec

__all__ = ["conform_frame", "conform_tensor"]

_UNSAFE = "values that cannot be safely cast"


def conform_frame(specs: tuple[ColumnSpec, ...], data: Any) -> pd.DataFrame:
    """``data`` as a DataFrame with the columns of ``specs``, in their order, safely cast.

    A plain 2-D numpy array has no column names: its columns are taken to be the specs'
    columns in order, as scikit-learn does, when there are as many.

    Raises:
        InputSchemaError: listing every missing, duplicate, unexpected or ill-typed column.
    """
    frame = _as_frame(specs, data)
    problems: list[str] = []
    duplicated = set(frame.columns[frame.columns.duplicated()])
    present = set(frame.columns)
    converted: dict[str, pd.Series[Any]] = {}
    for spec in specs:
        if spec.name not in present:
            problems.append(f"missing column {spec.name!r}")
        elif spec.name in duplicated:
            problems.append(f"duplicate column {spec.name!r}")
        else:
            series = frame[spec.name]
            result = _conform_column(spec, series, problems)
            if result is not series:
                converted[spec.name] = result
    expected = {spec.name for spec in specs}
    extra = dict.fromkeys(name for name in frame.columns if name not in expected)
    problems.extend(f"unexpected column {name!r}" for name in extra)
    if problems:
        raise InputSchemaError(problems)
    out = frame[[spec.name for spec in specs]]
    for name, series in converted.items():
        out[name] = series.array  # .array: no index alignment, the rows are the same
    return out


def _as_frame(specs: tuple[ColumnSpec, ...], data: Any) -> pd.DataFrame:
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype.names is None:
        if data.shape[1] != len(specs):
            names = ", ".join(repr(spec.name) for spec in specs)
            raise InputSchemaError(
                [f"expected {len(specs)} columns ({names}), got an array of {data.shape[1]}"]
            )
        return pd.DataFrame(data, columns=[spec.name for spec in specs])
    return to_pandas(data)


def _conform_column(spec: ColumnSpec, series: pd.Series[Any], problems: list[str]) -> Any:
    result = series
    if spec.dtype != "object":
        actual = column_dtype(series)
        if actual != spec.dtype or not _is_canonical(series.dtype):
            result, reason = _cast(_materialise(series), spec.dtype)
            if reason:
                problems.append(
                    f"column {spec.name!r}: expected {spec.dtype}, got {actual} {reason}"
                )
    if spec.nullable or spec.dtype.startswith("float"):
        return result
    if isinstance(result.dtype, np.dtype) and result.dtype.kind in "biu":
        return result  # cannot hold nulls: skip the scan
    nulls = int(result.isna().sum())
    if nulls:
        problems.append(
            f"column {spec.name!r}: {nulls} null value(s), but the column is not nullable"
        )
    return result


def _is_canonical(dtype: Any) -> bool:
    """Whether a column of this dtype goes to the model unchanged when its name matches."""
    if isinstance(dtype, np.dtype):
        return dtype.kind != "O"
    return isinstance(dtype, pd.StringDtype | pd.CategoricalDtype | pd.DatetimeTZDtype)


def _materialise(series: pd.Series[Any]) -> pd.Series[Any]:
    """Give a category, arrow-backed or object column the dtype its values call for."""
    if isinstance(series.dtype, pd.CategoricalDtype | pd.ArrowDtype):
        series = series.astype(object)
    if series.dtype != object:
        return series
    elements = pd.api.types.infer_dtype(series, skipna=True)
    try:
        if elements == "string":
            return series.astype("str")
        if elements == "boolean":
            return series.astype("boolean")
        if elements in ("integer", "floating", "mixed-integer-float"):
            return pd.to_numeric(series)
        if elements in ("datetime", "datetime64"):
            return pd.to_datetime(series)
    except (TypeError, ValueError, OverflowError):
        pass  # left as object: the cast below reports it
    return series


def _cast(series: pd.Series[Any], target: str) -> tuple[pd.Series[Any], str | None]:
    if target in NUMBER_DTYPES:
        return _cast_number(series, target)
    if target in ("string", "category"):
        if series.dtype == object and series.isna().all():
            series = series.astype("str")
        if not isinstance(series.dtype, pd.StringDtype):
            return series, _UNSAFE
        return (series.astype("category") if target == "category" else series), None
    return _cast_datetime(series, target)


def _cast_number(series: pd.Series[Any], target: str) -> tuple[pd.Series[Any], str | None]:
    if series.dtype == object and series.isna().all():
        # Only nulls (JSON null in every row of a request): nothing to cast, any number dtype
        # holds them; nullability is checked afterwards.
        series = series.astype("float64")
    source = getattr(series.dtype, "numpy_dtype", series.dtype)
    if not isinstance(source, np.dtype) or source.kind not in "biuf":
        return series, _UNSAFE
    dtype = np.dtype(target)
    nulls = series.isna()
    has_nulls = bool(nulls.any())
    values = (series[~nulls] if has_nulls else series).to_numpy(dtype=source)
    reason = _number_cast_problem(values, dtype)
    if reason:
        return series, reason
    if not has_nulls:
        return series.astype(dtype), None
    if dtype.kind == "f":
        array = series.to_numpy(dtype=dtype, na_value=np.nan)
        return pd.Series(array, index=series.index, name=series.name), None
    return series.astype(pd.api.types.pandas_dtype(masked_dtype_name(target))), None


def _number_cast_problem(values: np.ndarray[Any, Any], target: np.dtype[Any]) -> str | None:
    """Why casting these null-free values to ``target`` would change one, or None."""
    source = values.dtype
    if source == target or values.size == 0 or (source.kind == "b" and target.kind != "b"):
        return None
    if target.kind == "b" or source.kind not in "iuf":
        return _UNSAFE
    if target.kind in "iu":
        if source.kind == "f":
            if not np.isfinite(values).all():
                return "infinite values that cannot be safely cast"
            if (values != np.trunc(values)).any():
                return "values with a fractional part"
        info = np.iinfo(target)
        # max + 1 is a power of two, so exact as a float too (max itself rounds up).
        high = float(info.max + 1) if source.kind == "f" else info.max + 1
        if values.min() < info.min or values.max() >= high:
            return f"values outside the {target.name} range"
        return None
    with np.errstate(all="ignore"):
        cast = values.astype(target)
        if source.kind == "f":
            if (np.isinf(cast) & np.isfinite(values)).any():
                return f"values outside the {target.name} range"
        elif np.finfo(target).nmant + 1 < source.itemsize * 8 and not np.array_equal(
            cast.astype(source), values
        ):
            return f"values that {target.name} cannot hold exactly"
    return None


def _cast_datetime(series: pd.Series[Any], target: str) -> tuple[pd.Series[Any], str | None]:
    match = DATETIME_DTYPE.fullmatch(target)
    assert match is not None  # signature dtypes are checked when it is built
    unit, zone = match.group(1), match.group(2)
    if isinstance(series.dtype, pd.StringDtype):
        return series, "values (datetime strings are not parsed: convert with pandas.to_datetime)"
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series, _UNSAFE
    source_zone = getattr(series.dtype, "tz", None)
    if (zone is None) != (source_zone is None) or (zone and str(source_zone) != zone):
        return series, "values in another time zone"
    try:
        result = series.dt.as_unit(unit)
    except (OverflowError, ValueError):
        return series, f"values outside the {unit} range"
    if not result.dt.as_unit(series.dt.unit).equals(series):
        return series, f"values finer than {unit} that would be truncated"
    return result, None


def conform_tensor(spec: TensorSpec, data: Any) -> np.ndarray[Any, Any]:
    """``data`` as a numpy array of the spec's dtype, checked for shape and a safe cast.

    Raises:
        InputSchemaError: listing the shape and dtype problems found.
    """
    if isinstance(data, pd.DataFrame | pd.Series):
        array = data.to_numpy()
    else:
        try:
            array = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise InputSchemaError([f"cannot read the input as an array: {exc}"]) from None
    problems = []
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=False)
    ):
        problems.append(f"expected an array of shape {spec.shape}, got shape {array.shape}")
    dtype = np.dtype(spec.dtype)
    reason = _UNSAFE if array.dtype.kind not in "biuf" else None
    if reason is None and array.dtype.kind == "f" and dtype.kind in "biu":
        reason = "NaN values" if np.isnan(array).any() else None
    reason = reason or _number_cast_problem(array.ravel(), dtype)
    if reason:
        problems.append(f"expected {spec.dtype}, got {array_dtype(array.dtype)} {reason}")
    if problems:
        raise InputSchemaError(problems)
    return array.astype(dtype, copy=False)
