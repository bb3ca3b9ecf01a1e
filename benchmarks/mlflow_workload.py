"""MLflow's side of ``benchmarks/tracking.py``: the same workloads, timed the same way.

This script runs under a *separate* virtualenv that has ``mlflow`` installed (modelkeep does not
depend on MLflow), so it imports nothing from modelkeep. ``tracking.py --compare-mlflow PYTHON``
starts it as ``PYTHON benchmarks/mlflow_workload.py --json ...`` and reads one JSON object from
its stdout. Each workload gets its own fresh SQLite file in a temporary directory.

Run it alone to see MLflow's figures::

    /tmp/mlflow-venv/bin/python benchmarks/mlflow_workload.py --log-metric-calls 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Set before importing mlflow: no telemetry thread, no network look-ups, quiet logs.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

Result = dict[str, Any]

SEARCH_FILTER = "metrics.acc > 0.5 and params.lr = '0.01'"
SEARCH_ORDER_BY = ["metrics.acc DESC"]
LEARNING_RATES = ("0.1", "0.01", "0.001")
MAX_METRICS_PER_BATCH = 1000  # MLflow rejects larger log_batch calls.


@contextmanager
def fresh_tracking_uri() -> Iterator[str]:
    """Point MLflow at a new SQLite file; create its schema before any timing starts."""
    with tempfile.TemporaryDirectory(prefix="mlflow_bench_") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        # The first client call runs MLflow's Alembic migrations; keep that out of the timings.
        MlflowClient(uri).search_experiments()
        try:
            yield uri
        finally:
            if mlflow.active_run() is not None:
                mlflow.end_run()


def _new_experiment(uri: str, name: str) -> str:
    client = MlflowClient(uri)
    return client.create_experiment(name, artifact_location=f"{uri.rsplit('/', 1)[0]}/artifacts")


def rate(n: int, seconds: float, unit: str) -> Result:
    return {"value": n / seconds, "unit": unit, "n": n, "seconds": seconds}


def bench_log_metric(calls: int, synchronous: bool) -> Result:
    """``calls`` fluent ``log_metric`` calls in one run, plus the final flush, timed together."""
    with fresh_tracking_uri() as uri:
        experiment_id = _new_experiment(uri, "log_metric")
        with mlflow.start_run(experiment_id=experiment_id):
            start = time.perf_counter()
            for step in range(calls):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=synchronous)
            if not synchronous:
                mlflow.flush_async_logging()
            elapsed = time.perf_counter() - start
    return rate(calls, elapsed, "calls/s")


def bench_log_batch(batches: int, points_per_batch: int) -> Result:
    """``batches`` ``MlflowClient.log_batch`` calls of ``points_per_batch`` metric points each."""
    with fresh_tracking_uri() as uri:
        client = MlflowClient(uri)
        run_id = client.create_run(_new_experiment(uri, "log_batch")).info.run_id
        now = int(time.time() * 1000)
        payloads = [
            [
                Metric(f"m{i % 10}", float(i), now, b * points_per_batch + i)
                for i in range(points_per_batch)
            ]
            for b in range(batches)
        ]
        start = time.perf_counter()
        for metrics in payloads:
            for offset in range(0, len(metrics), MAX_METRICS_PER_BATCH):
                client.log_batch(run_id, metrics=metrics[offset : offset + MAX_METRICS_PER_BATCH])
        elapsed = time.perf_counter() - start
    return rate(batches * points_per_batch, elapsed, "points/s")


def bench_run_creation(runs: int) -> Result:
    """Whole ``with start_run()`` blocks, each logging 2 metrics, 2 params and 1 tag."""
    with fresh_tracking_uri() as uri:
        experiment_id = _new_experiment(uri, "runs")
        start = time.perf_counter()
        for i in range(runs):
            with mlflow.start_run(experiment_id=experiment_id):
                mlflow.log_param("lr", "0.01")
                mlflow.log_param("batch_size", 32)
                mlflow.log_metric("acc", i / runs)
                mlflow.log_metric("loss", 1.0 - i / runs)
                mlflow.set_tag("team", "a")
        elapsed = time.perf_counter() - start
    return rate(runs, elapsed, "runs/s")


def populate_runs(client: MlflowClient, experiment_id: str, runs: int) -> float:
    """Create ``runs`` runs with acc/loss metrics, lr/batch_size params and a team tag.

    Each run is one ``create_run`` plus one ``log_batch``, the same calls modelkeep's side makes.
    """
    rng = random.Random(42)
    start = time.perf_counter()
    for i in range(runs):
        run_id = client.create_run(experiment_id).info.run_id
        now = int(time.time() * 1000)
        acc = rng.random()
        client.log_batch(
            run_id,
            metrics=[Metric("acc", acc, now, 0), Metric("loss", 1.0 - acc, now, 0)],
            params=[Param("lr", rng.choice(LEARNING_RATES)), Param("batch_size", str(i % 4))],
            tags=[RunTag("team", "ab"[i % 2])],
        )
    return time.perf_counter() - start


def time_search(search: Callable[[], list[Any]], repeats: int) -> Result:
    """Median wall time of ``repeats`` searches after one warm-up."""
    hits = len(search())
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        search()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return {"value": median * 1000, "unit": "ms", "n": hits, "seconds": median}


def bench_search(runs: int, repeats: int) -> dict[str, Result]:
    """Populate ``runs`` runs, then time a filtered search and an ordered top-10 search."""
    with fresh_tracking_uri() as uri:
        client = MlflowClient(uri)
        experiment_id = _new_experiment(uri, "search")
        populate_s = populate_runs(client, experiment_id, runs)
        filtered = time_search(
            lambda: client.search_runs([experiment_id], SEARCH_FILTER, max_results=1000), repeats
        )
        ordered = time_search(
            lambda: client.search_runs(
                [experiment_id], "", order_by=SEARCH_ORDER_BY, max_results=10
            ),
            repeats,
        )
    return {
        "populate": rate(runs, populate_s, "runs/s"),
        "search_filter": filtered,
        "search_order_by": ordered,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-metric-calls", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--points-per-batch", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--search-runs", type=int, default=2_000)
    parser.add_argument("--search-repeats", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma-separated workloads to leave out")
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    return parser.parse_args(argv)


def run_all(args: argparse.Namespace) -> dict[str, Result]:
    skip = {name for name in args.skip.split(",") if name}
    results: dict[str, Result] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("log_metric", lambda: bench_log_metric(args.log_metric_calls, synchronous=True)),
        ("log_metric_async", lambda: bench_log_metric(args.log_metric_calls, synchronous=False)),
        ("log_batch", lambda: bench_log_batch(args.batches, args.points_per_batch)),
        ("create_run", lambda: bench_run_creation(args.runs)),
        ("search", lambda: bench_search(args.search_runs, args.search_repeats)),
    ]
    for name, step in steps:
        if name in skip:
            continue
        print(f"mlflow: {name} ...", file=sys.stderr, flush=True)
        outcome = step()
        if name == "search":
            results.update(outcome)
        else:
            results[name] = outcome
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    results = {"mlflow_version": mlflow.__version__, "results": run_all(args)}
    if args.json:
        print(json.dumps(results))
    else:
        for name, result in results["results"].items():
            print(f"{name:18} {result['value']:>12,.1f} {result['unit']:9} (n={result['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
