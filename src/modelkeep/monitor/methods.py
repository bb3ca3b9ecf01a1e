"""The drift methods, each comparing a column's reference and current summaries.

A method is a :class:`DriftMethod`: its name, the column kinds it accepts, its default
threshold, how the threshold is read (a p-value below it, or a statistic at or above it) and
a function of the two :class:`~modelkeep.monitor.summary.ColumnSummary` objects. The built-in
ones are registered with :func:`register_drift_method`, the way a user's own method would be.

Built-ins and their defaults, as in Evidently 0.7 (``psi`` excepted):

===============  ===========  =========  ====================================================
name             kinds        threshold  drift when
===============  ===========  =========  ====================================================
ks               numeric      0.05       p <= threshold (two-sample Kolmogorov-Smirnov)
chisquare        both         0.05       p < threshold (at most 1,000 distinct values)
z                both         0.05       p < threshold (two-proportion Z-test)
wasserstein      numeric      0.1        W1 / max(std of the reference, 0.001) >= threshold
jensenshannon    both         0.1        distance >= threshold (natural log)
psi              both         0.25       PSI >= threshold (10 reference quantile bins)
hellinger        both         0.1        distance >= threshold
===============  ===========  =========  ====================================================

Jensen-Shannon and Hellinger bin numeric columns as Evidently does (Sturges bins over the
combined range; Jensen-Shannon uses the values themselves when the reference has at most 20
distinct ones). PSI uses the industry convention rather than Evidently's: ten bins at the
reference deciles, shares floored at 1e-4, 0.1 a warning (:data:`PSI_WARNING`), 0.25 drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor import stats
from modelkeep.monitor.columns import CATEGORICAL, NUMERIC
from modelkeep.monitor.sketch import LEVELS, grid_cdf, sorted_quantiles, weighted_quantiles
from modelkeep.monitor.summary import ColumnSummary

__all__ = [
    "PSI_WARNING",
    "DriftMethod",
    "drift_method",
    "drift_method_names",
    "exact_support",
    "histogram",
    "register_drift_method",
    "value_counts",
]

PSI_WARNING = 0.1
_JS_VALUE_BINS = 20  # Evidently bins by value when the reference has at most this many

FloatArray = NDArray[np.float64]
Compute = Callable[[ColumnSummary, ColumnSummary], tuple[float, float | None]]


@dataclass(frozen=True)
class DriftMethod:
    """A drift test or distance.

    Attributes:
        name: what ``DriftConfig.methods`` calls it.
        kinds: the column kinds it accepts (``numeric``, ``categorical``).
        default_threshold: used when the config sets none for the column.
        compute: ``(reference, current) -> (statistic, p_value or None)``.
        p_value: drift is judged on the p-value (below the threshold) rather than on the
            statistic (at or above it); p-values are what corrections adjust.
        inclusive: with ``p_value``, a p-value equal to the threshold is drift too.
    """

    name: str
    kinds: tuple[str, ...]
    default_threshold: float
    compute: Compute
    p_value: bool = False
    inclusive: bool = False

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        """The decision for one column."""
        if self.p_value and p_value is not None:
            return p_value <= threshold if self.inclusive else p_value < threshold
        return bool(statistic >= threshold)


_METHODS: dict[str, DriftMethod] = {}


def register_drift_method(method: DriftMethod) -> None:
    """Make ``method`` selectable by its name (replacing a method of the same name)."""
    _METHODS[method.name] = method


def drift_method(name: str) -> DriftMethod:
    """The method registered as ``name``.

    Raises:
        InvalidInputError: no such method; ``field`` is ``methods``.
    """
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise InvalidInputError(
            f"unknown drift method {name!r} (known: {known})", field="methods"
        ) from None


def drift_method_names() -> list[str]:
    """The names of the registered methods."""
    return sorted(_METHODS)


# ---- the forms a numeric column is known in ------------------------------------------------
def exact_support(column: ColumnSummary) -> tuple[FloatArray, NDArray[np.int64]] | None:
    """Distinct values and their counts, when known exactly."""
    if column.unique_values is not None and column.unique_counts is not None:
        return column.unique_values, column.unique_counts
    if column.values is None:
        return None
    values = column.values
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(starts, append=values.size)


def _quantiles(column: ColumnSummary, levels: FloatArray) -> FloatArray:
    if column.values is not None:
        return sorted_quantiles(column.values, levels)
    if column.unique_values is not None and column.unique_counts is not None:
        return weighted_quantiles(column.unique_values, column.unique_counts, levels)
    assert column.quantiles is not None
    result: FloatArray = np.interp(levels, LEVELS, column.quantiles)
    return result


def _count_below(column: ColumnSummary, x: FloatArray, *, inclusive: bool) -> FloatArray:
    """How many values are at or below (``inclusive``) or below each of ``x``."""
    side: Literal["left", "right"] = "right" if inclusive else "left"
    if column.values is not None:
        return np.searchsorted(column.values, x, side=side).astype(np.float64)
    if column.unique_values is not None and column.unique_counts is not None:
        cumulative = np.concatenate(([0.0], np.cumsum(column.unique_counts, dtype=np.float64)))
        result: FloatArray = cumulative[np.searchsorted(column.unique_values, x, side=side)]
        return result
    assert column.quantiles is not None
    return column.count * grid_cdf(column.quantiles, LEVELS, x, inclusive=inclusive)


def histogram(column: ColumnSummary, edges: FloatArray) -> FloatArray:
    """Counts in the bins of ``edges`` the way ``np.histogram`` counts them (each bin closed
    on the left, the last on both sides)."""
    below = _count_below(column, edges, inclusive=False)
    below[-1] = _count_below(column, edges[-1:], inclusive=True)[0]
    return np.diff(below)


def value_counts(
    reference: ColumnSummary, current: ColumnSummary
) -> tuple[list[str] | FloatArray, FloatArray, FloatArray] | None:
    """``(keys, reference counts, current counts)`` over the union of the values seen, keys
    sorted; ``None`` when a side's counts are not known (a numeric column with many values)."""
    if reference.kind == CATEGORICAL and current.kind == CATEGORICAL:
        ref, cur = reference.categories or {}, current.categories or {}
        keys = sorted(set(ref) | set(cur))
        counts_ref = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
        return keys, counts_ref, np.array([cur.get(k, 0) for k in keys], dtype=np.float64)
    support_ref, support_cur = exact_support(reference), exact_support(current)
    if support_ref is None or support_cur is None:
        return None
    keys_num = np.union1d(support_ref[0], support_cur[0])
    aligned = []
    for values, counts in (support_ref, support_cur):
        full = np.zeros(keys_num.size)
        full[np.searchsorted(keys_num, values)] = counts
        aligned.append(full)
    return keys_num, aligned[0], aligned[1]


