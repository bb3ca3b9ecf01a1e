"""The drift statistics, vectorised, on the forms a column can be known in.

Each statistic exists for up to three forms of a numeric column: sorted raw values (exact),
distinct values with counts (exact), and quantile sketches (:mod:`modelkeep.monitor.sketch`,
approximate). On raw data the results equal scipy's (``ks_2samp``, ``wasserstein_distance``,
``chisquare``, ``jensenshannon``) to rounding; the tests check it. Conventions follow Evidently
0.7: the two-proportion Z-test and the Sturges histogram bins of its Jensen-Shannon and
Hellinger distances are computed the way it computes them, so decisions match.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import NDArray
from scipy import special
from scipy import stats as scipy_stats
from scipy.spatial import distance

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.sketch import grid_cdf

__all__ = [
    "KS_EXACT_LIMIT",
    "PSI_FLOOR",
    "adjust_p_values",
    "chisquare_test",
    "hellinger_distance",
    "jensenshannon_distance",
    "ks_p_value",
    "ks_statistic_grid",
    "ks_statistic_sorted",
    "ks_statistic_weighted",
    "ks_test_exact",
    "psi",
    "sturges_edges",
    "wasserstein_grid",
    "wasserstein_sorted",
    "wasserstein_weighted",
    "z_test",
]

FloatArray = NDArray[np.float64]
CountArray = NDArray[np.float64] | NDArray[np.int64]

PSI_FLOOR = 1e-4
KS_EXACT_LIMIT = 10_000  # scipy's ks_2samp computes exact p-values up to this sample size


# ---- Kolmogorov-Smirnov --------------------------------------------------------------------
def ks_test_exact(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """scipy's two-sided ``ks_2samp`` (exact p-value for samples up to 10,000 values)."""
    with warnings.catch_warnings():
        # scipy falls back to the asymptotic p-value with a warning; so does Evidently
        warnings.simplefilter("ignore", RuntimeWarning)
        result = scipy_stats.ks_2samp(a, b)
    return float(result.statistic), float(result.pvalue)


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """The asymptotic two-sided p-value ``ks_2samp`` uses past 10,000 values a sample."""
    effective = float(n) * float(m) / (float(n) + float(m))
    p = float(scipy_stats.kstwo.sf(statistic, np.round(effective)))
    return min(max(p, 0.0), 1.0)


def ks_statistic_sorted(a: FloatArray, b: FloatArray) -> float:
    """Largest gap between the empirical CDFs of sorted samples ``a`` and ``b``."""
    n, m = a.size, b.size
    merged = np.concatenate((a, b))
    # a stable argsort of two sorted runs is one merge (timsort), so this is linear
    order = np.argsort(merged, kind="stable")
    ordered = merged[order]
    seen_a = np.cumsum(order < n)
    seen_b = np.arange(1, n + m + 1) - seen_a
    last_of_ties = np.append(ordered[1:] != ordered[:-1], True)
    gaps = seen_a[last_of_ties] / n - seen_b[last_of_ties] / m
    return float(np.max(np.abs(gaps)))


def _cdf_on(values: FloatArray, counts: CountArray, support: FloatArray) -> FloatArray:
    cumulative = np.concatenate(([0.0], np.cumsum(counts, dtype=np.float64)))
    result: FloatArray = cumulative[np.searchsorted(values, support, side="right")]
    result /= cumulative[-1]
    return result


def ks_statistic_weighted(
    values_a: FloatArray, counts_a: CountArray, values_b: FloatArray, counts_b: CountArray
) -> float:
    """The KS statistic of two samples given as sorted distinct values with counts."""
    support = np.union1d(values_a, values_b)
    gap = _cdf_on(values_a, counts_a, support) - _cdf_on(values_b, counts_b, support)
    return float(np.max(np.abs(gap)))


def ks_statistic_grid(grid_a: FloatArray, grid_b: FloatArray, levels: FloatArray) -> float:
    """The KS statistic of two quantile sketches at the same ``levels`` (the CDFs are
    piecewise linear, so the largest gap is at a knot, on either side of any jump)."""
    knots = np.concatenate((grid_a, grid_b))
    gap = 0.0
    for inclusive in (True, False):
        cdf_a = grid_cdf(grid_a, levels, knots, inclusive=inclusive)
        cdf_b = grid_cdf(grid_b, levels, knots, inclusive=inclusive)
        gap = max(gap, float(np.max(np.abs(cdf_a - cdf_b))))
    return gap


