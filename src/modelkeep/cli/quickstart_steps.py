"""The quickstart's steps, each a function over the public library (see
:mod:`modelkeep.cli.quickstart` for the order they run in).

1. :func:`check_data`: generate the table, profile and validate it.
2. :func:`tune_champion`: a small Optuna study whose best model becomes v1 and ``champion``.
3. :func:`serve_options`: the inference server's options (the canary follows ``challenger``).
4. :func:`monitor_window`: one monitoring window with the alert rules of :func:`alert_rules`.
5. :func:`maintenance_policy` and :func:`realized_accuracy`: the policy the loop runs, and the
   accuracy each version really had on each phase of traffic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.cli.quickstart_data import FEATURES, TARGET, training_table, validation_rules
from modelkeep.config import Settings
from modelkeep.exceptions import ConflictError, NotFoundError
from modelkeep.maintain.policy import Policy, load_policy
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client

__all__ = [
    "CLEANING",
    "EXPERIMENT",
    "FAST",
    "FULL",
    "MODEL_PREFIX",
    "DataStep",
    "MonitorStep",
    "Sizes",
    "TuneStep",
    "alert_rules",
    "check_data",
    "free_model_name",
    "maintenance_policy",
    "monitor_window",
    "realized_accuracy",
    "serve_options",
    "tune_champion",
    "tune_config",
    "write_json",
]

EXPERIMENT = "quickstart"
MODEL_PREFIX = "quickstart-churn"
SOURCE_TAG = "modelkeep.quickstart"
CLEANING: dict[str, Any] = {
    "impute": {"numeric": "median", "categorical": "most_frequent"},
    "clip": {"method": "iqr", "factor": 3.0},
    "drop_duplicates": True,
    "imbalance": "class_weight",
    "encode": "onehot",
    "scale": "standard",
}
# How the cleaning section answers each kind of problem found (for the summary and report).
_FIXES = {
    "missing_values": "cleaning.impute (median / most frequent)",
    "duplicates": "cleaning.drop_duplicates",
    "range": "cleaning.clip (iqr, factor 3)",
    "not_null": "cleaning.impute (median / most frequent)",
    "class_imbalance": "cleaning.imbalance: class_weight",
}
DRIFT_SHARE = 0.4
ACCURACY_FLOOR = 0.75


@dataclass(frozen=True)
class Sizes:
    """How big each part of the quickstart is (:data:`FULL`, or :data:`FAST` for tests)."""

    train_rows: int
    trials: int
    normal_rows: int
    drift_rows: int
    after_rows: int
    min_requests: int
    bootstrap: int
    step_timeout_s: float
    poll_s: float


FULL = Sizes(3000, 12, 600, 1500, 500, 20, 1000, 120.0, 0.2)
FAST = Sizes(1200, 3, 300, 600, 200, 10, 200, 90.0, 0.1)


def free_model_name(client: Client) -> str:
    """``quickstart-churn``, or ``quickstart-churn-2``, ``-3``... when earlier quickstarts
    (or anyone) took the name: every run starts from a model of its own and leaves earlier
    ones, their logs and records alone."""
    for number in range(1, 10_000):
        name = MODEL_PREFIX if number == 1 else f"{MODEL_PREFIX}-{number}"
        try:
            client.get_registered_model(name)
        except NotFoundError:
            return name
    raise ConflictError(f"every model name {MODEL_PREFIX}-N below 10000 is taken")


@dataclass
class DataStep:
    """Step 1: the generated table and what profiling and validation found in it."""

    path: str
    rows: int
    columns: int
    class_balance: dict[str, float]
    problems: list[dict[str, Any]]
    cleaning: dict[str, Any] = field(default_factory=lambda: dict(CLEANING))


def check_data(folder: Path, rows: int) -> DataStep:
    """Generate the table, write it (and the rules) to ``folder``, profile and validate it."""
    from modelkeep.data import profile, validate

    frame = training_table(rows)
    path = folder / "churn.csv"
    frame.to_csv(path, index=False)
    (folder / "rules.yaml").write_text(validation_rules(), encoding="utf-8")
    report = profile(frame, target=TARGET)
    problems = [
        {"source": "profile", "kind": p.kind, "column": p.column, "severity": p.severity,
         "message": p.message, "fix": _FIXES.get(p.kind, "")}
        for p in report.problems
    ]  # fmt: skip
    for failure in validate(frame, validation_rules()).failures:
        found = failure.to_dict()
        problems.append({"source": "validation", "kind": found["kind"], "column": found["column"],
                         "severity": "error", "message": found["message"],
                         "fix": _FIXES.get(found["kind"], "")})  # fmt: skip
    balance = dict(report.class_balance or {})
    rarest = min(balance.items(), key=lambda item: item[1])
    if rarest[1] < 0.4:
        problems.append({"source": "profile", "kind": "class_imbalance", "column": TARGET,
                         "severity": "info", "fix": _FIXES["class_imbalance"],
                         "message": f"mild class imbalance: class {rarest[0]} is "
                                    f"{rarest[1]:.0%} of the rows"})  # fmt: skip
    return DataStep(str(path), report.n_rows, report.n_columns, balance, problems)


@dataclass
class TuneStep:
    """Step 2: the study, its trials, the refit best model registered as v1."""

    study: str
    parent_run_id: str
    refit_run_id: str | None
    metric: str
    best_value: float
    best_params: dict[str, Any]
    test_metrics: dict[str, float]
    version: int
    trials: list[dict[str, Any]]
    card: str


def tune_config(data_path: str, name: str, sizes: Sizes) -> dict[str, Any]:
    """The training config (with its ``cleaning:`` and ``tune:`` sections) of the champion."""
    return {
        "task": "classification",
        "data": data_path,
        "target": TARGET,
        "features": list(FEATURES),
        "cleaning": CLEANING,
        "model": {"family": "random_forest", "params": {"n_jobs": 1}},
        "split": {"kind": "stratified_kfold", "n_splits": 3, "test_size": 0.2},
        "metrics": ["accuracy", "roc_auc"],
        "seed": 0,
        "experiment": EXPERIMENT,
        "register": {"name": name, "alias": "champion",
                     "description": "Quickstart: who churns next month (generated data)."},
        "tune": {"n_trials": sizes.trials, "sampler": "tpe", "pruner": "none", "seed": 0,
                 "space": {
                     "model.params.n_estimators": {"type": "int", "low": 20, "high": 60,
                                                   "step": 10},
                     "model.params.max_depth": {"type": "int", "low": 4, "high": 12},
                     "model.params.min_samples_leaf": {"type": "int", "low": 1, "high": 8},
                 }},
    }  # fmt: skip


def tune_champion(
    settings: Settings, client: Client, folder: Path, data: DataStep, name: str, sizes: Sizes
) -> TuneStep:
    """Run the study, register its best model as ``name`` v1 aliased ``champion`` and write
    the model card into ``folder``."""
    import yaml

    from modelkeep.tune import tune

    config = tune_config(data.path, name, sizes)
    (folder / "tune.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result = tune(config, progress=False, tracking_uri=settings.resolved_tracking_uri())
    if result.version is None:
        raise ConflictError("the tuning study registered no model")
    client.store.set_registered_model_tag(name, SOURCE_TAG, "true")
    card, _ = client.write_model_card(f"models:/{name}/{result.version}", folder)
    return TuneStep(
        study=result.study_name,
        parent_run_id=result.run_id,
        refit_run_id=result.refit_run_id,
        metric=str(config["metrics"][0]),
        best_value=result.best_value,
        best_params=dict(result.best_params),
        test_metrics={k: v for k, v in result.metrics.items() if k.startswith("test_")},
        version=int(result.version),
        trials=_trials(client, result.study_name),
        card=str(card.with_suffix(".html")),
    )


def _trials(client: Client, study: str) -> list[dict[str, Any]]:
    """Each trial's number, state, sampled parameters and cross-validated scores."""
    from modelkeep.tune.objective import TAG_ROLE, TAG_STATE, TAG_STUDY, TAG_TRIAL

    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.id], f"tags.`{TAG_STUDY}` = '{study}'",
                              max_results=1000)  # fmt: skip
    trials = [
        {"trial": int(run.tags[TAG_TRIAL]), "state": run.tags.get(TAG_STATE, ""),
         "params": {k.removeprefix("model.params."): v for k, v in run.params.items()
                    if k.startswith("model.params.")},
         "scores": {k: v for k, v in run.metrics.items() if k.endswith("_mean")}}
        for run in runs
        if run.tags.get(TAG_ROLE) == "trial" and TAG_TRIAL in run.tags
    ]  # fmt: skip
    return sorted(trials, key=lambda trial: int(trial["trial"]))


