"""Hand-written SVG charts for the monitoring report.

Each function returns one ``<svg>`` element as text, to be inlined in an HTML page. There is no
``xmlns`` attribute (an HTML parser puts an inline ``<svg>`` in the SVG namespace by itself,
and the page must hold no URL), no script and no external reference. Every label goes through
:func:`html.escape`, and each mark carries a ``<title>`` with the exact numbers, which browsers
show on hover without any script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeGuard

__all__ = [
    "CURRENT_COLOR",
    "REFERENCE_COLOR",
    "Bar",
    "Histogram",
    "Interval",
    "Series",
    "bar_chart_svg",
    "format_number",
    "histogram_svg",
    "interval_chart_svg",
    "line_chart_svg",
]

REFERENCE_COLOR = "#8c959f"
CURRENT_COLOR = "#0969da"
_ALERT_COLOR = "#cf222e"
_BAND_COLOR = "#ddf4ff"
_AXIS_COLOR = "#59636e"
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def format_number(value: float | None, digits: int = 4) -> str:
    """Short text for a number: ``-`` for None, ``NaN``, ``inf``, else ``digits`` significant."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _open(width: float, height: float, label: str) -> str:
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}"'
        f' role="img" aria-label="{escape(label)}" {_FONT}>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{_AXIS_COLOR}"{extra}>'
        f"{escape(text)}</text>"
    )


# ---- histograms: reference vs current ---------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares per bin, ready to draw.

    Attributes:
        labels: one per bin: a category, or a ``[a, b)`` range.
        reference: share of the reference rows in each bin (0 to 1).
        current: share of the current rows in each bin.
        edges: the bin edges of a numeric column (one more than the bins). When they are finite
            and increasing, bins are placed by value and drawn as densities; otherwise each bin
            gets an equal slot.
    """

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None


_HIST_W, _HIST_PLOT_H, _HIST_PAD = 300.0, 96.0, 6.0


def _hist_slots(hist: Histogram) -> tuple[list[tuple[float, float]], bool]:
    """Each bin's [x0, x1) as a fraction of the plot width, and whether that is by value."""
    edges = hist.edges
    if edges is not None and all(math.isfinite(e) for e in edges):
        if all(b > a for a, b in zip(edges, edges[1:], strict=False)):
            span = edges[-1] - edges[0]
            return [((a - edges[0]) / span, (b - edges[0]) / span) for a, b in _pairs(edges)], True
    n = max(len(hist.labels), 1)
    return [(i / n, (i + 1) / n) for i in range(len(hist.labels))], False


def _pairs(edges: Sequence[float]) -> list[tuple[float, float]]:
    return list(zip(edges, edges[1:], strict=False))


def histogram_svg(hist: Histogram, *, label: str) -> str:
    """Side-by-side bars of the reference and current shares in each bin.

    Numeric bins placed by value are drawn as densities (share / width), so uneven (quantile)
    bins keep their true shape; category labels are written under their bars.
    """
    slots, by_value = _hist_slots(hist)
    heights = [
        (r / (x1 - x0), c / (x1 - x0)) if by_value else (r, c)
        for (x0, x1), r, c in zip(slots, hist.reference, hist.current, strict=True)
    ]
    top = max((h for pair in heights for h in pair if math.isfinite(h)), default=0.0) or 1.0
    categorical = hist.edges is None
    base = _HIST_PAD + _HIST_PLOT_H
    parts = [_open(_HIST_W, base + (58.0 if categorical else 18.0), label)]
    # Category names are written slanted down to the left of their bars: room for the first.
    left = _HIST_PAD + (40.0 if categorical else 0.0)
    plot_w = _HIST_W - _HIST_PAD - left
    for i, (x0, x1) in enumerate(slots):
        scaled = tuple(_HIST_PLOT_H * h / top if math.isfinite(h) else 0.0 for h in heights[i])
        tip = f"{hist.labels[i]}: reference {hist.reference[i]:.1%}, current {hist.current[i]:.1%}"
        span = (left + x0 * plot_w, (x1 - x0) * plot_w)
        parts.append(_hist_bin(span, scaled, tip, hist.labels[i] if categorical else None))
    parts.append(_hline(left, _HIST_W - _HIST_PAD, base))
    if not categorical and hist.edges:
        parts.append(_text(_HIST_PAD, base + 14, format_number(hist.edges[0], 3)))
        last = format_number(hist.edges[-1], 3)
        parts.append(_text(_HIST_W - _HIST_PAD, base + 14, last, "end"))
    parts.append("</svg>")
    return "".join(parts)


def _hist_bin(
    span: tuple[float, float], heights: tuple[float, ...], tip: str, category: str | None
) -> str:
    """One bin at ``span`` (left, width): the reference bar, then the current bar; a
    category's name under them."""
    (left, width), base = span, _HIST_PAD + _HIST_PLOT_H
    gap, bar_w = width * 0.08, width * 0.42
    parts = [f"<g><title>{escape(tip)}</title>"]
    for offset, h, color in zip(
        (gap, gap + bar_w), heights, (REFERENCE_COLOR, CURRENT_COLOR), strict=True
    ):
        parts.append(
            f'<rect x="{left + offset:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}"'
            f' height="{h:.1f}" fill="{color}"/>'
        )
    if category is not None:
        x, y = left + width / 2, base + 10
        turn = f' transform="rotate(-40 {x:.1f} {y:.1f})"'
        parts.append(_text(x, y, _shorten(category, 12), "end", turn))
    parts.append("</g>")
    return "".join(parts)


