"""Experiment tracking: the fluent API, the explicit Client, buffered logging."""

from __future__ import annotations

from modelkeep.tracking.active_run import ActiveRun
from modelkeep.tracking.client import Client
from modelkeep.tracking.client_model_files import SignatureCheck, VerificationReport
from modelkeep.tracking.client_models import ModelInfo
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
from modelkeep.tracking.fluent_models import (
    delete_alias,
    get_model_version,
    get_registered_model,
    load_model,
    log_model,
    register_model,
    search_model_versions,
    search_registered_models,
    set_alias,
)

__all__ = [
    "ActiveRun",
    "Client",
    "ModelInfo",
    "SignatureCheck",
    "VerificationReport",
    "active_run",
    "delete_alias",
    "end_run",
    "get_metric_history",
    "get_model_version",
    "get_registered_model",
    "get_run",
    "get_tracking_uri",
    "load_model",
    "log_model",
    "register_model",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_alias",
    "set_tracking_uri",
    "start_run",
]
