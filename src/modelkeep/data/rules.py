"""Validation rules: suggested from a profile, edited as YAML, checked against a table.

A rules file names, per column, the rules its values must follow::

    version: 1
    columns:
      age:
        dtype: integer          # numeric | integer | boolean | datetime | string
        not_null: true          # no missing values
        range: {min: 0, max: 120}   # inclusive; either bound may be left out;
                                # ISO timestamps for a datetime column
      city:
        dtype: string
        allowed: [Paris, Lyon]  # compared as text; quote values YAML reads otherwise (yes, 1.0)
      customer_id:
        unique: true            # no value repeated (missing values are not compared)

Missing values fail only ``not_null``: the other rules judge the values present. ``dtype``
checks the values, not only the storage type: in a text column read from a CSV, ``dtype:
numeric`` fails exactly the rows that do not hold a number. A range check fails infinities.

:func:`suggest_rules` proposes rules a profile supports (each passes on the profiled data):
``dtype`` from the column's kind, ``not_null`` where nothing is missing, ``range`` from the
observed min and max, ``allowed`` for categorical columns with at most 10 categories, and
``unique`` for ID-like columns whose values are all distinct. :func:`validate` checks a table
and returns a :class:`ValidationReport` with the failing rules, counts and example rows.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [30, 41, 52]})
    >>> rules = RuleSet.from_yaml("columns: {age: {range: {min: 0, max: 45}}}")
    >>> report = validate(frame, rules)
    >>> report.passed, report.failures[0].failed_count
    (False, 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from modelkeep.data.rules_check import (
    DTYPES,
    RuleFailure,
    ValidationReport,
    storage_family,
    validate,
)
from modelkeep.data.rules_parse import RULE_KINDS, parse_rules
from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    from modelkeep.data.profile import ColumnProfile, Profile

__all__ = [
    "read_rules_text",
    "DTYPES",
    "RULE_KINDS",
    "Rule",
    "RuleFailure",
    "RuleSet",
    "ValidationReport",
    "suggest_rules",
    "validate",
]

RULES_VERSION = 1
_MAX_ALLOWED = 10  # a profile keeps the 10 most frequent values; more cannot be listed
_HEADER = (
    "# modelkeep validation rules: edit freely, then run `modelkeep data validate DATA --rules "
    "FILE`.\n# Per column: dtype (numeric|integer|boolean|datetime|string), not_null, unique,\n"
    "# range {min, max} (inclusive), allowed [values] (compared as text).\n"
)

Bound = float | str | None


@dataclass(frozen=True)
class Rule:
    """One rule on one column.

    Attributes:
        column: the column it applies to.
        kind: one of :data:`RULE_KINDS`.
        min: ``range``: the smallest value allowed (a number, or ISO timestamp), or None.
        max: ``range``: the largest value allowed, or None.
        values: ``allowed``: the categories allowed, as text.
        dtype: ``dtype``: one of :data:`~modelkeep.data.rules_check.DTYPES`.
    """

    column: str
    kind: str
    min: Bound = None
    max: Bound = None
    values: tuple[str, ...] = ()
    dtype: str | None = None

    def describe(self) -> str:
        """The rule in a few words, e.g. ``range [0, 120]``."""
        if self.kind == "range":
            low = "-inf" if self.min is None else _plain(self.min)
            high = "inf" if self.max is None else _plain(self.max)
            return f"range [{low}, {high}]"
        if self.kind == "allowed":
            shown = ", ".join(self.values[:5]) + (", ..." if len(self.values) > 5 else "")
            return f"allowed {{{shown}}}"
        if self.kind == "dtype":
            return f"dtype {self.dtype}"
        return self.kind

    def yaml_value(self) -> Any:
        """The value this rule has under its kind in the rules file."""
        if self.kind == "range":
            bounds = (("min", self.min), ("max", self.max))
            return {key: _plain(value) for key, value in bounds if value is not None}
        if self.kind == "allowed":
            return list(self.values)
        if self.kind == "dtype":
            return self.dtype
        return True


def _plain(bound: float | str) -> float | int | str:
    # 0 reads better than 0.0 for an integer column; both load back as the same float.
    if isinstance(bound, float) and bound.is_integer() and abs(bound) < 2**53:
        return int(bound)
    return bound


@dataclass(frozen=True)
class RuleSet:
    """Rules to check a table against, in file order; see the module docstring for YAML."""

    rules: tuple[Rule, ...] = ()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def to_dict(self) -> dict[str, Any]:
        """``{"version": 1, "columns": {column: {kind: value}}}``, as written to YAML."""
        columns: dict[str, dict[str, Any]] = {}
        for rule in self.rules:
            columns.setdefault(rule.column, {})[rule.kind] = rule.yaml_value()
        return {"version": RULES_VERSION, "columns": columns}

    def to_yaml(self) -> str:
        """The rules as YAML text with a commented header; :meth:`from_yaml` reads it back."""
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=99)
        return _HEADER + body

    @classmethod
    def from_dict(cls, data: Any) -> RuleSet:
        """Rules from the mapping :meth:`to_dict` gives (or a parsed rules file).

        Raises:
            InvalidInputError: ``field`` names the key at fault, e.g. ``columns.age.range.min``.
        """
        return cls(tuple(Rule(**fields) for fields in parse_rules(data)))

    @classmethod
    def from_yaml(cls, source: str | Path) -> RuleSet:
        """Rules from YAML text, or from a file (a :class:`~pathlib.Path`, or a one-line
        string ending in ``.yaml``/``.yml``).

        Raises:
            InvalidInputError: the file is missing (``field="rules"``), the YAML does not parse
                (``field="rules"``, with the line), or a key is wrong (``field`` names it).
        """
        text = read_rules_text(source)
        try:
            data = yaml.safe_load(text)
        except RecursionError:
            raise InvalidInputError(
                "rules: the YAML is nested too deeply", field="rules"
            ) from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise InvalidInputError(
                f"rules: {problem}{line}; fix the YAML", field="rules"
            ) from None
        return cls.from_dict(data)


def read_rules_text(source: str | Path) -> str:
    """YAML given inline, or the text of a ``.yaml``/``.yml`` file it names (InvalidInputError,
    ``field="rules"``, when the file is missing, unreadable or not UTF-8)."""
    is_path = isinstance(source, Path) or (
        "\n" not in source and source.strip().lower().endswith((".yaml", ".yml"))
    )
    if not is_path:
        return str(source)
    path = Path(source)
    if not path.is_file():
        raise InvalidInputError(f"rules file not found: {path}", field="rules")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"rules file {path} is not UTF-8 text", field="rules") from None
    except OSError as exc:
        raise InvalidInputError(f"rules: cannot read {path}: {exc}", field="rules") from None


def suggest_rules(profile: Profile) -> RuleSet:
    """Rules that the profiled data passes, as a starting point to edit.

    Per column: ``dtype`` from its kind and storage, ``not_null`` when nothing is missing,
    ``range`` from the observed min and max (numbers, or timestamps for datetimes; none for a
    column holding infinities, which the profile leaves out of min and max),
    ``allowed`` for a categorical column with at most 10 categories, ``unique`` for an
    ID-like column (see :mod:`modelkeep.data.problems`) whose values are all distinct.

    Example:
        >>> from modelkeep.data import profile
        >>> import pandas as pd
        >>> rules = suggest_rules(profile(pd.DataFrame({"n": [1, 2, 3]})))
        >>> [rule.describe() for rule in rules]
        ['dtype integer', 'not_null', 'range [1, 3]']
    """
    id_like = {p.column for p in profile.problems if p.kind == "id_like"}
    rules: list[Rule] = []
    for name, column in profile.columns.items():
        rules += _column_rules(column, profile.n_rows, name in id_like)
    return RuleSet(tuple(rules))


def _column_rules(column: ColumnProfile, n_rows: int, id_like: bool) -> list[Rule]:
    name = column.name
    rules: list[Rule] = []
    dtype = _suggested_dtype(column)
    if dtype is not None:
        rules.append(Rule(name, "dtype", dtype=dtype))
    if column.missing_rate == 0:
        rules.append(Rule(name, "not_null"))
    present = round(n_rows * (1 - column.missing_rate))
    if id_like and column.distinct_count == present:
        rules.append(Rule(name, "unique"))
    if _has_range(column, present):
        rules.append(Rule(name, "range", min=column.min, max=column.max))
    listed = len(column.top_values) == column.distinct_count
    if column.kind == "categorical" and listed and 0 < column.distinct_count <= _MAX_ALLOWED:
        values = tuple(sorted(value for value, _ in column.top_values))
        rules.append(Rule(name, "allowed", values=values))
    return rules


def _has_range(column: ColumnProfile, present: int) -> bool:
    if column.kind not in ("numeric", "datetime") or column.min is None or column.max is None:
        return False
    # The profile leaves infinities out of min and max (and its histogram); a range from them
    # would fail the very data it came from, so a column holding any gets none.
    counted = sum(column.histogram["counts"]) if column.histogram else present
    return counted == present


def _suggested_dtype(column: ColumnProfile) -> str | None:
    storage = _storage_of(column.dtype)
    if column.kind == "numeric":
        return "integer" if storage == "integer" else "numeric"
    if column.kind in ("boolean", "datetime"):
        return column.kind
    # Categorical and text: only when stored as text; an exotic dtype gets no dtype rule.
    return "string" if storage == "text" else None


def _storage_of(dtype_text: str) -> str:
    import pandas as pd

    try:
        dtype = pd.api.types.pandas_dtype(dtype_text)
    except (TypeError, ValueError):
        return "text" if dtype_text == "category" else "other"
    return storage_family(dtype)
