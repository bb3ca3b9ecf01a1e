"""Tracking throughput and search latency of modelkeep, optionally next to MLflow's.

Workloads (each on a brand-new store in a temporary directory or database):

* ``log_metric``: N ``run.log_metric`` calls plus the final ``run.flush()``, timed together
  (durable at the end); also ``synchronous=True`` (durable per call), for information.
* ``log_batch``: ``Client.log_batch`` of 1,000 metric points per call.
* run creation: whole ``with mk.start_run(...)`` blocks logging 2 metrics, 2 params and 1 tag.
* search over 100,000 runs (populated with ``Client.create_run`` + ``Client.log_batch``): a
  filtered search (max 1,000 results) and an ordered top-10; median of several repetitions
  after one warm-up.

Backends: ``sqlite`` (a file), ``postgresql`` (a fresh database, dropped afterwards) and
``server`` (modelkeep's tracking server in this process, on loopback, over SQLite).

``--compare-mlflow PYTHON`` runs ``benchmarks/mlflow_workload.py`` with another interpreter
(one that has MLflow installed) on its own SQLite file, with the same sizes except that
MLflow searches 2,000 runs, and prints the ratios. Without it the MLflow column shows the
figures measured for the issue (marked ``(issue)``).

Examples::

    .venv/bin/python benchmarks/tracking.py --quick
    .venv/bin/python benchmarks/tracking.py --backends sqlite,postgresql,server \\
        --compare-mlflow /tmp/mlflow-venv/bin/python --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from _common import Measurement, Row, median_ms, print_table, rows_as_dicts
from _stores import BACKENDS, fresh_store

import modelkeep as mk
from modelkeep.entities import now_ms

HERE = Path(__file__).resolve().parent


SEARCH_FILTER = "metrics.acc > 0.5 and params.lr = '0.01'"
SEARCH_ORDER_BY = ["metrics.acc DESC"]
LEARNING_RATES = ("0.1", "0.01", "0.001")

# MLflow 3.17.2 on SQLite on this 2-core machine, as measured for the issue.
MLFLOW_REFERENCE = {
    "log_metric": Measurement(113, "calls/s", 0, 0),
    "log_metric_async": Measurement(98, "calls/s", 0, 0),
    "log_batch": Measurement(6_054, "points/s", 0, 0),
    "create_run": Measurement(28, "runs/s", 0, 0),
    "search_filter": Measurement(70, "ms", 2_000, 0.070),
    "search_order_by": Measurement(483, "ms", 2_000, 0.483),
}


@dataclass(frozen=True)
class Sizes:
    log_metric_calls: int = 10_000
    sync_log_metric_calls: int = 1_000
    batches: int = 200
    points_per_batch: int = 1_000
    runs: int = 1_000
    search_runs: int = 100_000
    mlflow_search_runs: int = 2_000
    search_repeats: int = 5
    populate_threads: int = 4


QUICK = Sizes(1_000, 200, 20, 1_000, 100, 10_000, 500, 3, 4)


@dataclass(frozen=True)
class Workload:
    """A table line: which result it shows, against which MLflow result, and its target.

    ``min_rate`` is a throughput target; ``beat_mlflow`` means "lower latency than MLflow".
    """

    key: str
    label: str
    mlflow_key: str | None
    min_rate: float | None = None
    beat_mlflow: bool = False


WORKLOADS = (
    Workload("log_metric", "log_metric x{log_metric_calls:,} + flush", "log_metric", 11_000),
    Workload("log_metric", "  same, vs MLflow async", "log_metric_async"),
    Workload("log_metric_sync", "log_metric synchronous=True", "log_metric"),
    Workload("log_batch", "log_batch {points_per_batch:,}/call", "log_batch", 300_000),
    Workload("create_run", "start_run + 2 metrics/2 params/1 tag", "create_run", 600),
    Workload("populate", "populate: create_run + log_batch", "populate"),
    Workload(
        "search_filter",
        "search filter, {search_runs:,} runs, max 1000",
        "search_filter",
        beat_mlflow=True,
    ),
    Workload(
        "search_order_by",
        "search order-by, {search_runs:,} runs, top 10",
        "search_order_by",
        beat_mlflow=True,
    ),
)


# ---- modelkeep workloads ----------------------------------------------------------------
def bench_log_metric(uri: str, calls: int, synchronous: bool = False) -> Measurement:
    with mk.start_run(experiment="log_metric") as run:
        start = time.perf_counter()
        for step in range(calls):
            run.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=synchronous)
        run.flush()
        elapsed = time.perf_counter() - start
    return Measurement.rate(calls, elapsed, "calls/s")


def bench_log_batch(uri: str, batches: int, points_per_batch: int) -> Measurement:
    with mk.Client(uri) as client:
        run = client.create_run(client.create_experiment("log_batch").id)
        now = now_ms()
        payloads = [
            [
                mk.Metric(f"m{i % 10}", float(i), b * points_per_batch + i, now)
                for i in range(points_per_batch)
            ]
            for b in range(batches)
        ]
        start = time.perf_counter()
        for metrics in payloads:
            client.log_batch(run.id, metrics=metrics)
        elapsed = time.perf_counter() - start
    return Measurement.rate(batches * points_per_batch, elapsed, "points/s")


def _one_run(i: int, total: int) -> None:
    with mk.start_run(experiment="runs") as run:
        run.log_param("lr", "0.01")
        run.log_param("batch_size", 32)
        run.log_metric("acc", i / total)
        run.log_metric("loss", 1.0 - i / total)
        run.set_tag("team", "a")


def bench_run_creation(uri: str, runs: int) -> Measurement:
    _one_run(0, runs)  # opens the store and creates the experiment outside the timing
    start = time.perf_counter()
    for i in range(runs):
        _one_run(i, runs)
    return Measurement.rate(runs, time.perf_counter() - start, "runs/s")


def _run_payloads(runs: int) -> list[tuple[list[mk.Metric], list[mk.Param], list[mk.RunTag]]]:
    # Same values, in the same order, as mlflow_workload.populate_runs.
    rng = random.Random(42)
    now = now_ms()
    payloads = []
    for i in range(runs):
        acc = rng.random()
        payloads.append(
            (
                [mk.Metric("acc", acc, 0, now), mk.Metric("loss", 1.0 - acc, 0, now)],
                [mk.Param("lr", rng.choice(LEARNING_RATES)), mk.Param("batch_size", str(i % 4))],
                [mk.RunTag("team", "ab"[i % 2])],
            )
        )
    return payloads


def populate(client: mk.Client, experiment_id: str, runs: int, threads: int) -> Measurement:
    """Create ``runs`` runs, each ``create_run`` + one ``log_batch``, from ``threads`` threads."""
    payloads = _run_payloads(runs)

    def create(chunk: Sequence[tuple[list[mk.Metric], list[mk.Param], list[mk.RunTag]]]) -> None:
        for metrics, params, tags in chunk:
            run_id = client.create_run(experiment_id).id
            client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(create, [payloads[k::threads] for k in range(threads)]))
    return Measurement.rate(runs, time.perf_counter() - start, "runs/s")


def refresh_planner_statistics(uri: str) -> None:
    """ANALYZE, as autovacuum does within a minute or so of a bulk load; searching a database
    whose planner still believes its tables are empty measures the load, not the steady state."""
    import psycopg

    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("ANALYZE")


def bench_search(uri: str, sizes: Sizes) -> dict[str, Measurement]:
    with mk.Client(uri) as client:
        experiment_id = client.create_experiment("search").id
        populated = populate(client, experiment_id, sizes.search_runs, sizes.populate_threads)
        if uri.startswith("postgresql"):
            refresh_planner_statistics(uri)
        filtered, _ = median_ms(
            lambda: client.search_runs([experiment_id], SEARCH_FILTER, (), 1000),
            sizes.search_repeats,
        )
        ordered, _ = median_ms(
            lambda: client.search_runs([experiment_id], "", SEARCH_ORDER_BY, 10),
            sizes.search_repeats,
        )
    return {"populate": populated, "search_filter": filtered, "search_order_by": ordered}


def run_modelkeep(backend: str, sizes: Sizes) -> dict[str, Measurement | str]:
    """Every workload on ``backend``; a failed workload is recorded as its error text."""
    steps: list[tuple[str, Callable[[str], Any]]] = [
        ("log_metric", lambda uri: bench_log_metric(uri, sizes.log_metric_calls)),
        (
            "log_metric_sync",
            lambda uri: bench_log_metric(uri, sizes.sync_log_metric_calls, synchronous=True),
        ),
        ("log_batch", lambda uri: bench_log_batch(uri, sizes.batches, sizes.points_per_batch)),
        ("create_run", lambda uri: bench_run_creation(uri, sizes.runs)),
        ("search", lambda uri: bench_search(uri, sizes)),
    ]
    results: dict[str, Measurement | str] = {}
    for name, step in steps:
        print(f"modelkeep/{backend}: {name} ...", file=sys.stderr, flush=True)
        try:
            with fresh_store(backend) as uri:
                outcome = step(uri)
        except Exception as exc:  # noqa: BLE001 - report it in the table and keep going
            traceback.print_exc(file=sys.stderr)
            outcome = f"{type(exc).__name__}: {exc}"[:120]
            if name == "search":
                outcome = dict.fromkeys(("populate", "search_filter", "search_order_by"), outcome)
        if isinstance(outcome, dict):
            results.update(outcome)
        else:
            results[name] = outcome
    return results


# ---- MLflow -----------------------------------------------------------------------------
def run_mlflow(python: str, sizes: Sizes) -> tuple[str, dict[str, Measurement]]:
    """MLflow's workloads in a subprocess of ``python``: (MLflow version, results)."""
    command = [
        python,
        str(HERE / "mlflow_workload.py"),
        "--json",
        f"--log-metric-calls={sizes.log_metric_calls}",
        f"--batches={sizes.batches}",
        f"--points-per-batch={sizes.points_per_batch}",
        f"--runs={sizes.runs}",
        f"--search-runs={sizes.mlflow_search_runs}",
        f"--search-repeats={sizes.search_repeats}",
    ]
    print("mlflow: " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{"))
    data = json.loads(line)
    results = {k: Measurement.from_json(v) for k, v in data["results"].items()}
    return str(data["mlflow_version"]), results


# ---- table ------------------------------------------------------------------------------
def _row(
    backend: str,
    workload: Workload,
    sizes: Sizes,
    ours: Measurement | str | None,
    mlflow: dict[str, Measurement] | None,
) -> Row:
    label = workload.label.format(**asdict(sizes))
    theirs, source = None, ""
    if workload.mlflow_key is not None:
        if mlflow is not None:
            theirs = mlflow.get(workload.mlflow_key)
        else:
            theirs, source = MLFLOW_REFERENCE.get(workload.mlflow_key), "(issue)"
    measured = ours if isinstance(ours, Measurement) else None
    note = ours if isinstance(ours, str) else "not run"
    target, ok = "", None
    if workload.min_rate is not None:
        unit = measured.unit if measured else ""
        target = f">= {workload.min_rate:,.0f} {unit}".rstrip()
        ok = measured is not None and measured.value >= workload.min_rate
    elif workload.beat_mlflow and theirs is not None:
        target = f"< {theirs.value:,.1f} ms"
        ok = measured is not None and measured.value < theirs.value
    return Row(backend, label, measured, theirs, source, target, ok, note)


def build_rows(
    results: dict[str, dict[str, Measurement | str]],
    mlflow: dict[str, Measurement] | None,
    sizes: Sizes,
) -> list[Row]:
    return [
        _row(backend, workload, sizes, ours.get(workload.key), mlflow)
        for backend, ours in results.items()
        for workload in WORKLOADS
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backends", default="sqlite", help="comma-separated: " + ",".join(BACKENDS)
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--compare-mlflow", metavar="PYTHON", help="python of a venv with mlflow")
    parser.add_argument("--search-runs", type=int, help="runs to populate for search")
    parser.add_argument("--populate-threads", type=int, help="threads populating for search")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the results as JSON to PATH, or alone to stdout (the table goes to stderr)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.backends.split(",")) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.search_runs:
        sizes = replace(sizes, search_runs=args.search_runs)
    if args.populate_threads:
        sizes = replace(sizes, populate_threads=args.populate_threads)
    results = {backend: run_modelkeep(backend, sizes) for backend in args.backends.split(",")}
    mlflow_version, mlflow = "", None
    if args.compare_mlflow:
        mlflow_version, mlflow = run_mlflow(args.compare_mlflow, sizes)
    rows = build_rows(results, mlflow, sizes)
    source = f"MLflow {mlflow_version} measured now" if mlflow else "MLflow figures from the issue"
    footer = (
        f"modelkeep {mk.__version__}; {source} (SQLite, search over "
        f"{sizes.mlflow_search_runs if mlflow else 2_000:,} runs); {os.cpu_count()} CPUs. "
        "ratio = times better than MLflow."
    )
    table_out = sys.stderr if args.json == "-" else sys.stdout
    print_table("modelkeep tracking benchmark", rows, footer, file=table_out)
    if args.json:
        dump = {
            "sizes": asdict(sizes),
            "mlflow_version": mlflow_version,
            "rows": rows_as_dicts(rows),
        }
        text = json.dumps(dump, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