def serve_options(settings: Settings, name: str, port: int, sizes: Sizes) -> ServeOptions:
    """The champion as primary; the canary follows ``challenger`` (pending until it is set)
    with weight 0 until the rollout sets the weight tag."""
    return ServeOptions(
        f"models:/{name}@champion",
        port=port,
        canary_uri=f"models:/{name}@challenger",
        canary_weight=0.0,
        poll_interval_s=sizes.poll_s,
        # Native: the demo's traffic has missing text values, which the ONNX runtime sends to
        # the native model anyway, and skipping the conversion keeps hot reloads quick.
        runtime="native",
        tracking_uri=settings.resolved_tracking_uri(),
    )


def alert_rules(webhook_url: str) -> dict[str, Any]:
    """Drift and accuracy rules, each alerting the log and the local webhook receiver."""
    hook = {"type": "webhook", "url": webhook_url, "allow_hosts": ["127.0.0.1"],
            "retries": 1, "timeout_s": 10}  # fmt: skip
    channels = ["log", "local-hook"]
    return {
        "channels": {"local-hook": hook},
        "rules": [
            {"name": "data-drift", "metric": "drift.share", "condition": ">",
             "value": DRIFT_SHARE, "severity": "warning", "cooldown": "10m",
             "channels": channels},
            {"name": "accuracy-drop", "metric": "performance.accuracy", "condition": "<",
             "value": ACCURACY_FLOOR, "severity": "critical", "cooldown": "10m",
             "channels": channels},
        ],
    }  # fmt: skip