def _counts_or_fail(
    reference: ColumnSummary, current: ColumnSummary, method: str
) -> tuple[FloatArray, FloatArray]:
    found = value_counts(reference, current)
    if found is None:
        raise InvalidInputError(
            f"{method} compares value counts, and column {reference.name!r} has too many "
            "distinct values to count; use ks, wasserstein, jensenshannon, psi or hellinger",
            field=reference.name,
        )
    return found[1], found[2]


def _range(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float]:
    assert reference.min is not None and current.min is not None
    assert reference.max is not None and current.max is not None
    return min(reference.min, current.min), max(reference.max, current.max)


# ---- the built-in methods --------------------------------------------------------------------
def _ks(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    n, m = reference.count, current.count
    small = max(n, m) <= stats.KS_EXACT_LIMIT  # where scipy's p-value is exact
    if reference.values is not None and current.values is not None:
        if small:
            return stats.ks_test_exact(reference.values, current.values)
        statistic = stats.ks_statistic_sorted(reference.values, current.values)
        return statistic, stats.ks_p_value(statistic, n, m)
    exact_ref, exact_cur = exact_support(reference), exact_support(current)
    if exact_ref is None or exact_cur is None:
        grids = _quantiles(reference, LEVELS), _quantiles(current, LEVELS)
        statistic = stats.ks_statistic_grid(*grids, LEVELS)
    elif small:
        return stats.ks_test_exact(np.repeat(*exact_ref), np.repeat(*exact_cur))
    else:
        statistic = stats.ks_statistic_weighted(*exact_ref, *exact_cur)
    return statistic, stats.ks_p_value(statistic, n, m)


def _wasserstein(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    norm = max(float(reference.std or 0.0), 0.001)
    if reference.values is not None and current.values is not None:
        distance = stats.wasserstein_sorted(reference.values, current.values)
    elif reference.representation != "sketch" and current.representation != "sketch":
        support_ref, support_cur = exact_support(reference), exact_support(current)
        assert support_ref is not None and support_cur is not None
        distance = stats.wasserstein_weighted(*support_ref, *support_cur)
    else:
        distance = stats.wasserstein_grid(
            _quantiles(reference, LEVELS), _quantiles(current, LEVELS), LEVELS
        )
    return distance / norm, None


def _chisquare(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    return stats.chisquare_test(*_counts_or_fail(reference, current, "chisquare"))


def _z(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    # value_counts sorts its keys, so the first is the smallest, as Evidently's test wants
    return stats.z_test(*_counts_or_fail(reference, current, "z"))


def _jensenshannon(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    if reference.kind == CATEGORICAL or reference.n_unique <= _JS_VALUE_BINS:
        found = value_counts(reference, current)
        if found is not None:
            return stats.jensenshannon_distance(found[1], found[2]), None
    low, high = _range(reference, current)
    edges = stats.sturges_edges(low, high, reference.count + current.count)
    return stats.jensenshannon_distance(
        histogram(reference, edges), histogram(current, edges)
    ), None


def _psi(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    if reference.kind == CATEGORICAL:
        return stats.psi(*_counts_or_fail(reference, current, "psi")), None
    edges = np.unique(_quantiles(reference, np.linspace(0.1, 0.9, 9)))
    counts = []
    for column in (reference, current):
        below = _count_below(column, edges, inclusive=True)
        counts.append(np.diff(np.concatenate(([0.0], below, [float(column.count)]))))
    return stats.psi(counts[0], counts[1]), None


def _hellinger(reference: ColumnSummary, current: ColumnSummary) -> tuple[float, float | None]:
    if reference.kind == CATEGORICAL:
        return stats.hellinger_distance(*_counts_or_fail(reference, current, "hellinger")), None
    support_ref, support_cur = exact_support(reference), exact_support(current)
    if support_ref is not None and support_cur is not None:
        distinct = int(np.union1d(support_ref[0], support_cur[0]).size)
    else:  # a sketch: distinct values of continuous data rarely coincide
        distinct = reference.n_unique + current.n_unique
    low, high = _range(reference, current)
    edges = stats.sturges_edges(low, high, distinct)
    return stats.hellinger_distance(histogram(reference, edges), histogram(current, edges)), None


_BOTH = (NUMERIC, CATEGORICAL)
for _method in (
    DriftMethod("ks", (NUMERIC,), 0.05, _ks, p_value=True, inclusive=True),
    DriftMethod("chisquare", _BOTH, 0.05, _chisquare, p_value=True),
    DriftMethod("z", _BOTH, 0.05, _z, p_value=True),
    DriftMethod("wasserstein", (NUMERIC,), 0.1, _wasserstein),
    DriftMethod("jensenshannon", _BOTH, 0.1, _jensenshannon),
    DriftMethod("psi", _BOTH, 0.25, _psi),
    DriftMethod("hellinger", _BOTH, 0.1, _hellinger),
):
    register_drift_method(_method)
