"""The ``cleaning:`` section of a training config, checked, and the kind of each input column.

:func:`parse_cleaning` validates the mapping documented in :mod:`modelkeep.data.cleaning`
before any work starts: an unknown key or value raises
:class:`~modelkeep.exceptions.InvalidInputError` whose ``field`` is the dotted key
(``cleaning.clip.method``). :func:`plan_columns` decides from dtypes which columns are numeric,
which categorical and which are not model inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from modelkeep.exceptions import InvalidInputError

__all__ = ["CleaningConfig", "ClipConfig", "ColumnPlan", "parse_cleaning", "plan_columns"]

_TOP_KEYS = ("impute", "clip", "rare", "encode", "scale", "drop_duplicates", "imbalance")
_IMPUTE_KEYS = ("numeric", "categorical", "fill_value", "categorical_fill_value")
_CLIP_KEYS = ("method", "low", "high", "factor")
_RARE_KEYS = ("min_frequency", "other")


@dataclass(frozen=True)
class ClipConfig:
    """Outlier clipping: ``method`` quantile (``low``/``high``) or iqr (``factor``)."""

    method: str = "quantile"
    low: float = 0.01
    high: float = 0.99
    factor: float = 1.5


@dataclass(frozen=True)
class CleaningConfig:
    """A checked ``cleaning:`` section; defaults are what an empty section means."""

    numeric_impute: str = "median"
    categorical_impute: str = "most_frequent"
    fill_value: float = 0.0
    categorical_fill_value: str = "__missing__"
    clip: ClipConfig | None = None
    rare_min_frequency: float | int = 0.0
    rare_other: str = "__other__"
    encode: str = "onehot"
    scale: str = "standard"
    drop_duplicates: bool = False
    imbalance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, e.g. to log as run params."""
        return asdict(self)


