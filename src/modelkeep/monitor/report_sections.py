"""The sections of the monitoring report's HTML page (see :mod:`modelkeep.monitor.report`).

Each ``*_section`` function reads its part of the report dict, checking types as it goes
(:class:`~modelkeep.exceptions.InvalidInputError` names the wrong field), and returns HTML in
which every string from the data is escaped; ``None`` when the report has nothing for it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

import numpy as np

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.report_svg import (
    Bar,
    Interval,
    bar_chart_svg,
    format_number,
    interval_chart_svg,
)

__all__ = [
    "DriftColumn",
    "alerts_section",
    "as_float",
    "as_items",
    "as_mapping",
    "as_text",
    "details",
    "drift_columns",
    "drift_section",
    "multivariate_section",
    "note",
    "performance_section",
    "plural",
    "quality_section",
    "section",
    "summary_section",
]

_MAX_BARS = 25  # per drift chart: the columns furthest past their threshold
_P_SCORE_CAP = 16.0  # -log10 p beyond double precision's resolution says nothing more

# ---- reading the report -----------------------------------------------------------------------

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def as_float(value: Any, field: str) -> float | None:
    """A number of the report; None stays None, and JSON's ``"NaN"``/``"Infinity"``/
    ``"-Infinity"`` strings are read back as numbers.

    Raises:
        InvalidInputError: ``value`` is not a number (``field`` names where it was).
    """
    if value is None:
        return None
    if isinstance(value, str) and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise InvalidInputError(f"{field} must be a number, not {value!r:.60}", field=field)


def as_mapping(value: Any, field: str) -> Mapping[str, Any]:
    """An object of the report (None reads as empty); InvalidInputError names ``field``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field} must be an object", field=field)
    return value


def as_items(value: Any, field: str) -> list[Mapping[str, Any]]:
    """A list of objects of the report (None reads as empty)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidInputError(f"{field} must be a list of objects", field=field)
    return list(value)


def as_text(value: Any, field: str) -> str:
    """A name or message of the report as text (None reads as empty); never escaped here."""
    if value is None:
        return ""
    if isinstance(value, str | int | float | np.generic):
        return str(value)
    raise InvalidInputError(f"{field} must be text, not {type(value).__name__}", field=field)


@dataclass(frozen=True)
class DriftColumn:
    """One column's drift test, as the tables and charts show it."""

    name: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool

    @classmethod
    def read(cls, name: str, raw: Mapping[str, Any], field: str) -> DriftColumn:
        """The test of column ``name`` from its entry in ``DriftResult.to_dict()["columns"]``."""
        return cls(
            name=name,
            kind=as_text(raw.get("kind"), f"{field}.kind"),
            method=as_text(raw.get("method"), f"{field}.method"),
            statistic=as_float(raw.get("statistic"), f"{field}.statistic"),
            p_value=as_float(raw.get("p_value"), f"{field}.p_value"),
            threshold=as_float(raw.get("threshold"), f"{field}.threshold"),
            drifted=bool(raw.get("drifted")),
        )

    @property
    def severity(self) -> float:
        """How far past its threshold (> 1: past it); p-value tests compare the p-value."""
        thr = self.threshold
        if self.p_value is not None:
            if thr is None or not thr > 0 or math.isnan(self.p_value):
                return -math.inf
            return thr / max(self.p_value, 1e-300)
        if self.statistic is None or math.isnan(self.statistic):
            return -math.inf
        return self.statistic / thr if thr is not None and thr > 0 else self.statistic

    def cells(self) -> list[str]:
        """The row of the columns table (see ``COLUMN_HEADERS``)."""
        return [
            self.name, self.kind, self.method, format_number(self.statistic),
            format_number(self.p_value), format_number(self.threshold),
            "yes" if self.drifted else "no",
        ]  # fmt: skip


COLUMN_HEADERS = ("Column", "Kind", "Method", "Statistic", "p-value", "Threshold", "Drift")


