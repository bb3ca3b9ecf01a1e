"""MLflow's side of ``benchmarks/registry.py``: the same registry workloads, timed the same way.

This script runs under a *separate* virtualenv that has ``mlflow`` and ``scikit-learn``
installed (modelkeep does not depend on MLflow), so it imports nothing from modelkeep.
``registry.py --compare-mlflow PYTHON`` starts it as
``PYTHON benchmarks/mlflow_registry_workload.py --json ...`` and reads one JSON object from its
stdout. Each workload gets its own fresh SQLite file and artifact folder in a temporary
directory.

The model is saved in MLflow's default, safe format (``serialization_format="skops"``).
MLflow 3.17 refuses to log a tree ensemble in that format unless the tree type is declared
trusted, hence ``skops_trusted_types=["sklearn.tree._tree.Tree"]``. Everything else is left
at MLflow's defaults (pip requirements inferred, input example validated), except that
``log_model_pinned`` passes MLflow's default pins as ``pip_requirements`` (no inference
subprocess), and so do the untimed set-up logs of the other workloads.

Run it alone to see MLflow's figures::

    /tmp/mlflow-venv/bin/python benchmarks/mlflow_registry_workload.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

Result = dict[str, Any]

SERIALIZATION_FORMAT = "skops"
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
SEARCH_MODELS = 10
SEARCH_FILTER = "name = 'm3' and tags.team = 'a'"
MODEL_NAME = "bench"


def make_model() -> tuple[RandomForestClassifier, pd.DataFrame]:
    """The benchmark's model and data; ``registry.make_model`` builds the very same ones."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2_000, 10)), columns=[f"f{i}" for i in range(10)])
    y = (X["f0"] + 0.5 * X["f1"] - X["f2"] > 0).astype("int64")
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0)
    return model.fit(X, y), X


@contextmanager
def fresh_store() -> Iterator[tuple[MlflowClient, str]]:
    """A new SQLite file with its schema created, and an experiment whose artifacts go to a
    folder next to it; yields a client and the experiment id."""
    with tempfile.TemporaryDirectory(prefix="mlflow_reg_bench_") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient(uri, uri)
        # The first client call runs MLflow's Alembic migrations; keep that out of the timings.
        client.search_experiments()
        artifacts = (Path(tmp) / "artifacts").as_uri()
        experiment_id = client.create_experiment("registry", artifact_location=artifacts)
        try:
            yield client, experiment_id
        finally:
            if mlflow.active_run() is not None:
                mlflow.end_run()


def log_model(
    model: RandomForestClassifier, X: pd.DataFrame, name: str, infer_requirements: bool = True
) -> str:
    """``mlflow.sklearn.log_model`` in the active run; returns the logged model's URI.

    By default MLflow infers the pip requirements by loading the model in a subprocess;
    ``infer_requirements=False`` passes its default pins instead and skips that.
    """
    pins = None if infer_requirements else mlflow.sklearn.get_default_pip_requirements(False, True)
    info = mlflow.sklearn.log_model(
        model,
        name=name,
        input_example=X.head(5),
        serialization_format=SERIALIZATION_FORMAT,
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=pins,
    )
    return str(info.model_uri)


def logged_model_uri(experiment_id: str, model: RandomForestClassifier, X: pd.DataFrame) -> str:
    """One logged model for the workloads that do not time logging (pins given: faster)."""
    with mlflow.start_run(experiment_id=experiment_id):
        return log_model(model, X, "model", infer_requirements=False)


def median_call_ms(call: Callable[[int], Any], repeats: int, n: int | None = None) -> Result:
    """Median wall time of ``call(i)`` for i in 1..repeats, after one warm-up ``call(0)``."""
    call(0)
    samples = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return {
        "value": median * 1000,
        "unit": "ms",
        "n": repeats if n is None else n,
        "seconds": median,
    }


def rate(n: int, seconds: float, unit: str) -> Result:
    return {"value": n / seconds, "unit": unit, "n": n, "seconds": seconds}


