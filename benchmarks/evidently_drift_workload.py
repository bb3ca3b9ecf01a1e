"""Evidently's side of ``benchmarks/drift.py``, run by an interpreter that has Evidently.

Reads the reference and current Parquet files with pandas, builds Evidently datasets with the
column types given on the command line (so both tools compare the same columns the same way),
times ``Report([DataDriftPreset()], include_tests=True).run(current, reference)`` only, and
prints one JSON object: the seconds, Evidently's version, and per column the method, score,
threshold and decision (a failed "Value Drift" test is a drifted column), then the dataset
decision (the drifted-columns share against the preset's ``drift_share``).

Example::

    /tmp/evidently-venv/bin/python benchmarks/evidently_drift_workload.py ref.parquet \\
        cur.parquet --numerical f00,f01 --categorical c0
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Hellinger distance": "hellinger",
}


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def run(args: argparse.Namespace) -> dict[str, Any]:
    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    definition = DataDefinition(
        numerical_columns=_names(args.numerical), categorical_columns=_names(args.categorical)
    )
    start = time.perf_counter()
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    build_seconds = time.perf_counter() - start
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
        timings.append(time.perf_counter() - start)
    return {
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "seconds": statistics.median(timings),
        "dataset_build_seconds": build_seconds,
        **decisions(snapshot.dict()),
    }


def decisions(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Per-column method, score, threshold and decision, and the dataset's, from a snapshot."""
    columns: dict[str, dict[str, Any]] = {}
    share = None
    drift_share = 0.5
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {
                "method": METHODS.get(config["method"], config["method"]),
                "score": metric["value"],
                "threshold": config["threshold"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            share = metric["value"]["share"]
            drift_share = config.get("drift_share", drift_share)
    for test in snapshot["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith(":ValueDrift"):
            columns[params["column"]]["drifted"] = test["status"] == "FAIL"
    return {
        "columns": columns,
        "drift_share": share,
        "dataset_drift": share is not None and share >= drift_share,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--numerical", default="", help="comma-separated numeric columns")
    parser.add_argument("--categorical", default="", help="comma-separated categorical columns")
    parser.add_argument("--repeats", type=int, default=1, help="report runs; the median")
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