def drift_columns(drift: Mapping[str, Any], field: str) -> list[DriftColumn]:
    """The columns of a ``DriftResult`` dict (keyed by name, or a list of entries naming
    their ``column``), drifted first, then furthest past the threshold."""
    raw = drift.get("columns") or {}
    if isinstance(raw, Mapping):
        pairs = [(str(name), as_mapping(value, f"{field}.columns")) for name, value in raw.items()]
    else:
        pairs = [(as_text(v.get("column"), f"{field}.columns"), v) for v in as_items(raw, field)]
    columns = [DriftColumn.read(name, value, f"{field}.columns.{name}") for name, value in pairs]
    return sorted(columns, key=lambda c: (not c.drifted, -c.severity, c.name))


# ---- HTML building blocks ---------------------------------------------------------------------


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = ()
) -> str:
    """A table of plain-text cells, each escaped; ``row_classes`` mark rows (``drifted``)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + ("\n</tbody>\n</table>")
    )


def details(summary: str, inner: str) -> str:
    """``inner`` HTML folded under an escaped ``summary`` line."""
    return f"<details>\n<summary>{escape(summary)}</summary>\n{inner}\n</details>"


def section(anchor: str, title: str, body: Iterable[str]) -> str:
    """A ``<section>`` with an escaped ``<h2>`` title around ready HTML parts."""
    return (
        f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n' + "\n".join(body) + ("\n</section>")
    )


def plural(count: int, noun: str) -> str:
    """``1 column``, ``3 columns``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def note(text: str) -> str:
    """A grey paragraph of escaped text."""
    return f'<p class="note">{escape(text)}</p>'