def _hline(x0: float, x1: float, y: float, color: str = _AXIS_COLOR, dash: str = "") -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="{color}"{dashes}/>'
    )


def _vline(x: float, y0: float, y1: float, color: str = _AXIS_COLOR, dash: str = "") -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y1:.1f}" stroke="{color}"{dashes}/>'
    )


# ---- drift scores: one horizontal bar per column, its threshold as a dashed tick --------------


@dataclass(frozen=True)
class Bar:
    """One column's drift score against its threshold (both finite, >= 0, same scale)."""

    label: str
    value: float
    threshold: float
    drifted: bool
    tip: str


_ROW_H, _LABEL_W, _BAR_W = 18.0, 170.0, 330.0


def bar_chart_svg(bars: Sequence[Bar], *, axis_label: str) -> str:
    """Horizontal bars, red when drifted, each crossed by a dashed tick at its threshold."""
    top = max((v for b in bars for v in (b.value, b.threshold)), default=0.0) * 1.08 or 1.0
    width, height = _LABEL_W + _BAR_W + 60.0, 6.0 + _ROW_H * len(bars) + 34.0
    parts = [_open(width, height, axis_label)]
    for i, bar in enumerate(bars):
        y = 6.0 + i * _ROW_H
        length = _BAR_W * bar.value / top
        color = _ALERT_COLOR if bar.drifted else REFERENCE_COLOR
        parts.append(f"<g><title>{escape(bar.tip)}</title>")
        parts.append(_text(_LABEL_W - 6, y + 12.5, _shorten(bar.label, 26), "end"))
        parts.append(
            f'<rect x="{_LABEL_W:.1f}" y="{y + 3:.1f}" width="{length:.1f}"'
            f' height="{_ROW_H - 6:.1f}" fill="{color}"/>'
        )
        parts.append(_text(_LABEL_W + length + 4, y + 12.5, format_number(bar.value, 3)))
        tick = _LABEL_W + _BAR_W * bar.threshold / top
        parts.append(_vline(tick, y, y + _ROW_H, "#1f2328", "3 2"))
        parts.append("</g>")
    axis_y = 6.0 + _ROW_H * len(bars)
    parts.append(_hline(_LABEL_W, _LABEL_W + _BAR_W, axis_y))
    parts.append(_text(_LABEL_W, axis_y + 13, "0"))
    parts.append(_text(_LABEL_W + _BAR_W, axis_y + 13, format_number(top, 3), "end"))
    caption = f"{axis_label} (dashed: threshold)"
    parts.append(_text(_LABEL_W + _BAR_W / 2, axis_y + 27, caption, "middle"))
    parts.append("</svg>")
    return "".join(parts)


# ---- history: one line per metric over the windows, with its band ---------------------------


@dataclass(frozen=True)
class Series:
    """One metric over the windows; ``lower``/``upper`` (when given) draw a band around it.

    ``x`` is the window end in seconds since the epoch (or the window's index), ``x_labels``
    the text for each point.
    """

    title: str
    x: tuple[float, ...]
    x_labels: tuple[str, ...]
    y: tuple[float | None, ...]
    lower: tuple[float | None, ...] | None = None
    upper: tuple[float | None, ...] | None = None


_LINE_W, _LINE_H, _LINE_L, _LINE_R, _LINE_T, _LINE_B = 560.0, 170.0, 56.0, 12.0, 10.0, 30.0


def _y_range(series: Series) -> tuple[float, float]:
    values = [v for v in (*series.y, *(series.lower or ()), *(series.upper or ())) if _ok(v)]
    low, high = min(values, default=0.0), max(values, default=1.0)
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or 0.5
        return low - pad, high + pad
    pad = (high - low) * 0.06
    return low - pad, high + pad


