"""Reference-versus-current histograms for the report, from a stored reference summary.

Numeric columns get up to 20 equal-width bins over the range both sides cover; the reference
counts come from whatever the summary kept (the exact values, the value counts, or the quantile
sketch, whose counts per bin are read off its interpolated distribution function).
Categorical columns get the category counts of both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelkeep.monitor.columns import category_key
from modelkeep.monitor.sketch import LEVELS
from modelkeep.monitor.summary import ColumnSummary, DatasetSummary

__all__ = ["compare_distributions"]

_BINS = 20


def compare_distributions(reference: DatasetSummary, current: pd.DataFrame) -> dict[str, Any]:
    """``{column: {"kind", "edges"?, "reference", "current"}}`` for every shared column."""
    out: dict[str, Any] = {}
    for name, summary in reference.columns.items():
        if name not in current or summary.count == 0:
            continue
        if summary.kind == "numeric":
            numeric = _numeric(summary, current[name])
            if numeric is not None:
                out[name] = numeric
        else:
            out[name] = _categorical(summary, current[name])
    return out


def _numeric(summary: ColumnSummary, series: pd.Series[Any]) -> dict[str, Any] | None:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    assert summary.min is not None and summary.max is not None
    low = min(summary.min, float(values.min())) if len(values) else summary.min
    high = max(summary.max, float(values.max())) if len(values) else summary.max
    if not np.isfinite([low, high]).all():
        return None
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, _BINS + 1)
    current, _ = np.histogram(values, bins=edges)
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "reference": _reference_counts(summary, edges).tolist(),
        "current": current.tolist(),
    }


def _reference_counts(summary: ColumnSummary, edges: np.ndarray[Any, Any]) -> Any:
    if summary.unique_values is not None and summary.unique_counts is not None:
        counts, _ = np.histogram(summary.unique_values, bins=edges, weights=summary.unique_counts)
        return np.rint(counts).astype(int)
    if summary.values is not None:
        counts, _ = np.histogram(summary.values, bins=edges)
        return counts
    quantiles = summary.quantiles
    if quantiles is None:
        return np.zeros(len(edges) - 1, dtype=int)
    cdf = np.interp(edges, quantiles, LEVELS, left=0.0, right=1.0)
    cdf[-1] = 1.0
    return np.rint(np.diff(cdf) * summary.count).astype(int)


def _categorical(summary: ColumnSummary, series: pd.Series[Any]) -> dict[str, Any]:
    current: dict[str, int] = {}
    for value, count in series.dropna().value_counts().items():
        key = category_key(value)
        current[key] = current.get(key, 0) + int(count)
    return {"kind": "categorical", "reference": dict(summary.categories or {}), "current": current}
