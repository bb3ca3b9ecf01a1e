"""Reading a parsed rules file: every key checked, every error naming the key at fault.

:func:`parse_rules` turns the mapping of a rules file (see :mod:`modelkeep.data.rules`) into the
fields of one rule each; :class:`~modelkeep.data.rules.RuleSet` builds its rules from them.
An error's ``field`` is the dotted path of the key, e.g. ``columns.age.range.min``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from modelkeep.data.rules_check import DTYPES
from modelkeep.exceptions import InvalidInputError

__all__ = ["RULE_KINDS", "parse_rules"]

RULE_KINDS = ("dtype", "not_null", "unique", "range", "allowed")
"""Rule kinds, in the order a column's rules are written and checked."""

_TOP_KEYS = ("version", "columns")
_RANGE_KEYS = ("min", "max")
_VERSIONS = (1,)


def _error(path: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"rules: {path}: {message}", field=path)


def parse_rules(data: Any) -> list[dict[str, Any]]:
    """The fields (``column``, ``kind``, ``min``, ``max``, ``values``, ``dtype``) of each rule
    in a parsed rules file, column by column, in :data:`RULE_KINDS` order within a column.

    Raises:
        InvalidInputError: ``field`` is the dotted key at fault (``"rules"`` for the whole file).
    """
    if data is None:
        raise InvalidInputError("rules: the rules file is empty", field="rules")
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"rules: expected a mapping with a 'columns' key, got {type(data).__name__}",
            field="rules",
        )
    for key in data:
        if key not in _TOP_KEYS:
            raise _error(str(key), f"unknown key; expected {' or '.join(_TOP_KEYS)}")
    version = data.get("version", 1)
    if isinstance(version, bool) or version not in _VERSIONS:
        raise _error("version", f"unsupported rules version {version!r}; expected 1")
    columns = data.get("columns")
    if not isinstance(columns, Mapping):
        raise _error("columns", "expected a mapping of column name -> rules")
    rules: list[dict[str, Any]] = []
    for column, spec in columns.items():
        rules += _column_rules(str(column), spec)
    return rules


def _column_rules(column: str, spec: Any) -> list[dict[str, Any]]:
    path = f"columns.{column}"
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise _error(path, "expected a mapping of rule kind -> setting")
    for key in spec:
        if key not in RULE_KINDS:
            raise _error(f"{path}.{key}", f"unknown rule; expected one of {', '.join(RULE_KINDS)}")
    rules: list[dict[str, Any]] = []
    for kind in RULE_KINDS:
        value = spec.get(kind)
        if value is None:
            continue
        fields = _rule_fields(kind, value, f"{path}.{kind}")
        if fields is not None:
            rules.append({"column": column, "kind": kind, **fields})
    return rules


def _rule_fields(kind: str, value: Any, path: str) -> dict[str, Any] | None:
    if kind in ("not_null", "unique"):
        if not isinstance(value, bool):
            raise _error(path, f"expected true or false, got {value!r}")
        return {} if value else None
    if kind == "dtype":
        if value not in DTYPES:
            raise _error(path, f"got {value!r}; expected one of {', '.join(DTYPES)}")
        return {"dtype": value}
    if kind == "allowed":
        return {"values": _allowed_values(value, path)}
    return _range(value, path)


def _allowed_values(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _error(path, "expected a non-empty list of values")
    for item in value:
        if isinstance(item, Mapping | list) or item is None:
            raise _error(path, f"values must be plain text or numbers, got {item!r}")
    return tuple(str(item) for item in value)


def _range(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(path, "expected a mapping with min and/or max")
    for key in value:
        if key not in _RANGE_KEYS:
            raise _error(f"{path}.{key}", "unknown key; expected min or max")
    bounds = {key: _bound(value.get(key), f"{path}.{key}") for key in _RANGE_KEYS}
    low, high = bounds["min"], bounds["max"]
    if low is None and high is None:
        raise _error(path, "give min, max or both")
    if low is not None and high is not None:
        if isinstance(low, str) != isinstance(high, str):
            raise _error(path, "min and max must both be numbers or both timestamps")
        ordered = _ordered(low, high, path)
        if not ordered:
            raise _error(path, f"min ({low}) is greater than max ({high})")
    return bounds


def _ordered(low: float | str, high: float | str, path: str) -> bool:
    if isinstance(low, float) and isinstance(high, float):
        return low <= high
    try:
        return bool(pd.Timestamp(low) <= pd.Timestamp(high))
    except TypeError:
        raise _error(path, "min and max must both have a time zone, or neither") from None


def _bound(value: Any, path: str) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _error(path, f"expected a number or an ISO timestamp, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    if isinstance(value, str):
        try:
            pd.Timestamp(value)
        except (TypeError, ValueError):
            raise _error(path, f"expected a number or an ISO timestamp, got {value!r}") from None
        return value
    raise _error(path, f"expected a number or an ISO timestamp, got {value!r}")