@dataclass
class MonitorStep:
    """One monitoring window: drift, realized accuracy, alerts, the run's HTML report."""

    run_id: str
    rows: int
    drift_share: float
    drifted_columns: list[str]
    accuracy: float | None
    alerts: list[dict[str, Any]]
    report_html: str = field(repr=False)


def monitor_window(
    settings: Settings, client: Client, name: str, rows: int, rules: dict[str, Any],
    end_ms: int | None = None,
) -> MonitorStep:  # fmt: skip
    """Monitor the champion's last ``rows`` answers before ``end_ms`` (default now)."""
    from modelkeep.monitor.runner import run_monitor

    result = run_monitor(f"models:/{name}@champion", str(rows), rules=rules, settings=settings,
                         end_ms=end_ms)  # fmt: skip
    columns = (result.report.get("drift") or {}).get("columns") or {}
    drifted = sorted(str(c) for c, found in columns.items() if found.get("drifted"))
    html = client.read_artifact(result.run_id, "report.html").decode("utf-8")
    return MonitorStep(
        run_id=result.run_id,
        rows=result.rows,
        drift_share=float(result.metrics.get("drift.share", 0.0)),
        drifted_columns=drifted,
        accuracy=result.metrics.get("performance.accuracy"),
        alerts=[_alert_summary(a) for a in result.alerts],
        report_html=html,
    )


def _alert_summary(alert: dict[str, Any]) -> dict[str, Any]:
    keys = ("rule", "severity", "metric", "value", "message", "delivery")
    return {key: alert.get(key) for key in keys}


def maintenance_policy(name: str, sizes: Sizes) -> Policy:
    """Retrain on drift or an accuracy drop; judge on a holdout of recent labeled traffic;
    promote through a 10% -> 50% -> 100% canary."""
    return load_policy({
        "model": name,
        "triggers": [{"kind": "drift_share", "above": DRIFT_SHARE},
                     {"kind": "performance", "metric": "accuracy", "below": ACCURACY_FLOOR}],
        "retrain": {"window": "1h", "weight": 1, "holdout": 0.3, "min_rows": 100},
        "evaluation": {"metric": "accuracy", "slices": ["plan"], "bootstrap": sizes.bootstrap},
        "gates": {"min_improvement": 0.02, "require_significance": True,
                  "slice_tolerance": 0.1, "latency_ratio": 10.0},
        "rollout": {"mode": "canary", "steps": [0.1, 0.5, 1.0],
                    "min_requests": sizes.min_requests, "poll": sizes.poll_s,
                    "step_timeout": sizes.step_timeout_s, "max_error_rate": 0.0,
                    "max_latency_ratio": 10.0, "max_metric_drop": 0.05},
    })  # fmt: skip


def realized_accuracy(settings: Settings, name: str, since_ms: int) -> list[dict[str, Any]]:
    """Accuracy of each version on each phase of traffic since ``since_ms``, from the
    inference log joined with ``/feedback`` (phase = the request id's prefix)."""
    from modelkeep.serve.inference_read import join_feedback

    log = join_feedback(settings.home / "inference", name, since_ms=since_ms)
    labeled = log[log["label"].notna() & (log["variant"] != "shadow")].copy()
    labeled["phase"] = labeled["request_id"].astype(str).str.split("-").str[0]
    labeled["right"] = labeled["prediction"].astype(str) == labeled["label"].astype(str)
    out = []
    for (phase, version, variant), rows in labeled.groupby(["phase", "version", "variant"]):
        out.append({"phase": str(phase), "version": str(version), "variant": str(variant),
                    "rows": len(rows), "accuracy": float(rows["right"].mean())})  # fmt: skip
    return out


def write_json(path: Path, data: Any) -> None:
    """``data`` (a dataclass) as indented JSON, without the embedded HTML reports."""
    plain = asdict(data)
    for value in plain.values():
        if isinstance(value, dict):
            value.pop("report_html", None)
    path.write_text(json.dumps(plain, indent=1, default=str), encoding="utf-8")