# ---- Wasserstein -----------------------------------------------------------------------------
def wasserstein_sorted(a: FloatArray, b: FloatArray) -> float:
    """First Wasserstein distance of sorted samples: the area between their quantile
    functions, walked in rank order with integer arithmetic instead of merging the values."""
    n, m = a.size, b.size
    if n == m:
        return float(np.mean(np.abs(a - b)))
    # Quantile-function breakpoints in units of 1/(n*m): i*m for a, j*n for b. Where each one
    # lands in the merged order follows from how many of the other kind come before it; each
    # value then holds from its breakpoint to the next one of its kind.
    i = np.arange(n, dtype=np.int64)
    j = np.arange(m, dtype=np.int64)
    at_a = i + (i * m + n - 1) // n
    at_b = j + (j * n) // m + 1
    runs_b = np.diff(at_b, append=n + m)
    runs_b[0] += at_b[0]  # the merged order starts with a's breakpoint 0, as wide as b's
    gaps = np.repeat(a, np.diff(at_a, append=n + m))
    np.subtract(gaps, np.repeat(b, runs_b), out=gaps)
    np.abs(gaps, out=gaps)
    starts = np.empty(n + m, dtype=np.int64)
    starts[at_a] = i * m
    starts[at_b] = j * n
    area = float(np.dot(np.diff(starts, append=n * m), gaps))
    return area / (float(n) * float(m))


def wasserstein_weighted(
    values_a: FloatArray, counts_a: CountArray, values_b: FloatArray, counts_b: CountArray
) -> float:
    """First Wasserstein distance of samples given as sorted distinct values with counts."""
    support = np.union1d(values_a, values_b)
    gap = _cdf_on(values_a, counts_a, support[:-1]) - _cdf_on(values_b, counts_b, support[:-1])
    return float(np.dot(np.abs(gap), np.diff(support)))


def wasserstein_grid(grid_a: FloatArray, grid_b: FloatArray, levels: FloatArray) -> float:
    """First Wasserstein distance of two quantile sketches at the same ``levels``: the exact
    area between their piecewise-linear quantile functions."""
    gap = grid_a - grid_b
    left, right = gap[:-1], gap[1:]
    width = np.diff(levels)
    same_sign = left * right >= 0
    size = np.abs(left) + np.abs(right)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(size > 0, (left**2 + right**2) / (2 * size), 0.0)
    area = np.where(same_sign, size / 2, crossing)
    return float(np.dot(area, width))


# ---- tests on counts -------------------------------------------------------------------------
def chisquare_test(reference: CountArray, current: CountArray) -> tuple[float, float]:
    """Pearson's chi-square of ``current`` counts against the ``reference`` counts scaled to
    the current total (Evidently's ``chisquare``); a category the reference never saw makes
    the statistic infinite and the p-value 0."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.size < 2:
        return 0.0, 1.0
    expected = ref * (cur.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = float(np.sum((cur - expected) ** 2 / expected))
    return statistic, float(scipy_stats.chi2.sf(statistic, ref.size - 1))


def z_test(reference: CountArray, current: CountArray) -> tuple[float, float]:
    """Evidently's two-proportion Z-test: the share of values other than the first category
    (``reference[0]``/``current[0]``; the smallest value) in each sample."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    only_ref, only_cur = np.flatnonzero(ref), np.flatnonzero(cur)
    if only_ref.size == 1 and only_cur.size == 1 and only_ref[0] == only_cur[0]:
        return 0.0, 1.0
    n1, n2 = float(ref.sum()), float(cur.sum())
    p1 = (n1 - ref[0]) / n1
    p2 = (n2 - cur[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return z, float(2 * (1 - special.ndtr(abs(z))))


def jensenshannon_distance(reference: CountArray, current: CountArray) -> float:
    """Jensen-Shannon distance (natural log) of two histograms over the same bins."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    return float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))


def psi(reference: CountArray, current: CountArray, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two histograms over the same bins; shares below
    ``floor`` are raised to it, so an empty bin does not make it infinite."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    p = np.maximum(ref / ref.sum(), floor)
    q = np.maximum(cur / cur.sum(), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def hellinger_distance(reference: CountArray, current: CountArray) -> float:
    """Hellinger distance of two histograms over the same bins (0: same, 1: disjoint)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    overlap = float(np.sum(np.sqrt(ref / ref.sum() * (cur / cur.sum()))))
    return math.sqrt(1.0 - min(max(overlap, 0.0), 1.0))


def sturges_edges(low: float, high: float, size: int) -> FloatArray:
    """The bin edges ``np.histogram_bin_edges(data, "sturges")`` gives for ``size`` values
    from ``low`` to ``high``, without the values."""
    if low == high:
        return np.linspace(low - 0.5, high + 0.5, 2)
    width = (high - low) / (np.log2(size) + 1.0)
    bins = int(np.ceil((high - low) / width))
    return np.linspace(low, high, bins + 1)


# ---- multiple testing ------------------------------------------------------------------------
def adjust_p_values(p_values: FloatArray, method: str) -> FloatArray:
    """p-values adjusted for testing them together: ``bonferroni`` (times their number) or
    ``benjamini-hochberg`` (the step-up false discovery rate adjustment); capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    k = p.size
    if k == 0:
        return p
    if method == "bonferroni":
        return np.minimum(p * k, 1.0)
    if method != "benjamini-hochberg":
        raise InvalidInputError(f"unknown correction {method!r}", field="correction")
    order = np.argsort(p)
    scaled = p[order] * k / np.arange(1, k + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(k)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
