"""``scan_pii``: which columns of a table look like personal data.

Each text (and integer) column is scanned on a sample of its rows; a column is reported for a
kind when at least ``min_share`` of its sampled non-empty values match:

* ``email``: an address anywhere in the value (so free text that carries one counts);
* ``phone``: the whole value is an E.164 number (``+14155552671``), an international number
  with separators (``+44 20 7946 0958``) or a national one with separators and 10-11 digits
  (``(415) 555-2671``, ``020 7946 0958``); bare digit runs are not phones (too many IDs are);
* ``card_number``: 13-19 digits, spaces or dashes between them, passing the Luhn check;
* ``national_id``: the whole value matches one of :data:`NATIONAL_ID_PATTERNS` (US SSN,
  UK NINO, Canadian SIN with its Luhn check); :func:`register_national_id` adds more;
* ``ip_address``: the whole value is an IPv4 or IPv6 address (:mod:`ipaddress`);
* ``person_name``: the column name says so (``name``, ``first_name``, ``surname``,
  ``customer_name``...) and the values are 1-4 words of letters; or, without such a name,
  at least 80% of the values are 2-3 capitalised words *and* they are varied (at least 10
  distinct, half of them unique), so a categorical ``plan`` of ``Gold Plus`` is not a name.

Examples in a finding are masked (``j***@example.com``, ``**** **** **** 1111``), never raw.
:func:`check_before_logging` is the hook for data profiling and dataset logging: it warns,
or refuses the data when asked to block.

Example:
    >>> import pandas as pd
    >>> report = scan_pii(pd.DataFrame({"contact": ["jane@example.com", "bob@corp.io"]}))
    >>> [(f.column, f.kind, f.share, f.examples) for f in report.findings]
    [('contact', 'email', 1.0, ('j***@example.com', 'b***@corp.io'))]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.audit.pii_detect import (
    EMAIL,
    NATIONAL_ID_PATTERNS,
    NationalIdPattern,
    is_card,
    is_ip,
    is_phone,
    mask_email,
    mask_ip,
    mask_keep_last,
    mask_name,
    name_matches,
    national_id,
    register_national_id,
)
from modelkeep.exceptions import InvalidInputError

__all__ = [
    "KINDS",
    "NATIONAL_ID_PATTERNS",
    "NationalIdPattern",
    "PiiFinding",
    "PiiReport",
    "check_before_logging",
    "register_national_id",
    "scan_pii",
]

_log = logging.getLogger("modelkeep.audit")

KINDS = ("email", "phone", "card_number", "national_id", "ip_address", "person_name")
"""The kinds of personal data :func:`scan_pii` looks for, in report order."""

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class PiiFinding:
    """One column that looks like one kind of personal data.

    Attributes:
        column: the column's name.
        kind: one of :data:`KINDS`.
        share: matching values over the sampled non-empty values.
        matches: sampled values that matched.
        sampled: sampled non-empty values.
        examples: up to three matching values, masked.
        detail: which pattern matched (national IDs) or why a name was suspected.
    """

    column: str
    kind: str
    share: float
    matches: int
    sampled: int
    examples: tuple[str, ...] = ()
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "column": self.column,
            "kind": self.kind,
            "share": self.share,
            "matches": self.matches,
            "sampled": self.sampled,
            "examples": list(self.examples),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class PiiReport:
    """What :func:`scan_pii` found.

    Attributes:
        findings: one per (column, kind), in column order.
        rows: rows of the table.
        sampled_rows: rows scanned.
        columns_scanned: the text and integer columns looked at.
    """

    findings: tuple[PiiFinding, ...]
    rows: int
    sampled_rows: int
    columns_scanned: tuple[str, ...]

    @property
    def found(self) -> bool:
        """Whether any column looks like personal data."""
        return bool(self.findings)

    @property
    def columns(self) -> list[str]:
        """The columns with at least one finding, in table order."""
        return list(dict.fromkeys(finding.column for finding in self.findings))

    def summary(self) -> str:
        """One line: ``email in 'contact' (100%); phone in 'tel' (95%)``."""
        return "; ".join(f"{f.kind} in {f.column!r} ({f.share:.0%})" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "found": self.found,
            "rows": self.rows,
            "sampled_rows": self.sampled_rows,
            "columns_scanned": list(self.columns_scanned),
            "findings": [finding.to_dict() for finding in self.findings],
        }


# ---- the scan ---------------------------------------------------------------------------------


def _finding(
    column: str,
    kind: str,
    matched: list[str],
    sampled: int,
    min_share: float,
    mask: Callable[[str], str],
    detail: str = "",
) -> PiiFinding | None:
    share = len(matched) / sampled if sampled else 0.0
    if not matched or share < min_share:
        return None
    examples = tuple(dict.fromkeys(mask(v) for v in matched))[:MAX_EXAMPLES]
    return PiiFinding(column, kind, share, len(matched), sampled, examples, detail)


def _column_findings(column: str, values: list[str], min_share: float) -> list[PiiFinding]:
    sampled = len(values)
    emails = [m.group(0) for m in map(EMAIL.search, values) if m is not None]
    ids = [(v, name) for v in values if (name := national_id(v)) is not None]
    id_names = ", ".join(dict.fromkeys(name for _, name in ids))
    names, needed, why = name_matches(column, values, min_share)
    found = [
        _finding(column, "email", emails, sampled, min_share, mask_email),
        _finding(column, "phone", [v for v in values if is_phone(v)], sampled, min_share,
                 lambda v: mask_keep_last(v, 2)),
        _finding(column, "card_number", [v for v in values if is_card(v)], sampled, min_share,
                 lambda v: mask_keep_last(v, 4)),
        _finding(column, "national_id", [v for v, _ in ids], sampled, min_share,
                 lambda v: mask_keep_last(v, 2), id_names),
        _finding(column, "ip_address", [v for v in values if is_ip(v)], sampled, min_share,
                 mask_ip),
        _finding(column, "person_name", names, sampled, needed, mask_name, why),
    ]  # fmt: skip
    return [finding for finding in found if finding is not None]


def _scannable(series: pd.Series[Any]) -> bool:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_integer_dtype(dtype)
    )


def _text_values(series: pd.Series[Any]) -> list[str]:
    texts = (str(value).strip() for value in series.dropna().tolist())
    return [text for text in texts if text]


def scan_pii(
    frame: Any, *, sample_rows: int = 1000, min_share: float = 0.2, seed: int = 0
) -> PiiReport:
    """Find the columns of a table that look like personal data (see the module docstring).

    Args:
        frame: a DataFrame, a numpy array, or anything :func:`~modelkeep.data.read_table`
            reads (a ``.csv``/``.tsv``/``.parquet``/``.json`` path, a polars frame).
        sample_rows: rows scanned (a seeded random sample when the table is longer).
        min_share: the least share of a column's sampled values that must match for a
            finding (names without a hinting column name need 80%).
        seed: the sampling seed.

    Raises:
        InvalidInputError: unreadable data, ``sample_rows`` below 1 or ``min_share`` not in
            (0, 1].
    """
    from modelkeep.data.io import read_table

    if sample_rows < 1:
        raise InvalidInputError(
            f"sample_rows must be >= 1, got {sample_rows}", field="sample_rows"
        )
    if not 0.0 < min_share <= 1.0:
        raise InvalidInputError(f"min_share must be in (0, 1], got {min_share}", field="min_share")
    table = pd.DataFrame(frame) if isinstance(frame, np.ndarray) else read_table(frame)
    sample = table.sample(n=sample_rows, random_state=seed) if len(table) > sample_rows else table
    findings: list[PiiFinding] = []
    scanned: list[str] = []
    for position in range(sample.shape[1]):
        series = sample.iloc[:, position]
        if not _scannable(series):
            continue
        column = str(sample.columns[position])
        scanned.append(column)
        findings.extend(_column_findings(column, _text_values(series), min_share))
    return PiiReport(tuple(findings), int(len(table)), int(len(sample)), tuple(scanned))


def check_before_logging(frame: Any, *, block: bool, sample_rows: int = 1000) -> PiiReport:
    """The PII hook of data profiling and dataset logging: scan ``frame``; when something is
    found, refuse it if ``block`` is set, else log a warning.

    Returns:
        The :class:`PiiReport` (so the caller can record it).

    Raises:
        InvalidInputError: (``field="data"``) ``block`` is set and a column looks like
            personal data; the message names the columns and kinds.
    """
    report = scan_pii(frame, sample_rows=sample_rows)
    if report.found and block:
        raise InvalidInputError(
            f"the data holds what looks like personal data ({report.summary()}); drop or "
            f"mask the column(s) {', '.join(report.columns)}, or turn PII blocking off",
            field="data",
        )
    if report.found:
        _log.warning("the data may hold personal data: %s", report.summary())
    return report
