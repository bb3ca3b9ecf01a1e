"""A monitoring window's report as one self-contained HTML page, and its JSON twin.

The report is a plain dict built by the runner (:mod:`modelkeep.monitor.runner`)::

    {"model": str, "version": str, "window": {"start": iso, "end": iso, "rows": int},
     "drift": DriftResult.to_dict(), "prediction_drift": DriftResult.to_dict() | None,
     "distributions": {column: {"kind": "numeric", "edges": [...], "reference": [counts],
                                "current": [counts]}
                               | {"kind": "categorical", "reference": {value: n},
                                  "current": {value: n}}},
     "quality": QualityResult.to_dict() | None,
     "multivariate": [MultivariateResult dicts] | None,
     "performance": {"realized": {metric: value},
                     "estimated": {metric: {"value", "lower", "upper"}}} | None,
     "history": [{"window_end": iso, "drift_share": x, "metrics": {flat key: value}}],
     "alerts": [Alert dicts]}

Only ``model``, ``window`` and ``drift`` are required. The page follows the model card's rules
(:mod:`modelkeep.registry.card_render`): inline CSS, charts as inline SVG drawn by hand
(:mod:`modelkeep.monitor.report_svg`), no script, no URL, a Content-Security-Policy that forbids
both, and every string from the data (model, column and category names) escaped. It stays
readable with hundreds of columns: columns are sorted by how far past their threshold they are,
and those that did not drift are folded away in ``<details>``.

:func:`render_json` writes the same dict as strict JSON: non-finite numbers become the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, as the CLI and the REST API write them, and
:func:`render_html` reads those strings back as numbers, so a report loaded from its JSON
renders the same page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from html import escape
from typing import Any

import numpy as np

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.report_sections import (
    DriftColumn,
    alerts_section,
    as_float,
    as_items,
    as_mapping,
    as_text,
    details,
    drift_columns,
    drift_section,
    multivariate_section,
    note,
    performance_section,
    plural,
    quality_section,
    section,
    summary_section,
)
from modelkeep.monitor.report_svg import (
    CURRENT_COLOR,
    REFERENCE_COLOR,
    Histogram,
    Series,
    format_number,
    histogram_svg,
    line_chart_svg,
)

__all__ = ["render_html", "render_json"]

_MAX_CATEGORIES = 12  # bars per categorical histogram; the rest are summed into "(other)"
_MAX_HISTORY_CHARTS = 12
# What the "over time" charts show, in this order; per-column numbers stay in the run metrics.
_HISTORY_PREFIXES = ("performance.", "estimated.", "prediction_drift.statistic", "multivariate.")


def _check(report: Any) -> Mapping[str, Any]:
    if not isinstance(report, Mapping):
        raise InvalidInputError("the report must be an object", field="report")
    for key in ("model", "window", "drift"):
        if report.get(key) is None:
            raise InvalidInputError(f"the report needs {key!r}", field=key)
    return report


# ---- JSON -------------------------------------------------------------------------------------


def _jsonable(value: Any, field: str) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, field) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise InvalidInputError(f"{field}: a {type(value).__name__} cannot be written", field=field)


def render_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON (no NaN literals), with the same numbers as the HTML page.

    Args:
        report: the report dict (see the module docstring).

    Returns:
        Indented JSON text; NaN and infinities are ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Raises:
        InvalidInputError: ``model``, ``window`` or ``drift`` is missing, or a value is neither
            a number, text, a list nor an object.

    Example:
        >>> text = render_json({"model": "churn", "window": {}, "drift": {"drift_share": 0.0}})
        >>> json.loads(text)["drift"]["drift_share"]
        0.0
    """
    data = _jsonable(_check(report), "report")
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


# ---- distributions: reference vs current per column ------------------------------------------


def _sequence(values: Any, field: str) -> list[Any]:
    if isinstance(values, list | tuple):
        return list(values)
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    raise InvalidInputError(f"{field} must be a list", field=field)


def _shares(counts: Sequence[float | None]) -> list[float]:
    """Counts as shares of their total; missing, negative and non-finite counts count 0."""
    kept = [c if c is not None and math.isfinite(c) and c > 0 else 0.0 for c in counts]
    total = sum(kept)
    return [c / total if total > 0 else 0.0 for c in kept]


def _histogram(dist: Any, field: str) -> Histogram:
    """The :class:`Histogram` of one entry of the report's ``distributions``."""
    dist = as_mapping(dist, field)
    kind = dist.get("kind") or ("numeric" if "edges" in dist else "categorical")
    if kind == "categorical":
        return _categorical(dist, field)
    if kind != "numeric":
        raise InvalidInputError(f"{field}.kind must be numeric or categorical", field=field)
    edges = [as_float(e, f"{field}.edges") for e in _sequence(dist.get("edges"), f"{field}.edges")]
    reference, current = (
        [as_float(c, f"{field}.{side}") for c in _sequence(dist.get(side), f"{field}.{side}")]
        for side in ("reference", "current")
    )
    finite = tuple(e for e in edges if e is not None)
    if len(finite) != len(reference) + 1 or len(current) != len(reference):
        raise InvalidInputError(
            f"{field}: needs one more edge than counts in reference and current", field=field
        )
    labels = tuple(
        f"[{format_number(a)}, {format_number(b)})"
        for a, b in zip(finite, finite[1:], strict=False)
    )
    return Histogram(labels, tuple(_shares(reference)), tuple(_shares(current)), finite)


