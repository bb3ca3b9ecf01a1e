"""Model-registry latencies of modelkeep, optionally next to MLflow's.

Workloads, each on a brand-new SQLite store in a temporary directory, with the same model and
data on both sides (a ``RandomForestClassifier(n_estimators=50, max_depth=8)`` fitted on 2,000
rows x 10 float features; the input example is the first 5 rows):

* ``log_model``: ``run.log_model(model, input_example=X.head(5))`` in one run, each call under
  its own name. MLflow infers pip requirements in a subprocess by default; a second line
  compares with MLflow given its default pins instead (no inference), for information.
* ``register_model``: ``mk.register_model(uri, name="bench")`` of one logged model, again and
  again (a new version each call).
* load + predict: ``mk.load_model("models:/bench@champion").predict(X)`` on all 2,000 rows.
* search: ``mk.search_model_versions("name = 'm3' and tags.team = 'a'")`` after registering
  ``--versions`` versions over 10 models (tag ``team`` = a|b); the registration is reported too.
* ``set_alias``: moving ``champion`` back and forth between two versions.

Every figure is the median of ``--repeats`` calls after one warm-up call.

``--compare-mlflow PYTHON`` runs ``benchmarks/mlflow_registry_workload.py`` with another
interpreter (one that has MLflow and scikit-learn installed) on its own SQLite files, with the
same sizes, and prints the ratios (target: faster than MLflow). Both sides save the forest with
skops. Without it the MLflow column shows figures measured once on the development machine
(marked ``(ref)``).

Examples::

    .venv/bin/python benchmarks/registry.py --repeats 3 --versions 200
    .venv/bin/python benchmarks/registry.py --compare-mlflow /tmp/mlflow-venv/bin/python \\
        --json registry.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import Measurement, Row, print_table, rows_as_dicts
from _stores import fresh_store
from sklearn.ensemble import RandomForestClassifier

import modelkeep as mk

HERE = Path(__file__).resolve().parent

MODEL_NAME = "bench"
SEARCH_MODELS = 10
SEARCH_FILTER = "name = 'm3' and tags.team = 'a'"
# modelkeep's sklearn flavor always writes model.skops; it never pickles.
MODELKEEP_FORMAT = "skops"
TARGET = "faster than MLflow"

# MLflow 3.17.2 on SQLite on the 2-core development machine (median of 5, 1,000 versions), for
# runs without --compare-mlflow.
MLFLOW_REFERENCE = {
    "log_model": Measurement(4_200, "ms", 5, 4.200),
    "log_model_pinned": Measurement(256, "ms", 5, 0.256),
    "register_model": Measurement(31, "ms", 5, 0.031),
    "load_predict": Measurement(94, "ms", 5, 0.094),
    "populate_versions": Measurement(34, "versions/s", 1_000, 29.4),
    "search": Measurement(9.9, "ms", 50, 0.0099),
    "set_alias": Measurement(12.9, "ms", 5, 0.0129),
}


@dataclass(frozen=True)
class Workload:
    """A table line: which result it shows, against which MLflow result, and its target."""

    key: str
    label: str
    mlflow_key: str
    beat_mlflow: bool = True


WORKLOADS = (
    Workload("log_model", "log_model (RF 50 trees, input example)", "log_model"),
    Workload("log_model", "  same, vs MLflow with pins given", "log_model_pinned", False),
    Workload("register_model", "register_model (same logged model)", "register_model"),
    Workload("load_predict", "load_model @champion + predict 2,000 rows", "load_predict"),
    Workload(
        "populate_versions", "populate: register_model x{versions:,}", "populate_versions", False
    ),
    Workload("search", "search_model_versions, {versions:,} versions", "search"),
    Workload("set_alias", "set_alias (between 2 versions)", "set_alias"),
)


def make_model() -> tuple[RandomForestClassifier, pd.DataFrame]:
    """The benchmark's model and data; ``mlflow_registry_workload.make_model`` is the same."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2_000, 10)), columns=[f"f{i}" for i in range(10)])
    y = (X["f0"] + 0.5 * X["f1"] - X["f2"] > 0).astype("int64")
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0)
    return model.fit(X, y), X