def _pct(value: float | None, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return format_number(value)
    return f"{value:+.2%}" if sign else f"{value:.2%}"


def _time_ms(value: Any, field: str) -> str:
    ms = as_float(value, field)
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None
    except (OverflowError, OSError, ValueError):
        return format_number(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _bar(column: DriftColumn) -> tuple[str, Bar] | None:
    thr, p, stat = column.threshold, column.p_value, column.statistic
    if thr is None or not math.isfinite(thr):
        return None
    tip = (
        f"{column.name}: {column.method} statistic {format_number(stat)}, p-value "
        f"{format_number(p)}, threshold {format_number(thr)}, drift {column.drifted}"
    )
    if p is not None:
        if not 0 < thr < 1 or math.isnan(p):
            return None
        score = min(-math.log10(max(p, 1e-300)), _P_SCORE_CAP)
        bar = Bar(column.name, score, -math.log10(thr), column.drifted, tip)
        return f"{column.method}: -log10(p-value)", bar
    if stat is None or math.isnan(stat):
        return None
    value = max(stat, 0.0) if math.isfinite(stat) else 10 * max(thr, 1.0)
    return f"{column.method}: statistic", Bar(
        column.name, value, max(thr, 0.0), column.drifted, tip
    )


def _drift_charts(columns: list[DriftColumn]) -> list[str]:
    groups: dict[str, list[Bar]] = {}
    for column in columns:  # already sorted furthest-past-threshold first
        found = _bar(column)
        if found is not None:
            groups.setdefault(found[0], []).append(found[1])
    figures = []
    for axis, bars in groups.items():
        shown = bars[:_MAX_BARS]
        more = f" (the {len(shown)} furthest of {len(bars)})" if len(bars) > len(shown) else ""
        figures.append(
            f"<figure>{bar_chart_svg(shown, axis_label=axis)}"
            f"<figcaption>{escape(axis + more)}</figcaption></figure>"
        )
    return [f'<div class="charts">{"".join(figures)}</div>'] if figures else []


def drift_section(report: Mapping[str, Any], columns: list[DriftColumn]) -> str:
    """Score charts per method, the drifted columns' table, the others folded, then the
    prediction drift."""
    if not columns:
        return section("drift", "Drift", [note("No column was compared.")])
    drifted = [c for c in columns if c.drifted]
    calm = [c for c in columns if not c.drifted]
    body = _drift_charts(columns)
    if drifted:
        rows = [c.cells() for c in drifted]
        body.append(table(COLUMN_HEADERS, rows, ["drifted"] * len(rows)))
    else:
        body.append(note("No column drifted."))
    if calm:
        listing = table(COLUMN_HEADERS, [c.cells() for c in calm])
        body.append(details(f"{plural(len(calm), 'column')} without drift", listing))
    prediction = report.get("prediction_drift")
    if prediction is not None:
        found = drift_columns(as_mapping(prediction, "prediction_drift"), "prediction_drift")
        body.append("<h3>Prediction drift</h3>")
        rows = [c.cells() for c in found]
        body.append(table(COLUMN_HEADERS, rows, ["drifted" if c.drifted else "" for c in found]))
    return section("drift", "Drift", body)


_QUALITY_GROUPS = ("missing_rate", "missing_rate_change", "out_of_range", "unseen_categories")
_QUALITY_HEADERS = ("Column", "Missing", "Missing change", "Out of range", "Unseen categories")


def _quality_rows(quality: Mapping[str, Any]) -> dict[str, list[float | None]]:
    rows: dict[str, list[float | None]] = {}
    for i, group in enumerate(_QUALITY_GROUPS):
        for name, value in as_mapping(quality.get(group), f"quality.{group}").items():
            row = rows.setdefault(str(name), [None] * len(_QUALITY_GROUPS))
            row[i] = as_float(value, f"quality.{group}.{name}")
    return rows


def _worst(row: list[float | None]) -> float:
    """The largest problem share of a column (missing-rate increase, out of range, unseen)."""
    return max((v for v in row[1:] if v is not None and not math.isnan(v)), default=0.0)


def quality_section(report: Mapping[str, Any]) -> str | None:
    """Schema violations, then the columns with a quality problem, worst first."""
    if report.get("quality") is None:
        return None
    quality = as_mapping(report["quality"], "quality")
    rows = _quality_rows(quality)
    order = sorted(rows, key=lambda n: (-_worst(rows[n]), n))
    cells = {
        n: [n, _pct(rows[n][0]), _pct(rows[n][1], True), *map(_pct, rows[n][2:])] for n in order
    }
    flagged = [n for n in order if _worst(rows[n]) > 0]
    calm = [n for n in order if _worst(rows[n]) <= 0]
    body = []
    raw = quality.get("schema_violations") or []
    if not isinstance(raw, list | tuple):
        raise InvalidInputError("quality.schema_violations must be a list", field="quality")
    if raw:
        items = "".join(f"<li>{escape(as_text(v, 'quality.schema_violations'))}</li>" for v in raw)
        body.append(f'<p>Schema violations:</p><ul class="bad">{items}</ul>')
    if flagged:
        body.append(table(_QUALITY_HEADERS, [cells[n] for n in flagged], ["flag"] * len(flagged)))
    if calm:
        listing = table(_QUALITY_HEADERS, [cells[n] for n in calm])
        body.append(details(f"{plural(len(calm), 'column')} without a quality problem", listing))
    return section("quality", "Data quality", body or [note("Nothing was checked.")])


def multivariate_section(report: Mapping[str, Any]) -> str | None:
    """PCA reconstruction error and domain classifier results, one row each."""
    results = as_items(report.get("multivariate"), "multivariate")
    if not results:
        return None
    headers = ("Method", "Statistic", "Threshold", "Lower", "Upper", "Drift")
    rows, classes = [], []
    for i, result in enumerate(results):
        field = f"multivariate.{i}"
        numbers = [
            format_number(as_float(result.get(k), f"{field}.{k}"))
            for k in ("statistic", "threshold", "lower", "upper")
        ]
        drifted = bool(result.get("drifted"))
        rows.append([as_text(result.get("method"), f"{field}.method"), *numbers])
        rows[-1].append("yes" if drifted else "no")
        classes.append("drifted" if drifted else "")
    return section("multivariate", "Multivariate drift", [table(headers, rows, classes)])


def performance_section(report: Mapping[str, Any]) -> str | None:
    """Label-free estimates with their bands (chart and table), then realized metrics."""
    performance = as_mapping(report.get("performance"), "performance")
    realized = {
        str(k): as_float(v, f"performance.realized.{k}")
        for k, v in as_mapping(performance.get("realized"), "performance.realized").items()
    }
    estimated = as_mapping(performance.get("estimated"), "performance.estimated")
    if not realized and not estimated:
        return None
    body = []
    if estimated:
        intervals = []
        for name, raw in estimated.items():
            field, entry = (
                f"performance.estimated.{name}",
                as_mapping(raw, "performance.estimated"),
            )
            value, lower, upper = (as_float(entry.get(k), f"{field}.{k}") for k in _BAND)
            intervals.append(Interval(str(name), value, lower, upper, realized.get(str(name))))
        body.append("<h3>Estimated without labels (band: +-3 standard errors)</h3>")
        body.append(f"<figure>{interval_chart_svg(intervals)}</figure>")
        headers = ("Metric", "Estimate", "Lower", "Upper", "Realized")
        rows = [
            [i.label, *map(format_number, (i.value, i.lower, i.upper, i.realized))]
            for i in intervals
        ]
        body.append(table(headers, rows))
    if realized:
        body.append("<h3>Realized (labelled rows)</h3>")
        body.append(
            table(("Metric", "Value"), [[k, format_number(v)] for k, v in realized.items()])
        )
    return section("performance", "Performance", body)


_BAND = ("value", "lower", "upper")


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def alerts_section(report: Mapping[str, Any]) -> str:
    """The alerts fired for this window, critical first, with their delivery results."""
    alerts = as_items(report.get("alerts"), "alerts")
    if not alerts:
        return section("alerts", "Alerts", [note("No alert fired for this window.")])
    headers = ("Severity", "Rule", "Metric", "Value", "Message", "Fired", "Delivery")
    rows = []
    for i, alert in enumerate(alerts):
        field = f"alerts.{i}"
        delivery = as_mapping(alert.get("delivery"), f"{field}.delivery")
        rows.append([
            as_text(alert.get(k), f"{field}.{k}") for k in ("severity", "rule", "metric")
        ] + [
            format_number(as_float(alert.get("value"), f"{field}.value")),
            as_text(alert.get("message"), f"{field}.message"),
            _time_ms(alert.get("fired_at_ms"), f"{field}.fired_at_ms"),
            "; ".join(f"{k}: {as_text(v, f'{field}.delivery')}" for k, v in delivery.items()),
        ])  # fmt: skip
    rows.sort(key=lambda r: (_SEVERITY_ORDER.get(r[0], 3), r[1]))
    classes = ["drifted" if r[0] == "critical" else "" for r in rows]
    return section("alerts", "Alerts", [table(headers, rows, classes)])


def summary_section(report: Mapping[str, Any], columns: list[DriftColumn]) -> str:
    """Cards at the top: dataset drift, drifted columns and share, rows, alerts."""
    drift = as_mapping(report["drift"], "drift")
    window = as_mapping(report["window"], "window")
    rows = as_float(window.get("rows"), "window.rows")
    share = as_float(drift.get("drift_share"), "drift.drift_share")
    drifted = sum(c.drifted for c in columns)
    alerts = as_items(report.get("alerts"), "alerts")
    critical = sum(as_text(a.get("severity"), "alerts.severity") == "critical" for a in alerts)
    dataset = bool(drift.get("dataset_drift"))
    cards = [
        ("Dataset drift", "yes" if dataset else "no", "bad" if dataset else "good"),
        ("Drifted columns", f"{drifted} of {len(columns)} (share {format_number(share)})", ""),
        ("Rows in window", f"{rows:,.0f}" if rows is not None and math.isfinite(rows) else "-",
         ""),
        ("Alerts", f"{len(alerts)}" + (f" ({critical} critical)" if critical else ""),
         "bad" if alerts else ""),
    ]  # fmt: skip
    body = "".join(
        f'<div class="card {css}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
        for label, value, css in cards
    )
    return f'<div class="cards">{body}</div>'
