"""Alert history: the alerts that fired, read back from the monitoring runs that recorded them.

Each monitoring run carries ``modelkeep.alerts`` (how many fired) and one tag
``modelkeep.alert.<n>`` per fired alert holding its JSON. This works through the store's
public contract, so it is the same on SQLite, PostgreSQL and a tracking server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from modelkeep.entities import Run
from modelkeep.store.search_tokens import render_quoted
from modelkeep.tracking import Client

__all__ = [
    "history_point",
    "last_fired_lookup",
    "list_alerts",
    "monitoring_runs",
    "window_history",
]

MONITORING_EXPERIMENT = "monitoring"
TAG_MODEL = "modelkeep.monitor.model"
TAG_ALERTS = "modelkeep.alerts"
TAG_WINDOW = "modelkeep.monitor.window"
ALERT_TAG_PREFIX = "modelkeep.alert."


def monitoring_runs(
    client: Client, model: str | None, limit: int = 1000, *, with_alerts: bool = False
) -> list[Run]:
    """The monitoring runs of ``model`` (every model when None), newest first."""
    experiment = client.get_experiment_by_name(MONITORING_EXPERIMENT)
    if experiment is None:
        return []
    clauses = []
    if model is not None:
        clauses.append(f"tags.`{TAG_MODEL}` = {render_quoted(model, chr(39))}")
    if with_alerts:
        clauses.append(f"tags.`{TAG_ALERTS}` != '0'")
    return list(
        client.search_runs(
            [experiment.id],
            " and ".join(clauses),
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
    )


def _alerts_of(run: Run) -> list[dict[str, Any]]:
    found = []
    for key, value in run.tags.items():
        if key.startswith(ALERT_TAG_PREFIX):
            try:
                alert = json.loads(value)
            except ValueError:
                continue
            if isinstance(alert, dict):
                alert["run_id"] = run.id
                found.append(alert)
    return sorted(found, key=lambda a: int(a.get("fired_at_ms") or 0))


def list_alerts(
    client: Client, model: str | None = None, *, since_ms: int | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Fired alerts, newest first (each with the ``run_id`` of the window that fired it)."""
    alerts = []
    for run in monitoring_runs(client, model, limit, with_alerts=True):
        for alert in reversed(_alerts_of(run)):
            if since_ms is None or int(alert.get("fired_at_ms") or 0) >= since_ms:
                alerts.append(alert)
    return alerts[:limit]


def last_fired_lookup(client: Client, model: str) -> Callable[[str], int | None]:
    """``last_fired(dedup_key)``: when an alert with that key last fired for ``model``."""
    latest: dict[str, int] = {}
    for alert in list_alerts(client, model):
        key, fired = alert.get("dedup_key"), alert.get("fired_at_ms")
        if isinstance(key, str) and isinstance(fired, int):
            latest[key] = max(latest.get(key, 0), fired)
    return latest.get


def window_history(client: Client, model: str, limit: int = 50) -> list[dict[str, Any]]:
    """The last ``limit`` monitoring windows of ``model``, oldest first, each as
    ``{"window_end": iso, "end_ms": int | None, "drift_share", "metrics": {...}}`` (the
    report's "over time" charts and the alert rules' ``window``)."""
    points = []
    for run in reversed(monitoring_runs(client, model, limit)):
        end = run.tags.get(TAG_WINDOW, "").split("/")[-1]
        point = history_point(end, run.metrics)
        point["end_ms"] = _ms_of(end)
        points.append(point)
    return points


def history_point(window_end: str, metrics: Mapping[str, float]) -> dict[str, Any]:
    """One window's entry of :func:`window_history` (NaN metrics left out)."""
    return {
        "window_end": window_end,
        "drift_share": metrics.get("drift.share"),
        "metrics": {k: v for k, v in metrics.items() if not math.isnan(v)},
    }


def _ms_of(iso: str) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except (ValueError, TypeError):
        return None