def median_call_ms(call: Callable[[int], Any], repeats: int, n: int | None = None) -> Measurement:
    """Median wall time of ``call(i)`` for i in 1..repeats, after one warm-up ``call(0)``."""
    call(0)
    samples = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return Measurement(median * 1000, "ms", repeats if n is None else n, median)


# ---- modelkeep workloads ----------------------------------------------------------------
def logged_model_uri(model: RandomForestClassifier, X: pd.DataFrame) -> str:
    with mk.start_run(experiment="registry") as run:
        return run.log_model(model, input_example=X.head(5)).uri


def bench_log_model(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Measurement:
    with mk.start_run(experiment="registry") as run:
        return median_call_ms(
            lambda i: run.log_model(model, f"model{i}", input_example=X.head(5)), repeats
        )


def bench_register(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Measurement:
    uri = logged_model_uri(model, X)
    return median_call_ms(lambda _: mk.register_model(uri, name=MODEL_NAME), repeats)


def bench_load(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Measurement:
    version = mk.register_model(logged_model_uri(model, X), name=MODEL_NAME).version
    mk.set_alias(MODEL_NAME, "champion", version=version, reason="benchmark")
    return median_call_ms(
        lambda _: mk.load_model(f"models:/{MODEL_NAME}@champion").predict(X), repeats
    )


def bench_search(
    model: RandomForestClassifier, X: pd.DataFrame, versions: int, repeats: int
) -> dict[str, Measurement]:
    uri = logged_model_uri(model, X)
    start = time.perf_counter()
    for i in range(versions):
        team = "ab"[(i // SEARCH_MODELS) % 2]
        mk.register_model(uri, name=f"m{i % SEARCH_MODELS}", tags={"team": team})
    populated = Measurement.rate(versions, time.perf_counter() - start, "versions/s")
    hits = len(mk.search_model_versions(filter=SEARCH_FILTER))
    searched = median_call_ms(
        lambda _: mk.search_model_versions(filter=SEARCH_FILTER), repeats, hits
    )
    return {"populate_versions": populated, "search": searched}


def bench_set_alias(model: RandomForestClassifier, X: pd.DataFrame, repeats: int) -> Measurement:
    uri = logged_model_uri(model, X)
    versions = [mk.register_model(uri, name=MODEL_NAME).version for _ in range(2)]
    return median_call_ms(
        lambda i: mk.set_alias(MODEL_NAME, "champion", version=versions[i % 2], reason="bench"),
        repeats,
    )


def run_modelkeep(repeats: int, versions: int) -> dict[str, Measurement | str]:
    """Every workload on a fresh SQLite store; a failed workload is recorded as its error."""
    model, X = make_model()
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("log_model", lambda: bench_log_model(model, X, repeats)),
        ("register_model", lambda: bench_register(model, X, repeats)),
        ("load_predict", lambda: bench_load(model, X, repeats)),
        ("search", lambda: bench_search(model, X, versions, repeats)),
        ("set_alias", lambda: bench_set_alias(model, X, repeats)),
    ]
    results: dict[str, Measurement | str] = {}
    for name, step in steps:
        print(f"modelkeep/sqlite: {name} ...", file=sys.stderr, flush=True)
        try:
            with fresh_store("sqlite"):
                outcome = step()
        except Exception as exc:  # noqa: BLE001 - report it in the table and keep going
            traceback.print_exc(file=sys.stderr)
            outcome = f"{type(exc).__name__}: {exc}"[:120]
            if name == "search":
                outcome = dict.fromkeys(("populate_versions", "search"), outcome)
        if isinstance(outcome, dict):
            results.update(outcome)
        else:
            results[name] = outcome
    return results


# ---- MLflow -----------------------------------------------------------------------------
def run_mlflow(
    python: str, repeats: int, versions: int
) -> tuple[dict[str, str], dict[str, Measurement]]:
    """MLflow's workloads in a subprocess of ``python``: ({version, format}, results)."""
    command = [
        python,
        str(HERE / "mlflow_registry_workload.py"),
        "--json",
        f"--repeats={repeats}",
        f"--versions={versions}",
    ]
    print("mlflow: " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # MLflow prints a line per registered version on stderr; pass on only the progress lines.
    for text in done.stderr.splitlines():
        if done.returncode != 0 or text.startswith("mlflow: "):
            print(text, file=sys.stderr, flush=True)
    done.check_returncode()
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{"))
    data = json.loads(line)
    results = {k: Measurement.from_json(v) for k, v in data["results"].items()}
    about = {"version": str(data["mlflow_version"]), "format": str(data["serialization_format"])}
    return about, results


# ---- table ------------------------------------------------------------------------------
def _row(
    workload: Workload,
    versions: int,
    ours: Measurement | str | None,
    mlflow: dict[str, Measurement] | None,
) -> Row:
    if mlflow is not None:
        theirs, source = mlflow.get(workload.mlflow_key), ""
    else:
        theirs, source = MLFLOW_REFERENCE.get(workload.mlflow_key), "(ref)"
    measured = ours if isinstance(ours, Measurement) else None
    note = ours if isinstance(ours, str) else "not run"
    label = workload.label.format(versions=versions)
    row = Row("sqlite", label, measured, theirs, source, note=note)
    if not workload.beat_mlflow or theirs is None:
        return row
    return replace(row, target=TARGET, ok=row.ratio is not None and row.ratio >= 1)


def build_rows(
    results: dict[str, Measurement | str], mlflow: dict[str, Measurement] | None, versions: int
) -> list[Row]:
    return [_row(w, versions, results.get(w.key), mlflow) for w in WORKLOADS]


def footer(about: dict[str, str] | None, repeats: int) -> str:
    if about is None:
        source = "MLflow 3.17.2 reference figures (ref: 1,000 versions, 5 calls), skops"
    else:
        source = f"MLflow {about['version']} measured now, mlflow.sklearn format {about['format']}"
    return (
        f"modelkeep {mk.__version__}, sklearn flavor format {MODELKEEP_FORMAT}; {source} "
        "(skops_trusted_types: sklearn.tree._tree.Tree; pip requirements inferred, except "
        "the 'pins given' line). SQLite in a temp dir; median of "
        f"{repeats} calls after 1 warm-up; {os.cpu_count()} CPUs. ratio = times faster than "
        "MLflow."
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--compare-mlflow", metavar="PYTHON", help="python of a venv with mlflow")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per workload")
    parser.add_argument("--versions", type=int, default=1_000, help="versions to search over")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the results as JSON to PATH, or alone to stdout (the table goes to stderr)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.versions < SEARCH_MODELS:
        parser.error(f"--repeats must be >= 1 and --versions >= {SEARCH_MODELS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run_modelkeep(args.repeats, args.versions)
    about, mlflow = None, None
    if args.compare_mlflow:
        about, mlflow = run_mlflow(args.compare_mlflow, args.repeats, args.versions)
        ours, theirs = results.get("search"), mlflow.get("search")
        if isinstance(ours, Measurement) and theirs is not None and ours.n != theirs.n:
            print(f"warning: search hits differ: {ours.n} vs {theirs.n}", file=sys.stderr)
    rows = build_rows(results, mlflow, args.versions)
    table_out = sys.stderr if args.json == "-" else sys.stdout
    print_table(
        "modelkeep model-registry benchmark", rows, footer(about, args.repeats), file=table_out
    )
    if args.json:
        dump = {
            "repeats": args.repeats,
            "versions": args.versions,
            "mlflow": about,
            "modelkeep_format": MODELKEEP_FORMAT,
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