@dataclass(frozen=True)
class ColumnPlan:
    """How each column of a frame enters the model.

    Attributes:
        numeric: columns cleaned as numbers (clip, impute, scale).
        categorical: columns cleaned as categories (group rare, impute, encode).
        dropped: column -> why it is not a model input (datetime, unsupported dtype, no
            value at all).
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)


def parse_cleaning(cleaning: Mapping[str, Any] | None) -> CleaningConfig:
    """Check a ``cleaning:`` mapping and fill in the defaults.

    Raises:
        InvalidInputError: ``field`` is the dotted key at fault, e.g. ``cleaning.encode``.

    Example:
        >>> parse_cleaning({"clip": "iqr"}).clip.method
        'iqr'
    """
    if cleaning is None:
        return CleaningConfig()
    section = _mapping(cleaning, "cleaning", _TOP_KEYS)
    impute = _mapping(section.get("impute") or {}, "cleaning.impute", _IMPUTE_KEYS)
    return CleaningConfig(
        numeric_impute=_choice(
            impute.get("numeric", "median"), ("median", "mean", "constant"), "impute.numeric"
        ),
        categorical_impute=_choice(
            impute.get("categorical", "most_frequent"),
            ("most_frequent", "constant"),
            "impute.categorical",
        ),
        fill_value=_number(impute.get("fill_value", 0.0), "impute.fill_value"),
        categorical_fill_value=str(impute.get("categorical_fill_value", "__missing__")),
        clip=_clip(section.get("clip")),
        rare_min_frequency=_rare_frequency(section.get("rare")),
        rare_other=_rare_other(section.get("rare")),
        encode=_choice(section.get("encode", "onehot"), ("onehot", "ordinal"), "encode"),
        scale=_choice(section.get("scale", "standard"), ("standard", "none"), "scale"),
        drop_duplicates=_flag(section.get("drop_duplicates", False), "drop_duplicates"),
        imbalance=_imbalance(section.get("imbalance")),
    )


def _fail(key: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"cleaning.{key}: {message}", field=f"cleaning.{key}")


def _mapping(value: Any, where: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{where} must be a mapping, got {type(value).__name__}", field=where
        )
    for key in value:
        if key not in keys:
            raise InvalidInputError(
                f"{where}.{key}: unknown key; expected one of {', '.join(keys)}",
                field=f"{where}.{key}",
            )
    return value


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value is None and "none" in allowed:
        return "none"
    if not isinstance(value, str) or value not in allowed:
        raise _fail(key, f"got {value!r}; expected one of {', '.join(allowed)}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, f"must be a number, got {value!r}")
    return float(value)


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, f"must be true or false, got {value!r}")
    return value


def _clip(value: Any) -> ClipConfig | None:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        value = {"method": value}
    given = _mapping(value, "cleaning.clip", _CLIP_KEYS)
    clip = ClipConfig(
        method=_choice(given.get("method", "quantile"), ("quantile", "iqr"), "clip.method"),
        low=_number(given.get("low", 0.01), "clip.low"),
        high=_number(given.get("high", 0.99), "clip.high"),
        factor=_number(given.get("factor", 1.5), "clip.factor"),
    )
    if not 0.0 <= clip.low < clip.high <= 1.0:
        raise _fail("clip.low", f"need 0 <= low < high <= 1, got {clip.low} and {clip.high}")
    if clip.factor <= 0:
        raise _fail("clip.factor", f"must be > 0, got {clip.factor}")
    return clip


def _rare_frequency(value: Any) -> float | int:
    if value is None or value is False:
        return 0.0
    given = value if isinstance(value, Mapping) else {"min_frequency": value}
    given = _mapping(given, "cleaning.rare", _RARE_KEYS)
    raw = given.get("min_frequency", 0.01)
    number = _number(raw, "rare.min_frequency")
    if isinstance(raw, int) and raw >= 1:
        return raw
    if not 0.0 <= number < 1.0:
        raise _fail("rare.min_frequency", f"a fraction in [0, 1) or a count >= 1, got {raw!r}")
    return number


def _rare_other(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("other", "__other__"))
    return "__other__"


def _imbalance(value: Any) -> str | None:
    if value is None:
        return None
    allowed = ("class_weight", "oversample", "undersample")
    return _choice(value, allowed, "imbalance")


def plan_columns(frame: Any, target: str | None = None) -> ColumnPlan:
    """Sort the columns of ``frame`` (all but ``target``) into numeric, categorical, dropped.

    Numbers (not booleans) are numeric; booleans, strings, objects and pandas categoricals are
    categorical; columns with no value, datetimes, timedeltas and anything else are dropped,
    with the reason.

    Raises:
        InvalidInputError: a column name is not a string (``field="features"``).

    Example:
        >>> plan_columns(pd.DataFrame({"a": [1.0], "b": ["x"], "y": [0]}), "y").categorical
        ('b',)
    """
    if not isinstance(frame, pd.DataFrame):
        from modelkeep.data.io import read_table

        frame = read_table(frame)
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: dict[str, str] = {}
    for name, dtype in frame.dtypes.items():
        if not isinstance(name, str):
            raise InvalidInputError(
                f"column names must be strings, got {name!r}; rename the columns",
                field="features",
            )
        if name == target:
            continue
        if len(frame) and bool(frame[name].isna().all()):
            dropped[name] = "no value in the training data"
        elif ptypes.is_bool_dtype(dtype):
            categorical.append(name)
        elif ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
            numeric.append(name)
        elif ptypes.is_datetime64_any_dtype(dtype):
            dropped[name] = "datetime column (derive numeric features from it to use it)"
        elif _is_categorical(dtype):
            categorical.append(name)
        else:
            dropped[name] = f"unsupported dtype {dtype}"
    return ColumnPlan(tuple(numeric), tuple(categorical), dropped)


def _is_categorical(dtype: Any) -> bool:
    return (
        ptypes.is_object_dtype(dtype)
        or ptypes.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )
