"""Experiment tracking: the fluent API, the explicit Client, buffered logging."""

from __future__ import annotations

from modelkeep.tracking.active_run import ActiveRun
from modelkeep.tracking.client import Client
from modelkeep.tracking.fluent import (
    active_run,
    end_run,
    get_metric_history,
    get_run,
    get_tracking_uri,
    search_runs,
    set_tracking_uri,
    start_run,
)

__all__ = [
    "ActiveRun",
    "Client",
    "active_run",
    "end_run",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "search_runs",
    "set_tracking_uri",
    "start_run",
]
