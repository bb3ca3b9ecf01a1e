"""Data drift: modelkeep's ``detect_drift`` against Evidently's ``DataDriftPreset``, and a
10-million-row Parquet file streamed in bounded memory.

Workloads:

* a reference and a current table of ``--sizes`` rows (100,000 and 1,000,000 by default) x 23
  columns: 20 numeric (normal, uniform, exponential, gamma, Student, log-normal, a 4-valued
  column, Poisson counts, two with missing values) and 3 categorical (4, 2 and 50 categories).
  The current table is shifted in 10 columns (mean, variance, shape, category shares, missing
  share) and nearly unchanged in the rest (one column moves by 0.02 standard deviations: KS
  would flag it at these sizes, the normed Wasserstein distance both tools use does not).
  Both are written to Parquet; each side reads the files before its timer starts;
* modelkeep: ``detect_drift(reference, current)`` on the pandas frames, median of
  ``--repeats`` after a warm-up; and the same from the Parquet paths (read in batches and
  summarised, numeric columns past 100,000 values as quantile sketches; reading included);
* Evidently (``--compare-evidently PYTHON``): ``benchmarks/evidently_drift_workload.py`` run
  by that interpreter times ``Report([DataDriftPreset()], include_tests=True).run(...)`` on the
  same files, with the same column types, and reports each column's method, score and
  decision. Every disagreement is printed;
* streaming (``--stream-rows N``): a reference and a current Parquet file of N rows x 20
  numeric columns, compared by ``detect_drift(path, path)`` in a fresh process whose peak
  resident memory is reported (target: under 2 GB).

Examples::

    .venv/bin/python benchmarks/drift.py
    .venv/bin/python benchmarks/drift.py --compare-evidently /tmp/evidently-venv/bin/python
    .venv/bin/python benchmarks/drift.py --sizes 100000 --stream-rows 10000000 --json -
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import modelkeep as mk
from modelkeep.monitor.drift import DriftResult, detect_drift

SEED = 7
TARGET_SPEEDUP = 20.0
RSS_LIMIT_MB = 2048.0
WORKLOAD = Path(__file__).with_name("evidently_drift_workload.py")
CATEGORIES = [f"cat{i:02d}" for i in range(50)]
SHIFTED = {"f00", "f01", "f02", "f03", "f04", "f05", "f06", "f16", "f19", "c0"}


# ---- data ----------------------------------------------------------------------------------
def numeric_columns(rng: np.random.Generator, rows: int, shifted: bool) -> dict[str, Any]:
    """The 20 numeric columns; ``shifted`` moves those in :data:`SHIFTED`."""
    s = 1.0 if shifted else 0.0
    cols: dict[str, Any] = {}
    for i in range(4):
        cols[f"f{i:02d}"] = rng.normal(0.5 * s, 1.0, rows)
    for i in (4, 5):
        cols[f"f{i:02d}"] = rng.normal(0.0, 1.0 + 0.6 * s, rows)
    cols["f06"] = rng.lognormal(0.0, 0.5 + 0.4 * s, rows)
    cols["f07"] = rng.normal(0.02 * s, 1.0, rows)
    for i in range(8, 12):
        cols[f"f{i:02d}"] = rng.normal(float(i), 1.0 + i / 10, rows)
    cols["f12"] = rng.uniform(0.0, 10.0, rows)
    cols["f13"] = rng.exponential(2.0, rows)
    cols["f14"] = rng.gamma(2.0, 1.5, rows)
    cols["f15"] = rng.standard_t(5, rows)
    shares = [0.25] * 4 if shifted else [0.4, 0.3, 0.2, 0.1]
    cols["f16"] = rng.choice([0.0, 1.0, 2.0, 3.0], rows, p=shares)
    cols["f17"] = rng.poisson(3.0, rows).astype(np.float64)
    f18 = rng.normal(5.0, 2.0, rows)
    f18[rng.random(rows) < 0.1] = np.nan
    cols["f18"] = f18
    f19 = rng.normal(0.3 * s, 1.0, rows)
    f19[rng.random(rows) < (0.2 if shifted else 0.05)] = np.nan
    cols["f19"] = f19
    return cols


def make_frame(rows: int, shifted: bool, seed: int) -> pd.DataFrame:
    """The 23-column table: the numeric columns and three categorical ones."""
    rng = np.random.default_rng(seed)
    cols = numeric_columns(rng, rows, shifted)
    cols["c0"] = rng.choice(
        ["a", "b", "c", "d"], rows, p=[0.25] * 4 if shifted else [0.4, 0.3, 0.2, 0.1]
    )
    cols["c1"] = rng.choice(["yes", "no"], rows, p=[0.3, 0.7])
    zipf = 1.0 / np.arange(1, 51)
    cols["c2"] = rng.choice(CATEGORIES, rows, p=zipf / zipf.sum())
    return pd.DataFrame(cols)


def write_stream_file(path: Path, rows: int, shifted: bool, seed: int) -> None:
    """``rows`` x 20 numeric columns, written a million rows (one row group) at a time."""
    rng = np.random.default_rng(seed)
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, 1_000_000):
            batch = pa.table(numeric_columns(rng, min(1_000_000, rows - start), shifted))
            writer = writer or pq.ParquetWriter(path, batch.schema)
            writer.write_table(batch)
    finally:
        if writer is not None:
            writer.close()


# ---- the two sides -------------------------------------------------------------------------
@dataclass
class Side:
    """One timed side: seconds, and per column (method, score, threshold, drifted)."""

    seconds: float
    columns: dict[str, dict[str, Any]]
    dataset_drift: bool
    extra: dict[str, Any] = field(default_factory=dict)


def as_side(seconds: float, result: DriftResult) -> Side:
    columns = {
        name: {
            "method": c.method,
            "score": c.statistic if c.p_value is None else c.p_value,
            "threshold": c.threshold,
            "drifted": c.drifted,
        }
        for name, c in result.columns.items()
    }
    return Side(seconds, columns, result.dataset_drift)


def run_modelkeep(ref_path: Path, cur_path: Path, repeats: int) -> Side:
    reference, current = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    result = detect_drift(reference, current)  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = detect_drift(reference, current)
        timings.append(time.perf_counter() - start)
    return as_side(statistics.median(timings), result)


def run_modelkeep_parquet(ref_path: Path, cur_path: Path) -> Side:
    start = time.perf_counter()
    result = detect_drift(ref_path, cur_path)
    return as_side(time.perf_counter() - start, result)


def run_evidently(python: str, ref_path: Path, cur_path: Path, frame: pd.DataFrame) -> Side:
    numeric = [c for c in frame.columns if c.startswith("f")]
    categorical = [c for c in frame.columns if c.startswith("c")]
    command = [
        python, str(WORKLOAD), str(ref_path), str(cur_path),
        "--numerical", ",".join(numeric), "--categorical", ",".join(categorical),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the Evidently workload failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    extra = {k: data[k] for k in ("evidently", "pandas", "dataset_build_seconds")}
    return Side(data["seconds"], data["columns"], data["dataset_drift"], extra)


def disagreements(ours: Side, theirs: Side) -> list[str]:
    """Columns decided differently (or with different methods), and the dataset decision."""
    found = []
    for name, mine in ours.columns.items():
        other = theirs.columns.get(name)
        if other is None:
            found.append(f"{name}: not compared by Evidently")
        elif (mine["method"], mine["drifted"]) != (other["method"], other["drifted"]):
            found.append(
                f"{name}: modelkeep {mine['method']} {mine['score']:.6g} drift={mine['drifted']}, "
                f"Evidently {other['method']} {other['score']:.6g} drift={other['drifted']}"
            )
    if ours.dataset_drift != theirs.dataset_drift:
        found.append(
            f"dataset drift: modelkeep {ours.dataset_drift}, Evidently {theirs.dataset_drift}"
        )
    return found


def largest_score_gap(ours: Side, theirs: Side) -> str:
    """The column whose score differs most between the tools (relative difference), with the
    two scores."""
    worst, gap = "", -1.0
    for name, mine in ours.columns.items():
        other = theirs.columns.get(name)
        if other is not None and other["method"] == mine["method"]:
            a, b = float(mine["score"]), float(other["score"])
            relative = abs(a - b) / max(abs(a), abs(b), 1e-300)
            if relative > gap:
                worst, gap = f"{name} ({mine['method']}: {a:.6g} vs {b:.6g})", relative
    return f"largest relative score difference {gap:.2e}, {worst}"


# ---- streaming -----------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``VmHWM`` belongs to the process's own
    address space; ``ru_maxrss`` also counts the parent's size at fork, so it is the fallback."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_worker(ref_path: str, cur_path: str) -> None:
    """Run in a fresh process: compare two Parquet files, print seconds and peak memory."""
    start = time.perf_counter()
    result = detect_drift(ref_path, cur_path)
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    side = as_side(seconds, result)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "columns": side.columns}))


def run_stream(rows: int, tmp: Path) -> dict[str, Any]:
    ref_path, cur_path = tmp / f"stream_ref_{rows}.parquet", tmp / f"stream_cur_{rows}.parquet"
    print(f"writing 2 x {rows:,} rows x 20 columns to Parquet ...", file=sys.stderr, flush=True)
    write_stream_file(ref_path, rows, False, SEED)
    write_stream_file(cur_path, rows, True, SEED + 1)
    print("streaming them through detect_drift ...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--stream-worker", str(ref_path), str(cur_path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the streaming worker failed:\n{done.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    data["file_mb"] = (ref_path.stat().st_size + cur_path.stat().st_size) / 2**20
    data["unexpected"] = sorted(
        name for name, c in data["columns"].items() if c["drifted"] != (name in SHIFTED)
    )
    ref_path.unlink()
    cur_path.unlink()
    return data


def stream_line(rows: int, stream: dict[str, Any], notes: list[str]) -> list[str]:
    """The table line of the streaming test (and its note)."""
    fits = stream["peak_rss_mb"] < RSS_LIMIT_MB and not stream["unexpected"]
    notes.append(
        f"streaming: {stream['file_mb']:,.0f} MB of Parquet; columns decided against "
        f"the generator's shifts: {stream['unexpected'] or 'all as expected'}"
    )
    return [
        f"{rows:,} x 20", "detect_drift, streamed Parquet", _seconds(stream["seconds"]), "-",
        "-", f"peak RSS < {RSS_LIMIT_MB:,.0f} MB", "yes" if fits else "NO",
        f"peak RSS {stream['peak_rss_mb']:,.0f} MB",
    ]  # fmt: skip


# ---- driver and table ----------------------------------------------------------------------
COLUMNS = ("table", "workload", "modelkeep", "Evidently", "speed-up", "target", "ok", "decisions")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f} s"


def table_rows(size: int, sides: dict[str, Side], evidently: Side | None) -> list[list[str]]:
    lines = []
    for workload, side in sides.items():
        ratio = None if evidently is None else evidently.seconds / side.seconds
        same = (
            "-"
            if evidently is None
            else ("same" if not disagreements(side, evidently) else "DIFFER")
        )
        ok = (
            ""
            if ratio is None
            else ("yes" if ratio >= TARGET_SPEEDUP and same == "same" else "NO")
        )
        lines.append([
            f"{size:,} x 23", workload, _seconds(side.seconds),
            _seconds(evidently.seconds if evidently else None),
            "-" if ratio is None else f"{ratio:,.1f}x", f">= {TARGET_SPEEDUP:.0f}x, same", ok,
            same,
        ])  # fmt: skip
    return lines


def print_table(title: str, lines: list[list[str]], footer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=footer or None, caption_justify="left")
    for name in COLUMNS:
        table.add_column(
            name, justify="right" if name in ("modelkeep", "Evidently", "speed-up") else "left"
        )
    for line in lines:
        table.add_row(*line, style="red" if line[6] == "NO" else None)
    Console(file=sys.stdout, width=160).print(table)


def measure_size(
    size: int, args: argparse.Namespace, tmp: Path, notes: list[str]
) -> tuple[list[list[str]], dict[str, Any]]:
    print(f"{size:,} rows: writing the tables ...", file=sys.stderr, flush=True)
    reference, current = make_frame(size, False, SEED), make_frame(size, True, SEED + 1)
    ref_path, cur_path = tmp / f"ref_{size}.parquet", tmp / f"cur_{size}.parquet"
    reference.to_parquet(ref_path, index=False)
    current.to_parquet(cur_path, index=False)
    print(f"{size:,} rows: modelkeep ...", file=sys.stderr, flush=True)
    sides = {
        "detect_drift, pandas frames": run_modelkeep(ref_path, cur_path, args.repeats),
        "detect_drift, Parquet paths": run_modelkeep_parquet(ref_path, cur_path),
    }
    evidently = None
    if args.compare_evidently:
        print(f"{size:,} rows: Evidently ...", file=sys.stderr, flush=True)
        evidently = run_evidently(args.compare_evidently, ref_path, cur_path, reference)
        for workload, side in sides.items():
            for line in disagreements(side, evidently):
                notes.append(f"{size:,} rows, {workload}: {line}")
            notes.append(f"{size:,} rows, {workload}: {largest_score_gap(side, evidently)}")
    raw = {name: side.__dict__ for name, side in sides.items()}
    if evidently is not None:
        raw["evidently"] = evidently.__dict__
    return table_rows(size, sides, evidently), raw


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--repeats", type=int, default=3, help="modelkeep runs; the median")
    parser.add_argument("--compare-evidently", metavar="PYTHON", help="interpreter with Evidently")
    parser.add_argument(
        "--stream-rows", type=int, default=0, help="rows of the streaming test (0: skip)"
    )
    parser.add_argument("--tmp", help="folder for the Parquet files (default: a temporary one)")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="also write JSON")
    parser.add_argument("--stream-worker", nargs=2, metavar=("REF", "CUR"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stream_worker:
        stream_worker(*args.stream_worker)
        return 0
    lines: list[list[str]] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="mk_bench_drift_", dir=args.tmp) as name:
        tmp = Path(name)
        for size in (int(s) for s in args.sizes.split(",") if s):
            found, raw[str(size)] = measure_size(size, args, tmp, notes)
            lines += found
        if args.stream_rows:
            raw["stream"] = run_stream(args.stream_rows, tmp)
            lines.append(stream_line(args.stream_rows, raw["stream"], notes))
    ok = all(line[6] != "NO" for line in lines)
    footer = (
        f"modelkeep {mk.__version__}, pandas {pd.__version__}, pyarrow {pa.__version__}; "
        f"{os.cpu_count()} CPUs. modelkeep: median of {args.repeats} after a warm-up; Evidently: "
        "one run, report only (datasets built before the timer). decisions: every column's "
        "method and drift decision, and the dataset's, equal Evidently's.\n" + "\n".join(notes)
    )
    print_table("Data drift: modelkeep detect_drift vs Evidently DataDriftPreset", lines, footer)
    if args.json:
        text = json.dumps(raw, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