def _categorical(dist: Mapping[str, Any], field: str) -> Histogram:
    """Categories by their larger share; past the first few, and the summary's ``__other__``,
    they are summed into one ``(other)`` bar."""
    sides = []
    for side in ("reference", "current"):
        counts = as_mapping(dist.get(side), f"{field}.{side}")
        values = [as_float(v, f"{field}.{side}") for v in counts.values()]
        sides.append(dict(zip(map(str, counts), _shares(values), strict=True)))
    ref, cur = sides
    names = sorted(
        (set(ref) | set(cur)) - {"__other__"},
        key=lambda k: (-max(ref.get(k, 0.0), cur.get(k, 0.0)), k),
    )
    kept, rest = names[:_MAX_CATEGORIES], {*names[_MAX_CATEGORIES:], "__other__"}
    labels = list(kept)
    reference = [ref.get(k, 0.0) for k in kept]
    current = [cur.get(k, 0.0) for k in kept]
    if any(k in ref or k in cur for k in rest):
        labels.append("(other)")
        reference.append(sum(ref.get(k, 0.0) for k in rest))
        current.append(sum(cur.get(k, 0.0) for k in rest))
    return Histogram(tuple(labels), tuple(reference), tuple(current))


def _histogram_card(name: str, hist: Histogram, column: DriftColumn | None) -> str:
    line, css = "", ""
    if column is not None:
        on_p = column.p_value is not None
        score = column.p_value if on_p else column.statistic
        line = (
            f"{column.method} {'p-value' if on_p else 'statistic'} {format_number(score)}, "
            f"threshold {format_number(column.threshold)}" + (", drift" if column.drifted else "")
        )
        css = " drifted" if column.drifted else ""
    return (
        f'<div class="hist{css}"><h3>{escape(name)}</h3><p class="note">{escape(line)}</p>'
        f"{histogram_svg(hist, label=f'{name}: reference vs current')}</div>"
    )


def _distributions_section(report: Mapping[str, Any], columns: list[DriftColumn]) -> str | None:
    dists = as_mapping(report.get("distributions"), "distributions")
    if not dists:
        return None
    hists = {str(name): _histogram(d, f"distributions.{name}") for name, d in dists.items()}
    by_name = {c.name: c for c in columns}
    order = [c.name for c in columns if c.name in hists]
    order += sorted(set(hists) - set(order))
    hot = [n for n in order if n in by_name and by_name[n].drifted]
    rest = [n for n in order if n not in hot]
    body = [
        f'<p class="legend"><span style="background:{REFERENCE_COLOR}"></span>reference '
        f'<span style="background:{CURRENT_COLOR}"></span>current (share of rows in each bin; '
        "numeric bins are placed by value and drawn as densities)</p>"
    ]
    for names, fold in ((hot, False), (rest, True)):
        if names:
            cards = "".join(_histogram_card(n, hists[n], by_name.get(n)) for n in names)
            grid = f'<div class="grid">{cards}</div>'
            body.append(
                details(f"{plural(len(names), 'column')} without drift", grid) if fold else grid
            )
    return section("distributions", "Distributions: reference vs current", body)


# ---- history ----------------------------------------------------------------------------------


