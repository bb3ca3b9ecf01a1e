"""A window's report as flat numeric metrics: what monitoring runs store and rules test.

Keys (``<c>`` is a column name, cut to fit the store's 250-character keys):

- ``rows``; ``drift.share``, ``drift.dataset`` (1/0), ``drift.drifted_columns``;
- ``drift.column.<c>.statistic``, ``.p_value`` (p-value tests), ``.drifted`` (1/0);
- ``prediction_drift.statistic``, ``.p_value``, ``.drifted``;
- ``quality.missing_rate.<c>``, ``quality.missing_rate_change.<c>``,
  ``quality.out_of_range.<c>``, ``quality.unseen_categories.<c>``,
  ``quality.schema_violations`` (a count);
- ``multivariate.<method>.statistic``, ``.drifted``;
- ``performance.<metric>`` (realized, where labels arrived);
- ``estimated.<metric>.value``, ``.lower``, ``.upper`` (label-free estimates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["flatten_metrics"]

_MAX_KEY = 250


def flatten_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of ``report`` (see :mod:`modelkeep.monitor.report`) under flat keys."""
    out: dict[str, float] = {}
    window = report.get("window") or {}
    _put(out, "rows", window.get("rows"))
    drift = report.get("drift") or {}
    _put(out, "drift.share", drift.get("drift_share"))
    _put(out, "drift.dataset", drift.get("dataset_drift"))
    _put(out, "drift.drifted_columns", drift.get("number_of_drifted_columns"))
    for column, result in (drift.get("columns") or {}).items():
        for name in ("statistic", "p_value", "drifted"):
            _put(out, f"drift.column.{column}.{name}", result.get(name))
    prediction = report.get("prediction_drift") or {}
    for result in (prediction.get("columns") or {}).values():
        for name in ("statistic", "p_value", "drifted"):
            _put(out, f"prediction_drift.{name}", result.get(name))
    _quality(out, report.get("quality") or {})
    for result in report.get("multivariate") or []:
        method = result.get("method", "multivariate")
        _put(out, f"multivariate.{method}.statistic", result.get("statistic"))
        _put(out, f"multivariate.{method}.drifted", result.get("drifted"))
    performance = report.get("performance") or {}
    for metric, value in (performance.get("realized") or {}).items():
        _put(out, f"performance.{metric}", value)
    for metric, estimate in (performance.get("estimated") or {}).items():
        for name in ("value", "lower", "upper"):
            _put(out, f"estimated.{metric}.{name}", (estimate or {}).get(name))
    return out


def _quality(out: dict[str, float], quality: Mapping[str, Any]) -> None:
    for group in ("missing_rate", "missing_rate_change", "out_of_range", "unseen_categories"):
        for column, value in (quality.get(group) or {}).items():
            _put(out, f"quality.{group}.{column}", value)
    violations = quality.get("schema_violations")
    if violations is not None:
        _put(out, "quality.schema_violations", len(violations))


def _put(out: dict[str, float], key: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        return
    if math.isinf(number):
        number = math.copysign(1e308, number)
    out[key[:_MAX_KEY]] = number
