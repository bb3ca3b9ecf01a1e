"""Problems worth fixing before training, found in a table (and its target, when named).

Kinds, in the order :func:`find_problems` reports them:

- ``missing_values``: a column with missing values (one problem per column); an ``error``
  from half the rows missing on, a ``warning`` below.
- ``duplicates``: rows that repeat an earlier row. ID-like columns are left out of the
  comparison, since a fresh ID per row would hide every repeated record.
- ``constant_column``: a column with at most one distinct value.
- ``id_like``: a feature with a distinct value in (nearly) every row that is a dense integer
  sequence, unique whole numbers, or short strings without spaces: a row key, not a signal.
- ``class_imbalance``: a classification target whose rarest class is below
  ``imbalance_threshold`` of the labelled rows.
- ``target_leakage``: a feature that alone predicts the target almost perfectly, out of fold
  (see :mod:`modelkeep.data.leakage`); always an ``error``.
- ``personal_data``: a column that looks like emails, phone numbers, card numbers, national
  IDs, IP addresses or person names (:func:`modelkeep.audit.scan_pii`); a ``warning``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.data.io import read_table
from modelkeep.data.kinds import column_kind, hashable, is_classification_target, numeric_values
from modelkeep.data.leakage import leakage_scores
from modelkeep.exceptions import InvalidInputError

__all__ = ["PROBLEM_KINDS", "SEVERITIES", "Problem", "check_target", "find_problems"]

PROBLEM_KINDS = (
    "missing_values",
    "duplicates",
    "constant_column",
    "id_like",
    "class_imbalance",
    "target_leakage",
    "personal_data",
)
SEVERITIES = ("info", "warning", "error")

_ID_MIN_ROWS = 10
_ID_MIN_DISTINCT = 0.95
_EXAMPLES = 5


@dataclass(frozen=True)
class Problem:
    """One problem found in the data.

    Attributes:
        kind: one of :data:`PROBLEM_KINDS`.
        column: the column concerned, or None for the whole table (``duplicates``).
        severity: ``info``, ``warning`` or ``error``.
        message: one line for people, saying what to do.
        details: the numbers behind it (JSON-safe: strings, ints, floats, lists).
    """

    kind: str
    column: str | None
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-safe dict."""
        return {
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        """The problem :meth:`to_dict` wrote."""
        return cls(
            kind=str(data["kind"]),
            column=None if data.get("column") is None else str(data["column"]),
            severity=str(data["severity"]),
            message=str(data["message"]),
            details=dict(data.get("details") or {}),
        )


def check_target(frame: pd.DataFrame, target: str | None) -> None:
    """Raise :class:`InvalidInputError` (``field="target"``) unless ``target`` is a column."""
    if target is None or target in frame.columns:
        return
    names = [str(name) for name in frame.columns]
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    raise InvalidInputError(
        f"target column {target!r} is not in the data; its columns are: {shown}",
        field="target",
    )


def find_problems(
    frame: Any,
    target: str | None = None,
    *,
    imbalance_threshold: float = 0.1,
    leakage_threshold: float = 0.98,
    sample_size: int = 5000,
    seed: int = 0,
) -> list[Problem]:
    """Find the problems listed in this module's docstring.

    Args:
        frame: the table (anything :func:`~modelkeep.data.read_table` reads).
        target: the target column, for ``class_imbalance`` and ``target_leakage``.
        imbalance_threshold: smallest acceptable share of the rarest class.
        leakage_threshold: out-of-fold balanced accuracy (classification) or R²
            (regression) from which a single feature counts as leaking the target.
        sample_size: rows sampled for the leakage check.
        seed: seed of that sample and of its folds.

    Returns:
        The problems, by kind in :data:`PROBLEM_KINDS` order, then by column order.

    Example:
        >>> table = pd.DataFrame({"x": [1.0, None, 3.0], "c": [0, 0, 0]})
        >>> [p.kind for p in find_problems(table)]
        ['missing_values', 'constant_column']
    """
    table = read_table(frame)
    check_target(table, target)
    table = _hashable_frame(table)
    id_columns = _id_like(table, target)
    problems = _missing(table)
    problems += _duplicates(table, ignore=[name for name, _ in id_columns])
    problems += _constant(table)
    problems += [_id_problem(name, reason) for name, reason in id_columns]
    if target is not None:
        problems += _imbalance(table[target], target, imbalance_threshold)
        problems += _leakage(table, target, leakage_threshold, sample_size, seed)
    return problems + _personal_data(table)


def _personal_data(frame: pd.DataFrame) -> list[Problem]:
    """Columns that look like personal data (:func:`modelkeep.audit.scan_pii`), examples
    masked."""
    from modelkeep.audit.pii import scan_pii

    return [
        Problem(
            "personal_data",
            finding.column,
            "warning",
            f"{finding.column!r} looks like {finding.kind.replace('_', ' ')}s "
            f"({finding.share:.0%} of sampled values): drop or mask it before sharing or "
            "training",
            {"kind": finding.kind, "share": finding.share, "examples": list(finding.examples)},
        )  # fmt: skip
        for finding in scan_pii(frame).findings
    ]


def _hashable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [hashable(frame.iloc[:, i]) for i in range(frame.shape[1])]
    if all(new is frame.iloc[:, i] for i, new in enumerate(columns)):
        return frame
    rebuilt = pd.concat(columns, axis=1)
    rebuilt.columns = frame.columns
    return rebuilt


def _missing(frame: pd.DataFrame) -> list[Problem]:
    n_rows = len(frame)
    counts = frame.isna().sum().to_numpy()
    problems = []
    for name, count in zip(frame.columns, counts, strict=True):
        if count == 0:
            continue
        rate = float(count) / n_rows
        problems.append(
            Problem(
                "missing_values",
                str(name),
                "error" if rate >= 0.5 else "warning",
                f"column {str(name)!r} is missing in {rate:.1%} of rows ({int(count)} of "
                f"{n_rows}); impute it or drop the column",
                {"missing_count": int(count), "missing_rate": rate},
            )
        )
    return problems


def _duplicates(frame: pd.DataFrame, ignore: list[str]) -> list[Problem]:
    compared = [name for name in frame.columns if str(name) not in ignore]
    if not compared or frame.empty:
        return []
    repeated = frame.duplicated(subset=compared, keep="first").to_numpy()
    count = int(repeated.sum())
    if count == 0:
        return []
    rate = count / len(frame)
    where = f" (ignoring ID-like {', '.join(ignore)})" if ignore else ""
    details = {
        "duplicate_rows": count,
        "duplicate_rate": rate,
        "ignored_columns": list(ignore),
        "example_rows": [int(i) for i in np.flatnonzero(repeated)[:_EXAMPLES]],
    }
    message = (
        f"{count} rows ({rate:.1%}) repeat an earlier row{where}; drop the duplicates "
        "before training"
    )
    return [Problem("duplicates", None, "warning", message, details)]


def _constant(frame: pd.DataFrame) -> list[Problem]:
    problems = []
    for position, name in enumerate(frame.columns):
        values = frame.iloc[:, position].dropna()
        distinct = int(values.nunique())
        if distinct > 1:
            continue
        value = str(values.iloc[0]) if distinct else None
        shown = f"a single value ({value})" if value is not None else "no values at all"
        problems.append(
            Problem(
                "constant_column",
                str(name),
                "warning",
                f"column {str(name)!r} has {shown}; drop it, it carries no information",
                {"value": value, "distinct_count": distinct},
            )
        )
    return problems


def _id_like(frame: pd.DataFrame, target: str | None) -> list[tuple[str, str]]:
    found = []
    for position, name in enumerate(frame.columns):
        if name == target:
            continue
        reason = _id_reason(frame.iloc[:, position])
        if reason is not None:
            found.append((str(name), reason))
    return found


def _id_reason(series: pd.Series[Any]) -> str | None:
    values = series.dropna()
    if len(values) < _ID_MIN_ROWS:
        return None
    distinct = int(values.nunique())
    if distinct < _ID_MIN_DISTINCT * len(values):
        return None
    kind = column_kind(values)
    if kind == "numeric":
        numbers = numeric_values(values)
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
            return None
        if numbers.max() - numbers.min() + 1 <= 2 * distinct:
            return "integer sequence"
        return "unique whole numbers" if distinct == len(values) else None
    if kind in ("categorical", "text"):
        sample = values.head(1000).astype(str)
        if not sample.str.contains(r"\s", regex=True).any():
            return "unique strings"
    return None


def _id_problem(name: str, reason: str) -> Problem:
    return Problem(
        "id_like",
        name,
        "warning",
        f"column {name!r} looks like a row ID ({reason}); drop it from the features",
        {"reason": reason},
    )


def _imbalance(series: pd.Series[Any], target: str, threshold: float) -> list[Problem]:
    if not is_classification_target(series):
        return []
    shares = series.value_counts(normalize=True, dropna=True)
    if len(shares) < 2 or float(shares.iloc[-1]) >= threshold:
        return []
    minority, share = str(shares.index[-1]), float(shares.iloc[-1])
    details = {
        "minority_class": minority,
        "minority_share": share,
        "majority_class": str(shares.index[0]),
        "majority_share": float(shares.iloc[0]),
        "threshold": threshold,
    }
    message = (
        f"target {target!r} is imbalanced: class {minority!r} is {share:.1%} of labelled rows "
        f"(below {threshold:.0%}); use class weights or resampling, and balanced metrics"
    )
    return [Problem("class_imbalance", target, "warning", message, details)]


def _leakage(
    frame: pd.DataFrame, target: str, threshold: float, sample_size: int, seed: int
) -> list[Problem]:
    problems = []
    scores = leakage_scores(frame, target, sample_size=sample_size, seed=seed)
    for name, (score, metric) in scores.items():
        if score < threshold:
            continue
        label = "balanced accuracy" if metric == "balanced_accuracy" else "R²"
        message = (
            f"column {name!r} alone predicts target {target!r} almost perfectly ({label} "
            f"{score:.3f} out of fold); check it is not derived from the target, then drop it"
        )
        details = {"score": score, "metric": metric, "threshold": threshold}
        problems.append(Problem("target_leakage", name, "error", message, details))
    return problems