def _when(value: Any, field: str) -> tuple[float | None, str]:
    """A window end as seconds since the epoch and as a label (ISO text or epoch ms)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None, value
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.timestamp(), moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    ms = as_float(value, field)
    if ms is None or not math.isfinite(ms):
        return None, format_number(ms)
    return ms / 1000, datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _history_rank(key: str) -> int | None:
    for rank, prefix in enumerate(_HISTORY_PREFIXES):
        if key.startswith(prefix):
            multivariate_flag = prefix == "multivariate." and not key.endswith(".statistic")
            return None if multivariate_flag else rank
    return None


def _history_values(history: list[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per drawn metric, one ``{value, lower, upper}`` per window (estimates' bands joined)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(history):
        field = f"history.{i}"
        points = {"drift share": {"value": entry.get("drift_share")}}
        for key, value in as_mapping(entry.get("metrics"), f"{field}.metrics").items():
            base, _, part = str(key).rpartition(".")
            if isinstance(value, Mapping):
                points[str(key)] = dict(value)
            elif part in _BAND and base:
                points.setdefault(base, {})[part] = value
            else:
                points.setdefault(str(key), {})["value"] = value
        for key, parts in points.items():
            column = found.setdefault(key, [{} for _ in history])
            column[i] = {p: as_float(parts.get(p), f"{field}.metrics.{key}") for p in _BAND}
    return found


_BAND = ("value", "lower", "upper")


def _history_series(history: list[Mapping[str, Any]]) -> tuple[list[Series], int]:
    """The drift share and the drawn metrics over the windows (oldest first), and how many
    more series there were than charts."""
    stamps = [_when(e.get("window_end"), f"history.{i}.window_end") for i, e in enumerate(history)]
    by_time = all(t is not None for t, _ in stamps)
    order = sorted(range(len(history)), key=lambda i: stamps[i][0] or 0.0) if by_time else None
    order = order or list(range(len(history)))
    xs = tuple(stamps[i][0] or 0.0 if by_time else float(n) for n, i in enumerate(order))
    labels = tuple(stamps[i][1] for i in order)
    values = _history_values(history)
    keys = ["drift share"] + sorted(
        (k for k in values if _history_rank(k) is not None), key=lambda k: (_history_rank(k), k)
    )
    series = []
    for key in keys:
        points = [values[key][i] for i in order]
        if not any(p.get("value") is not None and math.isfinite(p["value"]) for p in points):
            continue
        band = [any(p.get(b) is not None for p in points) for b in ("lower", "upper")]
        lower = tuple(p.get("lower") for p in points) if all(band) else None
        upper = tuple(p.get("upper") for p in points) if all(band) else None
        y = tuple(p.get("value") for p in points)
        series.append(Series(key, xs, labels, y, lower, upper))
    return series[:_MAX_HISTORY_CHARTS], max(len(series) - _MAX_HISTORY_CHARTS, 0)


def _history_section(report: Mapping[str, Any]) -> str | None:
    history = as_items(report.get("history"), "history")
    if not history:
        return None
    series, dropped = _history_series(history)
    charts = [
        f"<figure>{line_chart_svg(s)}<figcaption>{escape(s.title)}</figcaption></figure>"
        for s in series
    ]
    if dropped:
        charts.append(note(f"{dropped} more series are stored in the monitoring runs' metrics."))
    return section("history", "Over time", charts or [note("No numbers to draw yet.")])


# ---- the page ---------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  background: #fff; margin: 0; line-height: 1.5; }
main { max-width: 72rem; margin: 0 auto; padding: 2rem 1.5rem; }
h1 { margin-bottom: 0.25rem; overflow-wrap: anywhere; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.3rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 0.75rem 0 0.25rem; overflow-wrap: anywhere; }
.lead { color: #59636e; margin-top: 0; } .note { color: #59636e; margin: 0.25rem 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5rem 1rem; min-width: 10rem; }
.card .label { color: #59636e; font-size: 0.875rem; } .card .value { font-size: 1.25rem; }
.card.bad .value, ul.bad { color: #cf222e; } .card.good .value { color: #1a7f37; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left;
  vertical-align: top; } th { background: #f6f8fa; }
td:first-child { max-width: 24rem; overflow-wrap: anywhere; }
tr.drifted td, tr.flag td { background: #ffebe9; }
details { margin: 0.5rem 0; } summary { cursor: pointer; color: #0969da; }
figure { margin: 0.75rem 0; } figcaption { color: #59636e; font-size: 0.875rem; }
.charts { display: flex; flex-wrap: wrap; gap: 0 2rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(310px, 1fr));
  gap: 0.75rem; }
.hist { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.25rem 0.5rem; }
.hist.drifted { border-color: #cf222e; }
.legend span { display: inline-block; width: 0.8rem; height: 0.8rem; margin: 0 0.25rem; }
footer { color: #59636e; font-size: 0.875rem; padding: 0 1.5rem 2rem; text-align: center; }
"""

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; "
    "base-uri 'none'"
)


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no script, no URL).

    Args:
        report: the report dict (see the module docstring); numbers may be Python or numpy
            numbers, or the ``"NaN"``/``"Infinity"`` strings of :func:`render_json`.

    Returns:
        The page's HTML text.

    Raises:
        InvalidInputError: ``model``, ``window`` or ``drift`` is missing or a value has the wrong
            type; ``field`` names it.

    Example:
        >>> page = render_html({"model": "churn", "window": {"rows": 10}, "drift": {}})
        >>> "<script" in page
        False
    """
    report = _check(report)
    model = as_text(report["model"], "model")
    version = as_text(report.get("version"), "version")
    window = as_mapping(report["window"], "window")
    start, end = (as_text(window.get(k), f"window.{k}") for k in ("start", "end"))
    title = f"{model} version {version}" if version else model
    columns = drift_columns(as_mapping(report["drift"], "drift"), "drift")
    sections = [
        drift_section(report, columns),
        _distributions_section(report, columns),
        quality_section(report),
        multivariate_section(report),
        performance_section(report),
        _history_section(report),
        alerts_section(report),
    ]
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Monitoring report: {escape(title)}</title>", f"<style>{_CSS}</style>",
        "</head>", "<body>", "<main>", f"<h1>Monitoring report: {escape(title)}</h1>",
        f'<p class="lead">Window {escape(start)} to {escape(end)}</p>',
        summary_section(report, columns),
        *(s for s in sections if s is not None),
        "</main>", "<footer>Generated by modelkeep.</footer>", "</body>", "</html>",
    ]  # fmt: skip
    return "\n".join(parts) + "\n"