def bench_log_model(
    model: RandomForestClassifier, X: pd.DataFrame, repeats: int, infer_requirements: bool
) -> Result:
    """``log_model`` calls in one run, each under its own name."""
    with fresh_store() as (_, experiment_id), mlflow.start_run(experiment_id=experiment_id):
        return median_call_ms(
            lambda i: log_model(model, X, f"model{i}", infer_requirements), repeats
        )


def bench_register(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Result:
    """``mlflow.register_model`` of one logged model, again and again (a new version each)."""
    with fresh_store() as (_, experiment_id):
        uri = logged_model_uri(experiment_id, model, X)
        return median_call_ms(lambda _: mlflow.register_model(uri, MODEL_NAME), repeats)


def bench_load(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Result:
    """``pyfunc.load_model("models:/bench@champion")`` plus its first ``predict`` on 2,000 rows."""
    with fresh_store() as (client, experiment_id):
        uri = logged_model_uri(experiment_id, model, X)
        version = mlflow.register_model(uri, MODEL_NAME).version
        client.set_registered_model_alias(MODEL_NAME, "champion", version)

        def load_and_predict(_: int) -> Any:
            return mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion").predict(X)

        return median_call_ms(load_and_predict, repeats)


def bench_search(
    model: RandomForestClassifier, X: pd.DataFrame, versions: int, repeats: int
) -> dict[str, Result]:
    """Register ``versions`` versions over 10 models (tag team=a|b), then time one search."""
    with fresh_store() as (_, experiment_id):
        uri = logged_model_uri(experiment_id, model, X)
        start = time.perf_counter()
        for i in range(versions):
            team = "ab"[(i // SEARCH_MODELS) % 2]
            mlflow.register_model(uri, f"m{i % SEARCH_MODELS}", tags={"team": team})
        populate_s = time.perf_counter() - start
        hits = len(mlflow.search_model_versions(filter_string=SEARCH_FILTER))
        searched = median_call_ms(
            lambda _: mlflow.search_model_versions(filter_string=SEARCH_FILTER), repeats, hits
        )
    return {"populate_versions": rate(versions, populate_s, "versions/s"), "search": searched}


def bench_set_alias(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Result:
    """``set_registered_model_alias`` moving ``champion`` back and forth between 2 versions."""
    with fresh_store() as (client, experiment_id):
        uri = logged_model_uri(experiment_id, model, X)
        versions = [mlflow.register_model(uri, MODEL_NAME).version for _ in range(2)]
        return median_call_ms(
            lambda i: client.set_registered_model_alias(MODEL_NAME, "champion", versions[i % 2]),
            repeats,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per workload")
    parser.add_argument("--versions", type=int, default=1_000, help="versions to search over")
    parser.add_argument("--skip", default="", help="comma-separated workloads to leave out")
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    return parser.parse_args(argv)


def run_all(args: argparse.Namespace) -> dict[str, Result]:
    model, X = make_model()
    skip = {name for name in args.skip.split(",") if name}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("log_model", lambda: bench_log_model(model, X, args.repeats, True)),
        ("log_model_pinned", lambda: bench_log_model(model, X, args.repeats, False)),
        ("register_model", lambda: bench_register(model, X, args.repeats)),
        ("load_predict", lambda: bench_load(model, X, args.repeats)),
        ("search", lambda: bench_search(model, X, args.versions, args.repeats)),
        ("set_alias", lambda: bench_set_alias(model, X, args.repeats)),
    ]
    results: dict[str, Result] = {}
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
    results = {
        "mlflow_version": mlflow.__version__,
        "serialization_format": SERIALIZATION_FORMAT,
        "results": run_all(args),
    }
    if args.json:
        print(json.dumps(results))
    else:
        for name, result in results["results"].items():
            print(f"{name:18} {result['value']:>12,.1f} {result['unit']:10} (n={result['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
