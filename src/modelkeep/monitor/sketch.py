"""Quantile sketches: how a numeric column too large to keep is remembered.

A sketch is the column's quantiles at :data:`LEVELS` (2,001 evenly spaced levels, the first
the minimum and the last the maximum). Between two stored quantiles the column is taken as
spread evenly, so its CDF is piecewise linear; repeated quantiles mark a value many rows share,
and the CDF jumps there. The statistics of :mod:`modelkeep.monitor.stats` work on that shape.

:class:`QuantileSketch` builds one in a single pass: each batch is sorted once and kept as its
quantiles at 8,193 levels with its row count, and the batches are merged as a mixture of their
CDFs, which stays within about 1/8,000 of the exact CDF however many batches there are.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LEVELS",
    "QuantileSketch",
    "grid_cdf",
    "mixture_quantiles",
    "sorted_quantiles",
    "weighted_quantiles",
]

FloatArray = NDArray[np.float64]

LEVELS: FloatArray = np.linspace(0.0, 1.0, 2001)
_PART_LEVELS: FloatArray = np.linspace(0.0, 1.0, 8193)
_MAX_PARTS = 32
_MIN_PART = 1 << 18  # small batches are pooled first: fewer, larger parts merge faster


def sorted_quantiles(values: FloatArray, levels: FloatArray) -> FloatArray:
    """Quantiles of sorted ``values`` at ``levels``, interpolated linearly between order
    statistics (numpy's default ``linear`` method)."""
    last = values.size - 1
    position = levels * last
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, last)
    fraction = position - lower
    low = values[lower]
    result: FloatArray = low + fraction * (values[upper] - low)
    return result


def weighted_quantiles(
    values: FloatArray, counts: NDArray[np.int64], levels: FloatArray
) -> FloatArray:
    """The quantiles :func:`sorted_quantiles` would give for ``np.repeat(values, counts)``,
    without expanding it (``values`` sorted and distinct)."""
    cumulative = np.cumsum(counts)
    last = int(cumulative[-1]) - 1
    position = levels * last
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, last)
    low = values[np.searchsorted(cumulative, lower, side="right")]
    high = values[np.searchsorted(cumulative, upper, side="right")]
    result: FloatArray = low + (position - lower) * (high - low)
    return result


def grid_cdf(
    grid: FloatArray, levels: FloatArray, x: FloatArray, *, inclusive: bool = True
) -> FloatArray:
    """The share of a sketched column at or below ``x`` (below ``x`` when not ``inclusive``).

    ``grid`` holds the column's quantiles at ``levels``; between two different quantiles the
    CDF is linear, at a repeated one it jumps, so the inclusive and strict values differ there.
    """
    index = np.searchsorted(grid, x, side="right" if inclusive else "left")
    inside = (index > 0) & (index < grid.size)
    out = np.where(index >= grid.size, 1.0, 0.0)
    k = index[inside]
    low, high = grid[k - 1], grid[k]
    fraction = (x[inside] - low) / (high - low)
    out[inside] = levels[k - 1] + fraction * (levels[k] - levels[k - 1])
    return out


def mixture_quantiles(parts: list[tuple[FloatArray, int]], levels: FloatArray) -> FloatArray:
    """Quantiles at ``levels`` of the union of sketched parts, each ``(quantiles at the part
    levels, rows)``: the mixture of their CDFs, inverted."""
    if len(parts) == 1:
        result: FloatArray = np.interp(levels, _PART_LEVELS, parts[0][0])
        return result
    knots = np.unique(np.concatenate([grid for grid, _ in parts]))
    total = float(sum(rows for _, rows in parts))
    at = np.zeros(knots.size)
    below = np.zeros(knots.size)
    for grid, rows in parts:
        at += rows * grid_cdf(grid, _PART_LEVELS, knots, inclusive=True)
        below += rows * grid_cdf(grid, _PART_LEVELS, knots, inclusive=False)
    # The CDF's graph as a path: up the jump at each knot, then along to the next knot; the
    # inverse reads it sideways, so a value many rows share is returned for all their levels.
    shares = np.empty(2 * knots.size)
    shares[0::2] = below / total
    shares[1::2] = at / total
    result = np.interp(levels, shares, np.repeat(knots, 2))
    result[0], result[-1] = knots[0], knots[-1]
    return result


class QuantileSketch:
    """A streaming quantile sketch of a numeric column (see the module docstring).

    Example:
        >>> sketch = QuantileSketch()
        >>> for batch in np.split(np.arange(1000.0), 4):
        ...     sketch.add_sorted(batch)
        >>> sketch.rows, sketch.quantiles(np.array([0.0, 1.0])).tolist()
        (1000, [0.0, 999.0])
    """

    def __init__(self) -> None:
        self._parts: list[tuple[FloatArray, int]] = []
        self._pending: list[FloatArray] = []
        self._pending_rows = 0

    @property
    def rows(self) -> int:
        """How many values were added."""
        return sum(rows for _, rows in self._parts) + self._pending_rows

    def add_sorted(self, values: FloatArray) -> None:
        """Add a batch of finite values, sorted ascending."""
        if values.size == 0:
            return
        self._pending.append(values)
        self._pending_rows += values.size
        if self._pending_rows >= _MIN_PART:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending = self._pending
        values = pending[0] if len(pending) == 1 else np.sort(np.concatenate(pending))
        self._pending, self._pending_rows = [], 0
        self._parts.append((sorted_quantiles(values, _PART_LEVELS), int(values.size)))
        if len(self._parts) > _MAX_PARTS:
            merged = mixture_quantiles(self._parts, _PART_LEVELS)
            self._parts = [(merged, sum(rows for _, rows in self._parts))]

    def quantiles(self, levels: FloatArray = LEVELS) -> FloatArray:
        """The quantiles at ``levels`` of everything added."""
        self._flush()
        return mixture_quantiles(self._parts, levels)
