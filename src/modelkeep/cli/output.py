"""Printing for the CLI: Rich tables for people, plain JSON for scripts.

Every cell goes through :class:`rich.text.Text`, so names containing ``[brackets]`` are shown
as written instead of being read as Rich markup. JSON has no NaN or infinity, so non-finite
metric values are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, as the
REST API does.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelkeep.entities import ApiToken, ArtifactRecord, Experiment

__all__ = [
    "artifact_to_dict",
    "experiment_to_dict",
    "format_bytes",
    "format_time",
    "format_value",
    "print_error",
    "print_json",
    "print_table",
    "stdout_console",
    "token_to_dict",
]

_PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A console on the current ``sys.stdout`` (looked up per call, so test runners see it).

    Piped output is not wrapped at 80 columns: a line per row keeps it greppable.
    """
    console = Console(soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as strict JSON (no NaN literals), indented."""
    typer.echo(json.dumps(_jsonable(data), indent=2, allow_nan=False))


def print_error(message: str) -> None:
    """One red ``Error: ...`` line on stderr (whitespace runs, newlines included, collapsed)."""
    typer.secho(f"Error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    keep_whole: Sequence[str] = (),
    empty: str = "(none)",
) -> None:
    """Print a Rich table; ``keep_whole`` columns (ids people copy) are never shortened.

    With no rows, only the title (if any) and the ``empty`` text are printed.
    """
    rows = list(rows)
    if not rows:
        typer.echo(f"{title}: {empty}" if title else empty)
        return
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for name in columns:
        # Headers keep their width; ids people copy are never folded.
        table.add_column(name, min_width=len(name), no_wrap=name in keep_whole, overflow="fold")
    for row in rows:
        table.add_row(*(Text(format_value(cell)) for cell in row))
    stdout_console().print(table)


def format_value(value: object) -> str:
    """Text for a table cell: ``-`` for None, ``4.2e-05``-style short floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_time(ms: int | None) -> str:
    """Local wall-clock time of an epoch-milliseconds timestamp."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_bytes(size: int) -> str:
    """``1.5 KiB``-style size."""
    if size < 1024:
        return f"{size} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    amount = size / 1024
    index = 0
    while amount >= 1024 and index < len(units) - 1:
        amount /= 1024
        index += 1
    return f"{amount:.1f} {units[index]}"


def experiment_to_dict(exp: Experiment) -> dict[str, Any]:
    return {
        "id": exp.id,
        "name": exp.name,
        "lifecycle_stage": exp.lifecycle_stage.value,
        "tags": dict(exp.tags),
        "creation_time": exp.creation_time,
        "last_update_time": exp.last_update_time,
    }


def artifact_to_dict(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "path": record.path,
        "size": record.size,
        "digest": record.digest,
        "created_time": record.created_time,
    }


def token_to_dict(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_time": token.created_time,
        "revoked": token.revoked,
    }