def _ok(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def line_chart_svg(series: Series) -> str:
    """A line of the metric over the windows; points outside their band are drawn red."""
    low, high = _y_range(series)
    x_low, x_high = min(series.x, default=0.0), max(series.x, default=1.0)
    plot_w, plot_h = _LINE_W - _LINE_L - _LINE_R, _LINE_H - _LINE_T - _LINE_B

    def px(x: float) -> float:
        span = x_high - x_low
        return _LINE_L + (plot_w * (x - x_low) / span if span > 0 else plot_w / 2)

    def py(y: float) -> float:
        return _LINE_T + plot_h * (high - y) / (high - low)

    parts = [_open(_LINE_W, _LINE_H, series.title)]
    parts.append(_band(series, px, py))
    points = [
        (px(x), py(y), i)
        for i, (x, y) in enumerate(zip(series.x, series.y, strict=True))
        if _ok(y)
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{CURRENT_COLOR}"/>')
    for x, y, i in points:
        outside = _outside(series, i)
        color = _ALERT_COLOR if outside else CURRENT_COLOR
        tip = f"{series.x_labels[i]}: {format_number(series.y[i])}" + _band_tip(series, i)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append(_line_axes(series, low, high, plot_w, plot_h))
    parts.append("</svg>")
    return "".join(parts)


def _band(series: Series, px: Callable[[float], float], py: Callable[[float], float]) -> str:
    if series.lower is None or series.upper is None:
        return ""
    kept = [
        (series.x[i], lo, hi)
        for i, (lo, hi) in enumerate(zip(series.lower, series.upper, strict=True))
        if _ok(lo) and _ok(hi)
    ]
    if not kept:
        return ""
    if len(kept) == 1:
        x, lo, hi = kept[0]
        return _vline(px(x), py(hi), py(lo), _BAND_COLOR).replace("/>", ' stroke-width="8"/>')
    upper = [f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in kept]
    lower = [f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(kept)]
    return f'<polygon points="{" ".join(upper + lower)}" fill="{_BAND_COLOR}"/>'


def _outside(series: Series, i: int) -> bool:
    y = series.y[i]
    lo = series.lower[i] if series.lower is not None else None
    hi = series.upper[i] if series.upper is not None else None
    if y is None:
        return False
    return (lo is not None and _ok(lo) and y < lo) or (hi is not None and _ok(hi) and y > hi)


def _band_tip(series: Series, i: int) -> str:
    if series.lower is None or series.upper is None:
        return ""
    return f" (band {format_number(series.lower[i])} to {format_number(series.upper[i])})"


def _line_axes(series: Series, low: float, high: float, plot_w: float, plot_h: float) -> str:
    base = _LINE_T + plot_h
    parts = [
        _hline(_LINE_L, _LINE_L + plot_w, base),
        _vline(_LINE_L, _LINE_T, base),
        _text(_LINE_L - 4, _LINE_T + 8, format_number(high, 3), "end"),
        _text(_LINE_L - 4, base, format_number(low, 3), "end"),
    ]
    if series.x_labels:
        parts.append(_text(_LINE_L, base + 14, series.x_labels[0]))
        if len(series.x_labels) > 1:
            parts.append(_text(_LINE_L + plot_w, base + 14, series.x_labels[-1], "end"))
    return "".join(parts)


# ---- estimated performance: value with its band, realized value when known -------------------


@dataclass(frozen=True)
class Interval:
    """An estimate with its band and, when labels arrived, the realized value."""

    label: str
    value: float | None
    lower: float | None
    upper: float | None
    realized: float | None = None


_IV_ROW_H, _IV_LABEL_W, _IV_PLOT_W = 26.0, 130.0, 360.0


def interval_chart_svg(rows: Sequence[Interval]) -> str:
    """One row per metric, each on its own scale: the band as a light bar, the estimate as a
    dot and the realized value (when known) as a black tick."""
    width, height = _IV_LABEL_W + _IV_PLOT_W + 70.0, 8.0 + _IV_ROW_H * len(rows)
    parts = [_open(width, height, "estimated performance with bands")]
    for i, row in enumerate(rows):
        parts.append(_interval_row(row, 8.0 + (i + 0.5) * _IV_ROW_H))
    parts.append("</svg>")
    return "".join(parts)


def _interval_row(row: Interval, y: float) -> str:
    values = [v for v in (row.value, row.lower, row.upper, row.realized) if _ok(v)]
    low, high = min(values, default=0.0), max(values, default=1.0)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 0.5
    low, high = low - pad, high + pad

    def px(v: float) -> float:
        return _IV_LABEL_W + _IV_PLOT_W * (v - low) / (high - low)

    tip = (
        f"{row.label}: estimate {format_number(row.value)}, band {format_number(row.lower)}"
        f" to {format_number(row.upper)}, realized {format_number(row.realized)}"
    )
    parts = [f"<g><title>{escape(tip)}</title>"]
    parts.append(_text(_IV_LABEL_W - 8, y + 4, _shorten(row.label, 20), "end"))
    if _ok(row.lower) and _ok(row.upper):
        left, right = px(row.lower), px(row.upper)
        parts.append(
            f'<rect x="{left:.1f}" y="{y - 5:.1f}" width="{right - left:.1f}" height="10"'
            f' fill="{_BAND_COLOR}" stroke="{CURRENT_COLOR}" stroke-width="0.5"/>'
        )
    if _ok(row.value):
        parts.append(
            f'<circle cx="{px(row.value):.1f}" cy="{y:.1f}" r="4" fill="{CURRENT_COLOR}"/>'
        )
    if _ok(row.realized):
        parts.append(_vline(px(row.realized), y - 9, y + 9, "#1f2328"))
    parts.append(_text(_IV_LABEL_W + _IV_PLOT_W + 8, y + 4, format_number(row.value, 3)))
    parts.append("</g>")
    return "".join(parts)
