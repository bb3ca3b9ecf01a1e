"""Wall-clock overhead of ``modelkeep tune`` over plain Optuna running the same objective.

Both sides tune the same model on the same data with the same search space, seed, sampler
(TPE) and pruner (median, fed the running mean of the fold scores):

* data: scikit-learn's breast cancer table (569 rows x 30 features) as a CSV file; 25% held
  out for the test score, stratified folds on the rest (the same rows and folds on both sides);
* model: median imputation + standard scaling + ``RandomForestClassifier`` with
  ``max_depth`` in 2..10, ``max_features`` in {sqrt, log2} and ``n_estimators`` from the
  objective: ``light`` 10..100 trees and 3 folds (about 0.1 s a trial here), ``standard``
  100..500 trees and 5 folds (about a second); the score is cross-validated ROC AUC;
* plain Optuna: ``study.optimize`` with the objective written directly in scikit-learn, then
  the best configuration refit on all training rows and scored on the test rows;
* modelkeep: ``modelkeep.tune.tune(config)`` from the YAML-equivalent dict: the study in the
  tracking store's database, each trial a child run (params, per-fold metrics, state), then the
  refit run with everything ``modelkeep train`` logs (data profile, plots, model package).

Plain Optuna is measured twice: with its in-memory storage, and with an RDB storage in a fresh
database of the same backend (SQLite file or PostgreSQL) with Optuna's default settings. A
study that other workers can join and that survives the process needs a database, and Optuna's
RDB storage costs tens of milliseconds a trial by itself, so the second line is the like-for-like
one and the first shows what the database costs. Timings start after a warm-up (one plain fit
and one ``modelkeep.train`` run), so first-use costs such as imports and matplotlib's font cache
count on neither side; the tracking store's schema is created before the timer starts (a
user's store exists already), Optuna's tables inside it.

Examples::

    .venv/bin/python benchmarks/tune.py                # 100 trials, light objective, SQLite
    .venv/bin/python benchmarks/tune.py --objectives light,standard --repeats 3
    .venv/bin/python benchmarks/tune.py --trials 20 --backends sqlite,postgresql --json -
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from _common import Measurement, format_value
from _stores import fresh_store
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import modelkeep as mk
from modelkeep.store.sql import SqlStore
from modelkeep.tune import tune

SEED = 42
TEST_SIZE = 0.25
TARGET_OVERHEAD = 0.10


@dataclass(frozen=True)
class Objective:
    """What each trial does: cross-validate a forest drawn from ``space`` on ``n_splits``."""

    name: str
    n_splits: int
    space: dict[str, dict[str, Any]]


def _forest_space(low: int, high: int, step: int) -> dict[str, dict[str, Any]]:
    return {
        "n_estimators": {"type": "int", "low": low, "high": high, "step": step},
        "max_depth": {"type": "int", "low": 2, "high": 10},
        "max_features": {"type": "categorical", "choices": ["sqrt", "log2"]},
    }


OBJECTIVES = {
    "light": Objective("light: 10-100 trees, 3 folds", 3, _forest_space(10, 100, 10)),
    "standard": Objective("standard: 100-500 trees, 5 folds", 5, _forest_space(100, 500, 50)),
}


@dataclass(frozen=True)
class Outcome:
    """One timed side: wall time and the best configuration it found."""

    seconds: float
    best_value: float
    best_params: dict[str, Any]
    test_roc_auc: float
    trials: int


# ---- plain Optuna ------------------------------------------------------------------------
def _split(csv: Path) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """The rows modelkeep trains and tests on: a stratified hold-out, as its config asks."""
    frame = pd.read_csv(csv)
    n_test = math.ceil(TEST_SIZE * len(frame))
    train, test = train_test_split(
        frame, test_size=n_test, random_state=SEED, stratify=frame["target"]
    )
    features = [c for c in frame.columns if c != "target"]
    return (
        train[features].reset_index(drop=True),
        train["target"].reset_index(drop=True),
        test[features].reset_index(drop=True),
        test["target"].reset_index(drop=True),
    )


def _pipeline(columns: Sequence[str], params: dict[str, Any]) -> Pipeline:
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    return Pipeline(
        [
            ("preprocess", ColumnTransformer([("numeric", numeric, list(columns))])),
            ("model", RandomForestClassifier(random_state=SEED, **params)),
        ]
    )


def _suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        key = prefix + name
        if spec["type"] == "int":
            params[name] = trial.suggest_int(
                key, spec["low"], spec["high"], step=spec.get("step", 1)
            )
        else:
            params[name] = trial.suggest_categorical(key, spec["choices"])
    return params


def run_plain(csv: Path, goal: Objective, trials: int, storage: str | None) -> Outcome:
    """Plain Optuna: the objective written in scikit-learn, then the refit of the best."""
    start = time.perf_counter()
    X, y, X_test, y_test = _split(csv)
    folds = list(StratifiedKFold(goal.n_splits, shuffle=True, random_state=SEED).split(X, y))

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, goal.space, "model.params.")
        scores: list[float] = []
        for index, (fit_rows, valid_rows) in enumerate(folds):
            model = _pipeline(X.columns, params).fit(X.iloc[fit_rows], y.iloc[fit_rows])
            proba = model.predict_proba(X.iloc[valid_rows])[:, 1]
            scores.append(float(roc_auc_score(y.iloc[valid_rows], proba)))
            trial.report(sum(scores) / len(scores), step=index)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="maximize",
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(objective, n_trials=trials)
    best = {k.removeprefix("model.params."): v for k, v in study.best_params.items()}
    model = _pipeline(X.columns, best).fit(X, y)
    test = float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    seconds = time.perf_counter() - start
    return Outcome(seconds, study.best_value, study.best_params, test, len(study.trials))


# ---- modelkeep ---------------------------------------------------------------------------
def tune_config(csv: Path, goal: Objective, trials: int) -> dict[str, Any]:
    """The same study as a modelkeep tune config."""
    return {
        "task": "classification",
        "data": str(csv),
        "target": "target",
        "model": {"family": "random_forest"},
        "split": {"kind": "stratified_kfold", "n_splits": goal.n_splits, "test_size": TEST_SIZE},
        "metrics": ["roc_auc"],
        "seed": SEED,
        "experiment": "bench-tune",
        "tune": {
            "n_trials": trials,
            "sampler": "tpe",
            "pruner": "median",
            "space": {f"model.params.{name}": spec for name, spec in goal.space.items()},
        },
    }


def run_modelkeep(csv: Path, goal: Objective, trials: int, uri: str) -> Outcome:
    SqlStore(uri).close()  # the store exists already, as a user's does
    start = time.perf_counter()
    result = tune(tune_config(csv, goal, trials), tracking_uri=uri, progress=False)
    seconds = time.perf_counter() - start
    return Outcome(
        seconds,
        result.best_value,
        result.best_params,
        result.metrics["test_roc_auc"],
        result.n_trials,
    )


# ---- driver and table ---------------------------------------------------------------------
def warm_up(csv: Path, tmp: Path) -> None:
    """First-use costs (imports, matplotlib's font cache...) outside every timing: one plain
    fit and one ``modelkeep.train`` run in a throwaway store."""
    from modelkeep.train import train

    X, y, _, _ = _split(csv)
    _pipeline(X.columns, {"n_estimators": 10}).fit(X, y)
    config = tune_config(csv, OBJECTIVES["light"], 1)
    del config["tune"]
    mk.set_tracking_uri(f"sqlite:///{tmp / 'warm-up.db'}")
    try:
        train(config)
    finally:
        from modelkeep.tracking import fluent

        fluent.reset()
        mk.set_tracking_uri(None)


def _median(runs: Sequence[Outcome]) -> Outcome:
    first = runs[0]
    seconds = statistics.median(run.seconds for run in runs)
    return Outcome(seconds, first.best_value, first.best_params, first.test_roc_auc, first.trials)


SIDES = ("plain Optuna (in-memory)", "plain Optuna (RDB)", "modelkeep")


def measure(
    backend: str, csv: Path, goal: Objective, trials: int, repeats: int
) -> dict[str, Outcome]:
    """Median over ``repeats`` of each side, the sides interleaved so that machine noise hits
    them alike. Each side that uses a database gets a brand-new one of ``backend``."""
    outcomes: dict[str, list[Outcome]] = {name: [] for name in SIDES}
    for index in range(repeats):
        for name in SIDES:
            print(
                f"{backend}, {goal.name}: {name}, run {index + 1}/{repeats} ...",
                file=sys.stderr,
                flush=True,
            )
            if name == "plain Optuna (in-memory)":
                outcomes[name].append(run_plain(csv, goal, trials, None))
                continue
            with fresh_store(backend) as uri:
                if name == "modelkeep":
                    outcomes[name].append(run_modelkeep(csv, goal, trials, uri))
                else:
                    outcomes[name].append(run_plain(csv, goal, trials, uri))
    return {name: _median(runs) for name, runs in outcomes.items()}


@dataclass(frozen=True)
class Line:
    backend: str
    objective: str
    storage: str
    modelkeep: Measurement
    plain: Measurement
    same_best: bool

    @property
    def overhead(self) -> float:
        return self.modelkeep.seconds / self.plain.seconds - 1.0

    @property
    def ok(self) -> bool:
        return self.overhead <= TARGET_OVERHEAD


def lines_for(
    backend: str, goal: Objective, trials: int, results: dict[str, Outcome]
) -> list[Line]:
    ours = results["modelkeep"]
    mine = Measurement(ours.seconds * 1000, "ms", trials, ours.seconds)
    lines = []
    for name in ("plain Optuna (in-memory)", "plain Optuna (RDB)"):
        theirs = results[name]
        plain = Measurement(theirs.seconds * 1000, "ms", trials, theirs.seconds)
        same = theirs.best_params == ours.best_params
        storage = "in-memory" if "memory" in name else f"RDB ({backend})"
        lines.append(Line(backend, goal.name, storage, mine, plain, same))
    return lines


COLUMNS = (
    "backend",
    "objective",
    "plain Optuna storage",
    "modelkeep",
    "plain Optuna",
    "overhead",
    "target",
    "ok",
    "same best",
)


def print_lines(title: str, lines: Sequence[Line], footer: str, file: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=footer or None, caption_justify="left")
    for name in COLUMNS:
        numeric = name in ("modelkeep", "plain Optuna", "overhead")
        table.add_column(name, justify="right" if numeric else "left")
    for line in lines:
        table.add_row(
            line.backend,
            line.objective,
            line.storage,
            format_value(line.modelkeep),
            format_value(line.plain),
            f"{line.overhead:+.1%}",
            f"<= {TARGET_OVERHEAD:.0%}",
            "yes" if line.ok else "NO",
            "yes" if line.same_best else "no",
            style=None if line.ok else "red",
        )
    Console(file=file, width=160).print(table)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trials", type=int, default=100, help="trials per study (100)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side; the median")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--objectives", default="light", help="comma-separated: " + ",".join(OBJECTIVES)
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the results as JSON to PATH, or alone to stdout (the table goes to stderr)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.backends.split(",")) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    unknown = set(args.objectives.split(",")) - set(OBJECTIVES)
    if unknown:
        parser.error(f"unknown objective(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lines: list[Line] = []
    raw: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mk_bench_tune_") as name:
        tmp = Path(name)
        from sklearn.datasets import load_breast_cancer

        csv = tmp / "breast_cancer.csv"
        load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
        warm_up(csv, tmp)
        for backend in args.backends.split(","):
            for key in args.objectives.split(","):
                goal = OBJECTIVES[key]
                results = measure(backend, csv, goal, args.trials, args.repeats)
                raw[f"{backend}/{key}"] = {k: asdict(v) for k, v in results.items()}
                lines += lines_for(backend, goal, args.trials, results)
    footer = (
        f"modelkeep {mk.__version__}, Optuna {optuna.__version__}; {os.cpu_count()} CPUs; "
        f"median of {args.repeats}. overhead = modelkeep's wall time / plain Optuna's - 1. "
        "same best = both found the same best parameters (same seed, same sampler)."
    )
    table_out = sys.stderr if args.json == "-" else sys.stdout
    title = f"modelkeep tune vs plain Optuna: {args.trials} trials + refit of the best, wall clock"
    print_lines(title, lines, footer, table_out)
    if args.json:
        text = json.dumps(
            {"trials": args.trials, "repeats": args.repeats, "results": raw}, indent=2
        )
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if all(line.ok for line in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
