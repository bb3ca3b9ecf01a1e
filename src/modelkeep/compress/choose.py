"""The variants table and the rule that picks one.

The rule: a variant is *within tolerance* when its metric is at most ``max_metric_drop`` worse
than the original's (in the metric's own units; lower is better for ``rmse``, ``mae`` and
``log_loss``) and its fidelity is at least ``min_fidelity``; the original always is. Among
those the fastest single-row variant wins. Latencies within :data:`TIE_SHARE` (10%) of the
fastest count as equally fast (timer noise), and among equally fast variants the smallest
package wins, then the faster single row, then the name (so the choice is repeatable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from modelkeep.compress.measure import Measurement
from modelkeep.compress.variants import ORIGINAL, Variant

__all__ = ["COLUMNS", "RULE", "TIE_SHARE", "choose", "make_table", "metric_drop"]

TIE_SHARE = 0.10
_SLACK = 1e-12  # float noise in a drop that is zero on paper
RULE = (
    "fastest single-row variant within tolerance (metric drop <= max_metric_drop and "
    "fidelity >= min_fidelity); latencies within 10% of the fastest tie, ties go to the "
    "smallest package"
)
COLUMNS = (
    "variant",
    "family",
    "runtime",
    "size_bytes",
    "latency_1row_ms",
    "latency_1000rows_ms",
    "metric",
    "metric_drop",
    "fidelity",
    "within_tolerance",
    "speedup_1row",
    "chosen",
    "description",
)


def metric_drop(original: float, value: float, *, greater_is_better: bool) -> float:
    """How much worse ``value`` is than ``original`` (negative: better)."""
    return original - value if greater_is_better else value - original


def make_table(
    measured: Sequence[tuple[Variant, Measurement]],
    *,
    greater_is_better: bool,
    max_metric_drop: float,
    min_fidelity: float,
) -> pd.DataFrame:
    """One row per variant (the original first), ``chosen`` filled by :func:`choose`."""
    original = measured[0][1]
    rows: list[dict[str, Any]] = []
    for variant, numbers in measured:
        drop = metric_drop(original.metric, numbers.metric, greater_is_better=greater_is_better)
        within = variant.name == ORIGINAL or (
            math.isfinite(drop)
            and drop <= max_metric_drop + _SLACK
            and numbers.fidelity >= min_fidelity - _SLACK
        )
        rows.append({
            "variant": variant.name,
            "family": variant.family,
            "runtime": variant.runtime,
            "size_bytes": numbers.size_bytes,
            "latency_1row_ms": numbers.latency_1row_ms,
            "latency_1000rows_ms": numbers.latency_1000rows_ms,
            "metric": numbers.metric,
            "metric_drop": 0.0 if variant.name == ORIGINAL else drop,
            "fidelity": numbers.fidelity,
            "within_tolerance": bool(within),
            "speedup_1row": original.latency_1row_ms / numbers.latency_1row_ms,
            "chosen": False,
            "description": variant.description,
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table.loc[table["variant"] == choose(table), "chosen"] = True
    return table


def choose(table: pd.DataFrame) -> str:
    """The name of the variant the rule (module docstring) picks from ``table``."""
    eligible = table[table["within_tolerance"]]
    fastest = float(eligible["latency_1row_ms"].min())
    tied = eligible[eligible["latency_1row_ms"] <= fastest * (1.0 + TIE_SHARE)]
    ordered = tied.sort_values(["size_bytes", "latency_1row_ms", "variant"], kind="stable")
    return str(ordered["variant"].iloc[0])
