"""Drift thresholds learned from the reference itself, as NannyML does: split the reference's
stored row sample into chunks, score each chunk against the whole reference with the column's
distance method, and alarm beyond the chunks' mean + 3 standard deviations.

Only distance methods (Wasserstein, Jensen-Shannon, PSI, Hellinger) learn a threshold: a
p-value test already accounts for sample size. A column whose chunk scores do not vary (a
constant column) keeps its static threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.drift import detect_drift
from modelkeep.monitor.summary import DatasetSummary

__all__ = ["learned_thresholds"]

_MIN_CHUNK_ROWS = 30


def learned_thresholds(
    reference: DatasetSummary, sample: pd.DataFrame, *, chunks: int = 10, sigmas: float = 3.0
) -> dict[str, float]:
    """``{column: threshold}`` for the distance-method columns of ``reference``.

    Args:
        reference: the reference summary the windows are compared with.
        sample: rows drawn from the same reference (the stored row sample).
        chunks: how many chunks the sample is split into (each at least 30 rows).
        sigmas: how many standard deviations above the chunks' mean score.

    Raises:
        InvalidInputError: (``field="chunks"``) fewer than 2 chunks fit in the sample.
    """
    count = min(chunks, len(sample) // _MIN_CHUNK_ROWS)
    if count < 2:
        raise InvalidInputError(
            f"chunks: {len(sample)} sample rows make fewer than 2 chunks of "
            f"{_MIN_CHUNK_ROWS}; use static thresholds",
            field="chunks",
        )
    scores: dict[str, list[float]] = {}
    columns = [c for c in sample.columns if c in reference.columns]
    for part in np.array_split(np.arange(len(sample)), count):
        result = detect_drift(reference, sample.iloc[part][columns].reset_index(drop=True))
        for name, column in result.columns.items():
            if column.p_value is None and math.isfinite(column.statistic):
                scores.setdefault(name, []).append(column.statistic)
    return {name: _threshold(values, sigmas) for name, values in scores.items() if _varies(values)}


def _varies(values: list[float]) -> bool:
    return len(values) >= 2 and float(np.std(values)) > 0


def _threshold(values: list[float], sigmas: float) -> float:
    array: Any = np.asarray(values, dtype=float)
    return float(array.mean() + sigmas * array.std(ddof=1))
