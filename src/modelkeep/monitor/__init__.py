"""Monitoring: drift, data quality, realized and estimated performance, alerts and reports.

The public API (a contract other tools call)::

    from modelkeep.monitor import detect_drift, estimate_performance, run_monitor

    res = detect_drift(reference, current)      # DataFrames (pandas/polars) or Parquet paths
    res.dataset_drift, res.drift_share, res.columns["f0"].method, res.columns["f0"].p_value
    res.to_dict(); res.save_html("report.html")
    run_monitor("models:/churn@champion", window="1h")   # -> MonitorResult, a monitoring run

Modules: :mod:`~modelkeep.monitor.summary` (streaming dataset summaries),
:mod:`~modelkeep.monitor.drift` and :mod:`~modelkeep.monitor.methods` (the tests),
:mod:`~modelkeep.monitor.quality`, :mod:`~modelkeep.monitor.multivariate`,
:mod:`~modelkeep.monitor.performance` (with :mod:`~modelkeep.monitor.cbpe` and
:mod:`~modelkeep.monitor.dle`), :mod:`~modelkeep.monitor.reference` (what a trained
model is compared with), :mod:`~modelkeep.monitor.runner` (windows of the inference log,
monitoring runs), :mod:`~modelkeep.monitor.alerts` and :mod:`~modelkeep.monitor.channels`
(rules and delivery), :mod:`~modelkeep.monitor.report` (HTML and JSON).
"""

from __future__ import annotations

from modelkeep.monitor.alerts import Alert, AlertRule, AlertRules, load_rules
from modelkeep.monitor.channels import register_channel
from modelkeep.monitor.drift import ColumnDrift, DriftConfig, DriftResult, detect_drift
from modelkeep.monitor.methods import register_drift_method
from modelkeep.monitor.reference import build_reference, load_reference, log_reference
from modelkeep.monitor.runner import MonitorResult, estimate_performance, run_monitor
from modelkeep.monitor.summary import ColumnSummary, DatasetSummary, summarize

__all__ = [
    "Alert",
    "AlertRule",
    "AlertRules",
    "ColumnDrift",
    "ColumnSummary",
    "DatasetSummary",
    "DriftConfig",
    "DriftResult",
    "MonitorResult",
    "build_reference",
    "detect_drift",
    "estimate_performance",
    "load_reference",
    "load_rules",
    "log_reference",
    "register_channel",
    "register_drift_method",
    "run_monitor",
    "summarize",
]
