"""Shared pieces of the benchmark scripts: timing helpers, result rows and the table printer.

Benchmarks print tables for people; they are never collected as unit tests.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

__all__ = ["Measurement", "Row", "format_value", "median_ms", "print_table", "rows_as_dicts"]


@dataclass(frozen=True)
class Measurement:
    """One timed workload: ``value`` in ``unit`` (a rate, or milliseconds for latencies)."""

    value: float
    unit: str
    n: int
    seconds: float

    @property
    def higher_is_better(self) -> bool:
        return self.unit.endswith("/s")

    @classmethod
    def rate(cls, n: int, seconds: float, unit: str) -> Measurement:
        return cls(n / seconds, unit, n, seconds)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(float(data["value"]), str(data["unit"]), int(data["n"]), float(data["seconds"]))


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``ratio`` is how many times better modelkeep is than MLflow: the rate ratio for throughput
    workloads, MLflow's time over modelkeep's for latencies. ``ok`` is ``None`` when the
    workload has no target.
    """

    backend: str
    workload: str
    modelkeep: Measurement | None
    mlflow: Measurement | None = None
    mlflow_source: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.modelkeep is None or self.mlflow is None:
            return None
        if self.modelkeep.value == 0 or self.mlflow.value == 0:
            return None
        if self.modelkeep.higher_is_better:
            return self.modelkeep.value / self.mlflow.value
        return self.mlflow.value / self.modelkeep.value


def median_ms(call: Callable[[], Any], repeats: int) -> tuple[Measurement, int]:
    """Median wall time of ``repeats`` calls after one warm-up; also the warm-up's result size."""
    size = len(call())
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return Measurement(median * 1000, "ms", size, median), size


def format_value(measurement: Measurement | None) -> str:
    if measurement is None:
        return "-"
    if measurement.unit == "ms":
        return f"{measurement.value:,.1f} ms"
    return f"{measurement.value:,.0f} {measurement.unit}"


def _cells(row: Row) -> list[str]:
    ratio = row.ratio
    ok = {None: "", True: "yes", False: "NO"}[row.ok]
    mlflow = format_value(row.mlflow) + (f" {row.mlflow_source}" if row.mlflow else "")
    modelkeep = format_value(row.modelkeep) if row.modelkeep else f"error: {row.note}"
    return [
        row.backend,
        row.workload,
        modelkeep,
        mlflow,
        "-" if ratio is None else f"{ratio:,.1f}x",
        row.target,
        ok,
    ]


COLUMNS = ("backend", "workload", "modelkeep", "mlflow", "ratio", "target", "ok")


def print_table(
    title: str, rows: Sequence[Row], footer: str = "", file: TextIO | None = None
) -> None:
    """Print ``rows`` as a Rich table when Rich is importable, else as aligned plain text."""
    out = file or sys.stdout
    cells = [_cells(row) for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _print_plain(title, cells, footer, out)
        return
    table = Table(title=title, caption=footer or None, caption_justify="left")
    for name in COLUMNS:
        table.add_column(
            name, justify="right" if name in ("modelkeep", "mlflow", "ratio") else "left"
        )
    for line in cells:
        table.add_row(*line, style="red" if line[-1] == "NO" else None)
    Console(file=out, width=160).print(table)


def _print_plain(title: str, cells: list[list[str]], footer: str, out: TextIO) -> None:
    widths = [max(len(c) for c in column) for column in zip(COLUMNS, *cells, strict=False)]
    print(title, file=out)
    for line in [list(COLUMNS), *cells]:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)), file=out)
    if footer:
        print(footer, file=out)


def rows_as_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """JSON-ready rows, with the ratio filled in."""
    return [{**asdict(row), "ratio": row.ratio} for row in rows]
