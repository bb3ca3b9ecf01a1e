"""``run_monitor``: one monitoring pass over a window of a served model's inference log.

For ``models:/churn@champion`` and ``window="1h"``: resolve the version; load the reference
stored with its training run (:mod:`modelkeep.monitor.reference`); read the window's rows of
that version from the inference log; compute feature drift, prediction drift, data quality,
multivariate drift (on the reference's stored row sample), realized performance where labels
arrived through ``/feedback`` and estimated performance where they did not; store every
number as a metric of a *monitoring run* (experiment ``monitoring``, tags naming the model,
version and window), with the HTML and JSON reports as its artifacts; evaluate the alert
rules and deliver what fires. Fired alerts are recorded as tags of that run
(``modelkeep.alert.<n>``), which is the alert history ``modelkeep alerts list`` reads and the
rules' cooldown consults.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.config import Settings
from modelkeep.entities import Metric, Param
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.alert_history import (
    ALERT_TAG_PREFIX,
    MONITORING_EXPERIMENT,
    TAG_ALERTS,
    TAG_MODEL,
    TAG_WINDOW,
    history_point,
    window_history,
)
from modelkeep.monitor.labels import read_labels
from modelkeep.monitor.metrics_flat import flatten_metrics
from modelkeep.monitor.model_rules import stored_alert_rules
from modelkeep.monitor.reference import load_reference, sample_frame
from modelkeep.monitor.windows import WindowRows, parse_window, read_window
from modelkeep.registry.uris import parse_model_uri
from modelkeep.tracking import Client

__all__ = ["MONITORING_EXPERIMENT", "MonitorResult", "estimate_performance", "run_monitor"]

_log = logging.getLogger("modelkeep.monitor")
TAG_VERSION = "modelkeep.monitor.version"
INPUT_PREFIX = "input."


@dataclass(frozen=True)
class MonitorResult:
    """One monitoring pass.

    Attributes:
        run_id: the monitoring run holding the numbers, reports and fired alerts.
        model, version: what was monitored.
        window_start_ms, window_end_ms, rows: the window.
        metrics: every number, flat (``drift.share``, ``drift.column.f0.statistic``...).
        report: the report dict (see :mod:`modelkeep.monitor.report`).
        alerts: the alerts that fired, as dicts.
    """

    run_id: str
    model: str
    version: str
    window_start_ms: int
    window_end_ms: int
    rows: int
    metrics: dict[str, float]
    report: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dataset_drift(self) -> bool:
        return bool(self.metrics.get("drift.dataset", 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "rows": self.rows,
            "dataset_drift": self.dataset_drift,
            "metrics": self.metrics,
            "alerts": self.alerts,
        }


def run_monitor(
    model_uri: str,
    window: str = "1h",
    *,
    end_ms: int | None = None,
    rules: Any = None,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
    deliver_alerts: bool = True,
    thresholds: str = "static",
    labels: str | Path | pd.DataFrame | None = None,
) -> MonitorResult:
    """Monitor ``model_uri`` over ``window`` of its inference log (see the module docstring).

    Args:
        model_uri: ``models:/name@alias`` or ``models:/name/3``.
        window: ``1h``, ``30m``, ``7d``... or a row count (``5000``).
        end_ms: the window's end (default: now).
        rules: alert rules (YAML text, a path, a dict or loaded rules); None uses the rules
            stored with the registered model (:mod:`modelkeep.monitor.model_rules`), if any.
        tracking_uri: the store (default: the settings').
        settings: where the inference log lives (``settings.home / "inference"``).
        deliver_alerts: send fired alerts through their channels (always recorded).
        thresholds: ``static`` (each method's default) or ``learned`` from chunks of the
            reference's row sample (mean + 3 sigma, see :mod:`modelkeep.monitor.learned`).
        labels: a CSV/Parquet file (or DataFrame) of ``request_id, label``, joined to the
            window's predictions in addition to ``/feedback`` (see
            :mod:`modelkeep.monitor.labels`).

    Raises:
        NotFoundError: unknown model/version, no reference, or no log for the model.
        InvalidInputError: a bad window, rules or labels file; a window without rows.
    """
    settings = settings or Settings()
    if thresholds not in ("static", "learned"):
        raise InvalidInputError("thresholds: static or learned", field="thresholds")
    given_labels = None if labels is None else read_labels(labels)
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        version, reference, rows = _window(
            client, settings, model_uri, window, end_ms, given_labels
        )
        report = _assess(reference, rows, learn=thresholds == "learned")
        report.update(model=version.name, version=str(version.version))
        metrics = flatten_metrics(report)
        history = window_history(client, version.name)
        if rules is None:
            rules = stored_alert_rules(client, version.name)
        alerts = _alerts(client, rules, metrics, version.name, rows, deliver_alerts, history)
        report["alerts"] = alerts
        report["history"] = history + [history_point(_iso(rows.end_ms), metrics)]
        run_id = _record(client, version, window, rows, metrics, report, alerts)
    return MonitorResult(
        run_id, version.name, str(version.version), rows.start_ms, rows.end_ms,
        len(rows.frame), metrics, report, alerts,
    )  # fmt: skip


def estimate_performance(
    model_uri: str,
    window: str = "1h",
    *,
    end_ms: int | None = None,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A window's performance without storing a monitoring run: ``{"estimated": {metric:
    {value, lower, upper}}, "realized": {metric: value} | None}``. Estimates need no labels
    (confidence-based for classifiers, direct loss estimation for regressors, each with a
    +-3 standard-error band); realized metrics use the labels that arrived by ``/feedback``.

    Raises:
        NotFoundError: unknown model/version, no reference, or no log for the model.
        InvalidInputError: a bad window, or a window without rows.
    """
    settings = settings or Settings()
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        _, reference, rows = _window(client, settings, model_uri, window, end_ms)
    from modelkeep.monitor.summary import DatasetSummary

    columns = list(DatasetSummary.from_dict(reference["features"]).columns)
    return _performance(reference, rows.frame, _features(rows.frame, columns))


def _window(
    client: Client,
    settings: Settings,
    model_uri: str,
    window: str,
    end_ms: int | None,
    labels: pd.Series[Any] | None = None,
) -> tuple[Any, dict[str, Any], WindowRows]:
    """(the version, its reference, the window's rows with their labels)."""
    parsed_window = parse_window(window)
    version = _resolve(client, model_uri)
    reference = load_reference(client, version.run_id)
    root = settings.home / "inference"
    rows = read_window(root, version.name, str(version.version), parsed_window, end_ms=end_ms)
    if rows.frame.empty:
        raise InvalidInputError(
            f"no prediction of {version.name} version {version.version} in the window "
            f"{window} ending {_iso(rows.end_ms)}",
            field="window",
        )
    return version, reference, _with_labels(root, version.name, rows, labels)


def _resolve(client: Client, model_uri: str) -> Any:
    parsed = parse_model_uri(model_uri)
    if parsed.kind != "model" or parsed.name is None:
        raise InvalidInputError(
            "model_uri: monitor a registered model (models:/name@alias or models:/name/3)",
            field="model_uri",
        )
    version = client.resolve_model_uri(parsed).version
    assert version is not None  # a models:/ URI always names a version
    return version


def _with_labels(
    root: Path, model: str, rows: WindowRows, given: pd.Series[Any] | None = None
) -> WindowRows:
    """The window with a ``label`` column: the latest label ``/feedback`` recorded for each
    request id, or the one in ``given`` (a labels file) where it has one; missing where
    neither has."""
    from modelkeep.serve.inference_log import read_feedback

    try:
        feedback = read_feedback(root, model)
    except NotFoundError:
        feedback = pd.DataFrame()
    frame = rows.frame.copy()
    if feedback.empty:
        frame["label"] = None
    else:
        latest = feedback.sort_values("timestamp", kind="stable").groupby("request_id").last()
        frame["label"] = frame["request_id"].map(latest["label"])
    if given is not None and len(given):
        from_file = frame["request_id"].astype(str).map(given)
        frame["label"] = from_file.where(from_file.notna(), frame["label"])
    return WindowRows(frame, rows.start_ms, rows.end_ms)


def _assess(reference: dict[str, Any], rows: WindowRows, *, learn: bool = False) -> dict[str, Any]:
    """Drift, quality, multivariate drift and performance of the window."""
    from modelkeep.monitor.drift import DriftConfig, detect_drift
    from modelkeep.monitor.learned import learned_thresholds
    from modelkeep.monitor.quality import check_quality
    from modelkeep.monitor.summary import DatasetSummary

    features_ref = DatasetSummary.from_dict(reference["features"])
    current = _features(rows.frame, list(features_ref.columns))
    config = None
    if learn:
        config = DriftConfig(thresholds=learned_thresholds(features_ref, sample_frame(reference)))
    # A feature with no value in the window (a broken upstream pipeline) cannot be tested for
    # drift; quality reports it (missing rate 1.0) and the other columns are still compared.
    usable = [c for c in current.columns if _has_values(current[c])]
    drift = (
        detect_drift(features_ref, current, columns=usable, config=config)
        if usable
        else _no_drift()
    )
    predictions = pd.DataFrame({"prediction": rows.frame["prediction"].to_numpy()})
    prediction_drift = detect_drift(DatasetSummary.from_dict(reference["prediction"]), predictions)
    return {
        "window": {"start": _iso(rows.start_ms), "end": _iso(rows.end_ms), "rows": len(current)},
        "drift": drift if isinstance(drift, dict) else drift.to_dict(),
        "prediction_drift": prediction_drift.to_dict(),
        "distributions": _distributions(features_ref, current),
        "quality": check_quality(features_ref, current).to_dict(),
        "multivariate": _multivariate(reference, current),
        "performance": _performance(reference, rows.frame, current),
    }


def _features(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The window's input columns the reference knows; a column with no value at all comes
    back as floats (NaN) rather than objects, so it reads as missing, not as a new kind."""
    present = {
        c[len(INPUT_PREFIX) :]: frame[c] for c in frame.columns if c.startswith(INPUT_PREFIX)
    }
    chosen = {}
    for name in columns:
        if name in present:
            series = present[name]
            if series.dtype == object and series.isna().all():
                series = series.astype("float64")
            chosen[name] = series
    return pd.DataFrame(chosen).reset_index(drop=True)


def _distributions(reference: Any, current: pd.DataFrame) -> dict[str, Any]:
    from modelkeep.monitor.distributions import compare_distributions

    return compare_distributions(reference, current)


def _multivariate(reference: dict[str, Any], current: pd.DataFrame) -> list[dict[str, Any]]:
    from modelkeep.monitor.multivariate import (
        domain_classifier_drift,
        pca_reconstruction_drift,
    )

    sample = sample_frame(reference)
    numeric = [c for c in sample.columns if c in current and _numeric(sample[c])]
    if len(numeric) < 2 or len(current) < 20 or len(sample) < 20:
        return []
    results = []
    for check in (pca_reconstruction_drift, domain_classifier_drift):
        try:
            results.append(_as_dict(check(sample[numeric], current[numeric])))
        except (InvalidInputError, ValueError) as exc:
            _log.info("multivariate check %s skipped: %s", check.__name__, exc)
    return results


def _performance(
    reference: dict[str, Any], frame: pd.DataFrame, current: pd.DataFrame
) -> dict[str, Any]:
    from modelkeep.monitor.cbpe import estimate_classification
    from modelkeep.monitor.dle import estimate_regression
    from modelkeep.monitor.performance import realized_performance

    task, classes = reference["task"], reference.get("classes")
    out: dict[str, Any] = {"realized": None, "estimated": None}
    labelled, unknown = _labelled(frame, task, classes)
    out["unknown_labels"] = unknown
    if len(labelled):
        proba = _proba(labelled) if task == "classification" else None
        out["realized"] = realized_performance(
            task, labelled["label"].to_numpy(), labelled["prediction"].to_numpy(),
            proba=proba, classes=classes,
        )  # fmt: skip
    if task == "classification" and classes and "calibration" in reference:
        proba = _proba(frame)
        if proba is not None:
            calibration = reference["calibration"]
            estimates = estimate_classification(
                proba, classes, calibration=(np.asarray(calibration["proba"]),
                                             np.asarray(calibration["labels"])),
            )  # fmt: skip
            out["estimated"] = {k: _as_dict(v) for k, v in estimates.items()}
    elif task == "regression" and reference["sample"].get("label") is not None:
        sample = reference["sample"]
        estimate = estimate_regression(
            sample_frame(reference), np.asarray(sample["label"]), np.asarray(sample["prediction"]),
            current[sample["columns"]] if set(sample["columns"]) <= set(current) else current,
            frame["prediction"].to_numpy(),
        )  # fmt: skip
        out["estimated"] = {estimate.metric: _as_dict(estimate)}
    return out


def _labelled(
    frame: pd.DataFrame, task: str, classes: list[Any] | None
) -> tuple[pd.DataFrame, int]:
    """The rows with a usable label, as the model's own class values, and how many labels
    could not be used (a class the model does not know, text for a regressor): feedback is
    free-form, and one stray label must not stop a window's monitoring."""
    from modelkeep.monitor.columns import category_key

    if "label" not in frame:
        return frame.iloc[:0], 0
    given = frame[frame["label"].notna()].copy()
    if task == "classification" and classes:
        known = {category_key(c): c for c in classes}
        given["label"] = given["label"].map(lambda v: known.get(category_key(v)))
    else:
        given["label"] = pd.to_numeric(given["label"], errors="coerce")
    usable = given[given["label"].notna()]
    return usable, len(given) - len(usable)


def _has_values(series: pd.Series[Any]) -> bool:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return bool(np.isfinite(series.to_numpy(dtype=float, na_value=np.nan)).any())
    return bool(series.notna().any())


def _no_drift() -> dict[str, Any]:
    return {"columns": {}, "drift_share": 0.0, "dataset_drift": False,
            "number_of_drifted_columns": 0}  # fmt: skip


def _proba(frame: pd.DataFrame) -> Any:
    if "proba" not in frame or frame["proba"].isna().any():
        return None
    return np.asarray(frame["proba"].tolist(), dtype=float)


def _numeric(series: pd.Series[Any]) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _as_dict(value: Any) -> dict[str, Any]:
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    import dataclasses

    return dataclasses.asdict(value)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _alerts(
    client: Client, rules: Any, metrics: dict[str, float], model: str, rows: WindowRows,
    deliver_alerts: bool, history: list[dict[str, Any]],
) -> list[dict[str, Any]]:  # fmt: skip
    if rules is None:
        return []
    from modelkeep.monitor.alert_history import last_fired_lookup
    from modelkeep.monitor.alerts import deliver, evaluate_rules, load_rules

    loaded = load_rules(rules)
    fired = evaluate_rules(
        loaded, metrics, model=model, window=(rows.start_ms, rows.end_ms),
        last_fired=last_fired_lookup(client, model), now_ms=int(time.time() * 1000),
        history=[(p["end_ms"], p["metrics"]) for p in history if p.get("end_ms") is not None],
    )  # fmt: skip
    out = []
    for alert in fired:
        record = _as_dict(alert)
        record["delivery"] = deliver(alert, loaded) if deliver_alerts else {}
        out.append(record)
    return out


def _record(
    client: Client, version: Any, window: str, rows: WindowRows, metrics: dict[str, float],
    report: dict[str, Any], alerts: list[dict[str, Any]],
) -> str:  # fmt: skip
    from modelkeep.monitor.report import render_html, render_json

    experiment = client.get_or_create_experiment(MONITORING_EXPERIMENT)
    tags = {
        TAG_MODEL: version.name,
        TAG_VERSION: str(version.version),
        TAG_WINDOW: f"{_iso(rows.start_ms)}/{_iso(rows.end_ms)}",
        TAG_ALERTS: str(len(alerts)),
    }
    for index, alert in enumerate(alerts):
        tags[f"{ALERT_TAG_PREFIX}{index}"] = json.dumps(alert, default=str)[:8000]
    run = client.create_run(
        experiment.id, run_name=f"{version.name} v{version.version} {window}", tags=tags
    )
    params = [
        Param("model", version.name),
        Param("version", str(version.version)),
        Param("window", window),
    ]
    points = [Metric(key, value, 0, rows.end_ms) for key, value in metrics.items()]
    client.log_batch(run.id, points, params)
    client.artifacts.log_bytes(run.id, render_html(report).encode(), "report.html")
    client.artifacts.log_bytes(run.id, render_json(report).encode(), "report.json")
    client.set_terminated(run.id)
    return str(run.id)


def report_path(settings: Settings, run_id: str) -> Path:
    """Where ``modelkeep monitor run --report`` writes a copy (unused by the library)."""
    return Path(settings.home) / "reports" / f"{run_id}.html"
