"""Checking a table against validation rules: :func:`validate` and its report.

Each rule kind has one vectorised check that takes the column and returns a boolean array, True
for every failing row, so the report can count them and show examples. Missing values fail only
``not_null``; the other kinds judge the values that are there. The rules themselves and their
YAML form are in :mod:`modelkeep.data.rules`, which re-exports what is public here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from modelkeep.data.kinds import hashable, numeric_values
from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    from rich.table import Table

    from modelkeep.data.rules import Rule, RuleSet

__all__ = [
    "DTYPES",
    "RuleFailure",
    "ValidationReport",
    "failing_rows",
    "jsonable_row",
    "storage_family",
    "validate",
]

DTYPES = ("numeric", "integer", "boolean", "datetime", "string")
"""The values a ``dtype`` rule may name."""

Mask = np.ndarray[Any, np.dtype[np.bool_]]

_TRUE_FALSE = frozenset({"true", "false"})
_EXAMPLES = 5


def failing_rows(rule: Rule, series: pd.Series[Any]) -> Mask:
    """True for each row of ``series`` (the rule's column) that breaks ``rule``.

    Raises:
        InvalidInputError: a datetime range bound cannot be compared with the column
            (``field="columns.<column>.range"``).
    """
    if rule.kind == "not_null":
        return np.asarray(series.isna().to_numpy(), dtype=bool)
    present = np.asarray(series.notna().to_numpy(), dtype=bool)
    if rule.kind == "unique":
        return present & np.asarray(hashable(series).duplicated(keep=False).to_numpy())
    if rule.kind == "allowed":
        return present & ~_is_allowed(series, rule.values)
    if rule.kind == "range":
        return present & _out_of_range(series, rule)
    return present & _wrong_type(series, str(rule.dtype))


def storage_family(dtype: Any) -> str:
    """How a column stores its values: integer, float, boolean, datetime, text or other.

    ``text`` covers object, string and categorical columns: their elements decide.
    """
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(dtype):
        return "text"
    if ptypes.is_string_dtype(dtype):
        return "text"
    return "other"


def _is_allowed(series: pd.Series[Any], values: tuple[str, ...]) -> Mask:
    text = hashable(series).astype(object).map(str, na_action="ignore")
    return np.asarray(text.isin(values).to_numpy(), dtype=bool)


def _out_of_range(series: pd.Series[Any], rule: Rule) -> Mask:
    low, high = rule.min, rule.max
    if isinstance(low, str) or isinstance(high, str):
        return _out_of_time_range(series, rule)
    values = numeric_values(series)
    # NaN (missing, or not a number: the dtype rule's business) compares False: not counted.
    with np.errstate(invalid="ignore"):
        below = values < low if low is not None else np.zeros(len(values), dtype=bool)
        above = values > high if high is not None else np.zeros(len(values), dtype=bool)
    return np.asarray(below | above, dtype=bool)


def _out_of_time_range(series: pd.Series[Any], rule: Rule) -> Mask:
    stamps = _to_datetimes(series)
    out = np.zeros(len(series), dtype=bool)
    try:
        for bound, is_low in ((rule.min, True), (rule.max, False)):
            if bound is None:
                continue
            limit = pd.Timestamp(bound)
            beyond = stamps < limit if is_low else stamps > limit
            out |= np.asarray(beyond.fillna(False).to_numpy(), dtype=bool)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"columns.{rule.column}.range: cannot compare the column with {bound!r} ({exc}); "
            "give timestamps with the same time zone as the data",
            field=f"columns.{rule.column}.range",
        ) from None
    return out


def _to_datetimes(series: pd.Series[Any]) -> pd.Series[Any]:
    if ptypes.is_datetime64_any_dtype(series.dtype):
        return series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(series, errors="coerce", format="mixed")
        except (TypeError, ValueError):
            return series.map(_one_datetime)


def _one_datetime(value: Any) -> Any:
    try:
        return pd.Timestamp(value)
    except (TypeError, ValueError):
        return pd.NaT


def _wrong_type(series: pd.Series[Any], dtype: str) -> Mask:
    """True where a present value is not of ``dtype`` (missing values are judged False)."""
    family = storage_family(series.dtype)
    every = np.ones(len(series), dtype=bool)
    none = np.zeros(len(series), dtype=bool)
    if dtype == "string":
        return none if family == "text" else every
    if dtype == "numeric":
        if family in ("integer", "float"):
            return none
        return np.isnan(numeric_values(series)) if family == "text" else every
    if dtype == "integer":
        if family == "integer":
            return none
        if family not in ("float", "text"):
            return every
        values = numeric_values(series)
        with np.errstate(invalid="ignore"):
            return np.asarray(~(np.isfinite(values) & (values == np.round(values))), dtype=bool)
    if dtype == "boolean":
        if family == "boolean":
            return none
        return _not_boolean(series) if family == "text" else every
    if family == "datetime":  # dtype == "datetime"
        return none
    if family != "text":
        return every
    return np.asarray(_to_datetimes(series).isna().to_numpy(), dtype=bool)


def _not_boolean(series: pd.Series[Any]) -> Mask:
    def bad(value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        return not (isinstance(value, str) and value.strip().lower() in _TRUE_FALSE)

    return np.asarray(series.astype(object).map(bad).to_numpy(), dtype=bool)


def jsonable_row(row: pd.Series[Any]) -> dict[str, Any]:
    """One row as a JSON-safe dict: numpy scalars as Python values, missing as None,
    timestamps as ISO text, anything else unusual as its ``str``."""
    return {str(name): _jsonable(value) for name, value in row.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (not isinstance(value, list | dict) and pd.isna(value) is True):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class RuleFailure:
    """A rule that some rows break.

    Attributes:
        rule: the rule.
        failed_count: how many rows break it (every row when its column is missing).
        examples: up to 5 of those rows, ``{"row": index label, "values": {column: value}}``
            (JSON-safe).
        message: one line saying what is wrong.
    """

    rule: Rule
    failed_count: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: column, kind, rule, failed_count, message, examples."""
        return {
            "column": self.rule.column,
            "kind": self.rule.kind,
            "rule": self.rule.describe(),
            "failed_count": self.failed_count,
            "message": self.message,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`.

    Attributes:
        passed: True when every rule passed.
        n_rows: rows checked.
        rules_checked: how many rules were checked.
        failures: one entry per failed rule, in rule order.
    """

    passed: bool
    n_rows: int
    rules_checked: int
    failures: list[RuleFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the report."""
        return {
            "passed": self.passed,
            "n_rows": self.n_rows,
            "rules_checked": self.rules_checked,
            "failures": [failure.to_dict() for failure in self.failures],
        }

    def render(self) -> Table:
        """The failures as a Rich table (title says how many rules passed)."""
        from rich.table import Table
        from rich.text import Text

        failed = len(self.failures)
        title = f"{self.rules_checked} rules checked on {self.n_rows} rows: " + (
            "all passed" if self.passed else f"{failed} failed"
        )
        table = Table(title=title, title_justify="left")
        for name in ("column", "rule", "failed rows", "message", "examples"):
            table.add_column(name, overflow="fold")
        for failure in self.failures:
            examples = "; ".join(
                f"row {ex['row']}: {ex['values'].get(failure.rule.column)!r}"
                for ex in failure.examples
            )
            cells = (failure.rule.column, failure.rule.describe(), str(failure.failed_count))
            table.add_row(*(Text(c) for c in (*cells, failure.message, examples)))
        return table


def validate(data: Any, rules: RuleSet | str | Path) -> ValidationReport:
    """Check a table against validation rules.

    Args:
        data: a table path or DataFrame (anything :func:`~modelkeep.data.read_table` reads).
        rules: a :class:`~modelkeep.data.rules.RuleSet`, a rules file path, or YAML text.

    Returns:
        The :class:`ValidationReport`: every failed rule with its count and example rows.

    Raises:
        InvalidInputError: unreadable data (``field="data"``) or rules (``field`` names the
            key at fault).

    Example:
        >>> frame = pd.DataFrame({"age": [30, 41, 52]})
        >>> report = validate(frame, "columns: {age: {range: {min: 0, max: 45}}}")
        >>> report.passed, report.failures[0].failed_count
        (False, 1)
    """
    from modelkeep.data.io import read_table
    from modelkeep.data.rules import RuleSet

    ruleset = rules if isinstance(rules, RuleSet) else RuleSet.from_yaml(rules)
    frame = read_table(data)
    columns = [str(name) for name in frame.columns]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InvalidInputError(
            f"data: column names repeat ({', '.join(repeated)}); rules cannot tell them apart",
            field="data",
        )
    failures: list[RuleFailure] = []
    for rule in ruleset:
        if rule.column not in columns:
            message = f"column {rule.column!r} is missing from the data"
            failures.append(RuleFailure(rule, len(frame), [], message))
            continue
        mask = failing_rows(rule, frame.iloc[:, columns.index(rule.column)])
        count = int(mask.sum())
        if count:
            examples = [
                {"row": _jsonable(frame.index[i]), "values": jsonable_row(frame.iloc[i])}
                for i in np.flatnonzero(mask)[:_EXAMPLES]
            ]
            failures.append(RuleFailure(rule, count, examples, _message(rule, count)))
    return ValidationReport(not failures, len(frame), len(ruleset), failures)


def _message(rule: Rule, count: int) -> str:
    rows = "1 row" if count == 1 else f"{count} rows"
    what = {
        "not_null": "a missing value",
        "unique": "a repeated value",
        "range": f"a value outside {rule.describe().removeprefix('range ')}",
        "allowed": "a value not in the allowed list",
        "dtype": f"a value that is not {rule.dtype}",
    }[rule.kind]
    return f"{rule.column}: {rows} with {what}"
