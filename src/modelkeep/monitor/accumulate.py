"""Per-column state kept while a dataset streams past, and the summary fields it ends in.

:class:`NumericAccumulator` keeps a numeric column's count, moments, distinct values (while
there are at most :data:`UNIQUE_LIMIT`) and values (while there are at most ``exact_limit``,
then a :class:`~modelkeep.monitor.sketch.QuantileSketch`); :class:`CategoricalAccumulator`
keeps category counts. :mod:`modelkeep.monitor.summary` turns what they finish with into a
``ColumnSummary``.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelkeep.monitor.columns import CATEGORICAL, NUMERIC, ColumnChunk
from modelkeep.monitor.sketch import QuantileSketch

__all__ = [
    "CATEGORY_LIMIT",
    "OTHER",
    "UNIQUE_LIMIT",
    "CategoricalAccumulator",
    "NumericAccumulator",
]

UNIQUE_LIMIT = 1000
CATEGORY_LIMIT = 1000
OTHER = "__other__"
_POSITIONAL = ("name", "kind", "count", "missing", "n_unique", "n_unique_exact", "integer")


def _fields(*values: Any, **named: Any) -> dict[str, Any]:
    return {**dict(zip(_POSITIONAL, values, strict=False)), **named}


class NumericAccumulator:
    """Count, moments, distinct values and the values themselves, batch by batch."""

    def __init__(self, exact_limit: int | None) -> None:
        self._exact_limit = exact_limit
        self.count = 0
        self.missing = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._uniques: tuple[NDArray[np.float64], NDArray[np.int64]] | None = (
            np.empty(0),
            np.empty(0, dtype=np.int64),
        )
        self._unique_floor = 0
        self._exact: list[NDArray[np.float64]] | None = []
        self._sketch: QuantileSketch | None = None

    def add(self, values: NDArray[np.float64]) -> None:
        finite = np.isfinite(values)
        ordered = np.sort(values if finite.all() else values[finite])
        self.missing += values.size - ordered.size
        if ordered.size == 0:
            return
        self._add_moments(ordered)
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        self._unique_floor = max(self._unique_floor, starts.size)
        if self._uniques is not None:
            self._add_uniques(ordered, starts)
        if self._sketch is not None:
            self._sketch.add_sorted(ordered)
            return
        assert self._exact is not None
        self._exact.append(ordered)
        if self._exact_limit is not None and self.count > self._exact_limit:
            self._sketch = QuantileSketch()
            for part in self._exact:
                self._sketch.add_sorted(part)
            self._exact = None

    def _add_moments(self, ordered: NDArray[np.float64]) -> None:
        # Chan et al.'s pairwise update, for sketches; exact summaries take their moments from
        # the values at the end (see _moments), so none are needed when everything is kept.
        n = ordered.size
        self._min = min(self._min, float(ordered[0]))
        self._max = max(self._max, float(ordered[-1]))
        if self._exact_limit is None:
            self.count += n
            return
        mean = float(ordered.mean())
        m2 = float(np.square(ordered - mean).sum())
        total = self.count + n
        delta = mean - self._mean
        self._m2 += m2 + delta * delta * self.count * n / total
        self._mean += delta * n / total
        self.count = total

    def _add_uniques(self, ordered: NDArray[np.float64], starts: NDArray[np.intp]) -> None:
        assert self._uniques is not None
        if starts.size > UNIQUE_LIMIT:
            self._uniques = None
            return
        counts = np.diff(np.append(starts, ordered.size)).astype(np.int64)
        values = np.concatenate((self._uniques[0], ordered[starts]))
        merged, inverse = np.unique(values, return_inverse=True)
        weights = np.concatenate((self._uniques[1], counts))
        totals = np.bincount(inverse, weights=weights, minlength=merged.size).astype(np.int64)
        self._uniques = None if merged.size > UNIQUE_LIMIT else (merged, totals)
        self._unique_floor = max(self._unique_floor, merged.size)

    def finish(self, name: str, integer: bool) -> dict[str, Any]:
        """The fields of the column's :class:`~modelkeep.monitor.summary.ColumnSummary`."""
        if self.count == 0:
            return _fields(name, NUMERIC, 0, self.missing, 0, integer=integer)
        if self._uniques is not None:
            values, counts = self._uniques
            return self._summary(
                name, integer, values.size, _moments(values, counts),
                unique_values=values, unique_counts=counts,
            )  # fmt: skip
        if self._exact is not None:
            parts = self._exact
            ordered = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
            distinct = 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
            return self._summary(name, integer, distinct, _moments(ordered), values=ordered)
        assert self._sketch is not None
        spread = math.sqrt(max(self._m2, 0.0) / self.count)
        moments = (self._min, self._max, self._mean, spread)
        return self._summary(
            name, integer, self._unique_floor, moments, exact=False,
            quantiles=self._sketch.quantiles(),
        )  # fmt: skip

    def _summary(
        self,
        name: str,
        integer: bool,
        n_unique: int,
        moments: tuple[float, float, float, float],
        exact: bool = True,
        **arrays: Any,
    ) -> dict[str, Any]:
        low, high, mean, std = moments
        return _fields(
            name, NUMERIC, self.count, self.missing, n_unique, exact, integer,
            min=low, max=high, mean=mean, std=std, **arrays,
        )  # fmt: skip


def _moments(
    values: NDArray[np.float64], counts: NDArray[np.int64] | None = None
) -> tuple[float, float, float, float]:
    """Min, max, mean and std of the exact sorted values, so a summary does not depend on
    how the data was split into batches."""
    mean = float(np.average(values, weights=counts))
    spread = float(np.average(np.square(values - mean), weights=counts))
    return float(values[0]), float(values[-1]), mean, spread**0.5


class CategoricalAccumulator:
    """Category counts, batch by batch; past ten times :data:`CATEGORY_LIMIT` categories the
    rarest are folded into :data:`OTHER` as they come (so an ID-like column stays small)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.missing = 0
        self._folded = False
        self._unique_floor = 0

    def add(self, chunk: ColumnChunk) -> None:
        assert chunk.counts is not None
        self.missing += chunk.missing
        for key, n in chunk.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        seen = len(self.counts) - (1 if self._folded else 0)  # OTHER is not a category
        self._unique_floor = max(self._unique_floor, seen)
        if len(self.counts) > 10 * CATEGORY_LIMIT:
            self.counts = _fold(self.counts)
            self._folded = True

    def finish(self, name: str, integer: bool) -> dict[str, Any]:
        """The fields of the column's :class:`~modelkeep.monitor.summary.ColumnSummary`."""
        count = sum(self.counts.values())
        exact = not self._folded
        n_unique = len(self.counts) if exact else self._unique_floor
        categories = _fold(self.counts) if len(self.counts) > CATEGORY_LIMIT else self.counts
        return _fields(
            name, CATEGORICAL, count, self.missing, n_unique, exact, integer,
            categories=dict(sorted(categories.items(), key=lambda item: (-item[1], item[0]))),
        )  # fmt: skip


def _fold(counts: dict[str, int]) -> dict[str, int]:
    kept = heapq.nlargest(CATEGORY_LIMIT, counts.items(), key=lambda item: (item[1], item[0]))
    folded = dict(kept)
    rest = sum(counts.values()) - sum(folded.values())
    if rest:
        folded[OTHER] = folded.get(OTHER, 0) + rest
    return folded
