"""A :class:`~modelkeep.data.Profile` shown to people: Rich tables and a self-contained page.

Every string that comes from the data (column names, category values, messages) is escaped:
Rich cells are :class:`rich.text.Text` (no markup is read), and HTML goes through
:func:`html.escape`. The page has inline CSS and inline SVG histograms only, no script and no
external resource, and a Content-Security-Policy that forbids both.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from modelkeep.data.problems import Problem
    from modelkeep.data.profile import ColumnProfile, Profile

__all__ = ["format_number", "problems_table", "profile_html", "profile_table"]

_TOP_SHOWN = 3
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def format_number(value: float | str | None) -> str:
    """Short text for a statistic: ``-`` for None, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _top_text(column: ColumnProfile, shown: int = _TOP_SHOWN) -> str:
    return ", ".join(f"{value} ({share:.0%})" for value, share in column.top_values[:shown])


def profile_table(profile: Profile) -> Table:
    """The column statistics as a Rich table; class balance and problem counts in the caption."""
    title = f"{profile.n_rows} rows x {profile.n_columns} columns, digest {profile.digest[:12]}"
    table = Table(title=title, title_justify="left", caption=_caption(profile))
    table.caption_justify = "left"
    headers = ("column", "kind", "dtype", "missing", "distinct", "min", "max", "mean", "std")
    for header in headers:
        table.add_column(header, overflow="fold")
    table.add_column("median / top values", overflow="fold")
    for column in profile.columns.values():
        spread = format_number(column.quantiles.get("0.5")) if column.quantiles else ""
        cells = (
            column.name + (" (target)" if column.name == profile.target else ""),
            column.kind,
            column.dtype,
            f"{column.missing_rate:.1%}",
            str(column.distinct_count),
            format_number(column.min),
            format_number(column.max),
            format_number(column.mean),
            format_number(column.std),
            spread or _top_text(column),
        )
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _caption(profile: Profile) -> str:
    parts = []
    if profile.class_balance is not None:
        shares = ", ".join(f"{k}: {v:.1%}" for k, v in profile.class_balance.items())
        parts.append(f"class balance of {profile.target}: {shares}")
    counts = {
        level: sum(p.severity == level for p in profile.problems) for level in _SEVERITY_STYLE
    }
    found = ", ".join(f"{n} {level}{'s' * (n > 1)}" for level, n in counts.items() if n)
    parts.append(f"problems: {found}" if found else "problems: none found")
    return "\n".join(parts)


def problems_table(problems: Sequence[Problem]) -> Table:
    """The problems as a Rich table, one row each."""
    table = Table(title="Problems", title_justify="left")
    for header in ("severity", "kind", "column", "message"):
        table.add_column(header, overflow="fold")
    for problem in problems:
        table.add_row(
            Text(problem.severity, style=_SEVERITY_STYLE.get(problem.severity, "")),
            Text(problem.kind),
            Text(problem.column or "-"),
            Text(problem.message),
        )
    return table


# ---- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  background: #fff; margin: 0; line-height: 1.4; }
main { max-width: 80rem; margin: 0 auto; padding: 2rem 1.5rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.3rem; margin-top: 2rem; }
.lead { color: #59636e; margin-top: 0; } code { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left;
  vertical-align: top; } th { background: #f6f8fa; } td.num { text-align: right; }
.error { color: #cf222e; font-weight: 600; } .warning { color: #9a6700; }
svg.hist rect { fill: #0969da; } ul.top { margin: 0; padding-left: 1rem; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
_SVG_WIDTH, _SVG_HEIGHT = 160, 40


def _histogram_svg(column: ColumnProfile) -> str:
    if column.histogram is None:
        return ""
    counts = [int(c) for c in column.histogram["counts"]]
    tallest = max(counts) or 1
    width = _SVG_WIDTH / len(counts)
    bars = []
    for i, count in enumerate(counts):
        height = _SVG_HEIGHT * count / tallest
        bars.append(
            f'<rect x="{i * width:.2f}" y="{_SVG_HEIGHT - height:.2f}" '
            f'width="{max(width - 1, 1):.2f}" height="{height:.2f}"><title>{count}</title></rect>'
        )
    return (
        f'<svg class="hist" width="{_SVG_WIDTH}" height="{_SVG_HEIGHT}" role="img" '
        f'aria-label="histogram">{"".join(bars)}</svg>'
    )


def _distribution(column: ColumnProfile) -> str:
    if column.histogram is not None:
        return _histogram_svg(column)
    items = "".join(
        f"<li>{escape(value)} <span>({share:.1%})</span></li>"
        for value, share in column.top_values[:5]
    )
    return f'<ul class="top">{items}</ul>' if items else ""


def _column_row(column: ColumnProfile) -> str:
    numbers = (
        f"{column.missing_rate:.1%}",
        str(column.distinct_count),
        format_number(column.min),
        format_number(column.max),
        format_number(column.mean),
        format_number(column.std),
        format_number(column.quantiles.get("0.5")),
    )
    cells = [f"<td><code>{escape(column.name)}</code></td>", f"<td>{escape(column.kind)}</td>"]
    cells.append(f"<td>{escape(column.dtype)}</td>")
    cells += [f'<td class="num">{escape(n)}</td>' for n in numbers]
    cells.append(f"<td>{_distribution(column)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _problem_rows(problems: Sequence[Problem]) -> str:
    if not problems:
        return "<p>No problems found.</p>"
    rows = "".join(
        f'<tr><td class="{escape(p.severity)}">{escape(p.severity)}</td>'
        f"<td>{escape(p.kind)}</td><td>{escape(p.column or '-')}</td>"
        f"<td>{escape(p.message)}</td></tr>"
        for p in problems
    )
    head = "<tr><th>severity</th><th>kind</th><th>column</th><th>message</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _balance_section(profile: Profile) -> str:
    if profile.class_balance is None:
        return ""
    rows = "".join(
        f'<tr><td>{escape(label)}</td><td class="num">{share:.1%}</td></tr>'
        for label, share in profile.class_balance.items()
    )
    target = escape(profile.target or "")
    return (
        f"<section><h2>Class balance of <code>{target}</code></h2><table><thead><tr>"
        f"<th>class</th><th>share</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def profile_html(profile: Profile) -> str:
    """The profile as one self-contained HTML page."""
    headers = ("column", "kind", "dtype", "missing", "distinct", "min", "max", "mean", "std")
    head = "".join(f"<th>{h}</th>" for h in (*headers, "median", "distribution"))
    rows = "\n".join(_column_row(column) for column in profile.columns.values())
    target = f", target <code>{escape(profile.target)}</code>" if profile.target else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Data profile</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<h1>Data profile</h1>",
        f'<p class="lead">{profile.n_rows} rows x {profile.n_columns} columns{target}; '
        f"digest <code>{escape(profile.digest)}</code></p>",
        f"<section><h2>Problems</h2>{_problem_rows(profile.problems)}</section>",
        _balance_section(profile),
        "<section><h2>Columns</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>",
        "</section>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
