"""The drift statistics against scipy and numpy on random data, and the quantile sketch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.spatial import distance

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor import stats
from modelkeep.monitor.sketch import (
    LEVELS,
    QuantileSketch,
    grid_cdf,
    sorted_quantiles,
    weighted_quantiles,
)

SIZES = [(1, 1), (5, 7), (100, 130), (999, 1000), (20_000, 15_001), (3_000, 3_000)]


def _pair(n: int, m: int, seed: int, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if ties:
        a = rng.integers(0, 12, n).astype(np.float64)
        b = rng.integers(0, 15, m).astype(np.float64)
    else:
        a, b = rng.normal(0, 1, n), rng.normal(0.2, 1.3, m)
    return np.sort(a), np.sort(b)


def _counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, counts = np.unique(values, return_counts=True)
    return unique, counts


# ---- Kolmogorov-Smirnov ----------------------------------------------------------------------
@pytest.mark.parametrize(("n", "m"), SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_ks_statistic_of_sorted_samples_equals_scipy(n: int, m: int, ties: bool) -> None:
    a, b = _pair(n, m, seed=n + m, ties=ties)
    expected = scipy_stats.ks_2samp(a, b).statistic  # exact mode rounds it to its lattice
    assert stats.ks_statistic_sorted(a, b) == pytest.approx(expected, abs=1e-12)
    assert stats.ks_statistic_weighted(*_counts(a), *_counts(b)) == pytest.approx(
        expected, abs=1e-12
    )


def test_ks_p_value_past_the_exact_limit_equals_scipy() -> None:
    a, b = _pair(20_000, 15_001, seed=1)
    result = scipy_stats.ks_2samp(a, b)
    p = stats.ks_p_value(stats.ks_statistic_sorted(a, b), a.size, b.size)
    assert p == pytest.approx(result.pvalue, rel=1e-12)


def test_ks_exact_test_is_scipy_ks_2samp() -> None:
    a, b = _pair(300, 250, seed=2)
    result = scipy_stats.ks_2samp(a, b)
    assert stats.ks_test_exact(a, b) == (result.statistic, result.pvalue)


def test_ks_on_sketches_is_close_to_the_exact_statistic() -> None:
    a, b = _pair(200_000, 150_000, seed=3)
    exact = stats.ks_statistic_sorted(a, b)
    grid = stats.ks_statistic_grid(
        sorted_quantiles(a, LEVELS), sorted_quantiles(b, LEVELS), LEVELS
    )
    assert grid == pytest.approx(exact, abs=2e-3)


# ---- Wasserstein -----------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "m"), SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_wasserstein_of_sorted_samples_equals_scipy(n: int, m: int, ties: bool) -> None:
    a, b = _pair(n, m, seed=10 + n, ties=ties)
    expected = scipy_stats.wasserstein_distance(a, b)
    assert stats.wasserstein_sorted(a, b) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    weighted = stats.wasserstein_weighted(*_counts(a), *_counts(b))
    assert weighted == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_wasserstein_on_sketches_is_close_to_the_exact_distance() -> None:
    a, b = _pair(200_000, 150_000, seed=4)
    exact = stats.wasserstein_sorted(a, b)
    grid = stats.wasserstein_grid(sorted_quantiles(a, LEVELS), sorted_quantiles(b, LEVELS), LEVELS)
    assert grid == pytest.approx(exact, rel=5e-3)


def test_wasserstein_of_a_sample_with_itself_is_zero() -> None:
    a, _ = _pair(1000, 1, seed=5)
    assert stats.wasserstein_sorted(a, a.copy()) == 0.0
    assert (
        stats.wasserstein_grid(sorted_quantiles(a, LEVELS), sorted_quantiles(a, LEVELS), LEVELS)
        == 0.0
    )


# ---- tests on counts -------------------------------------------------------------------------
def test_chisquare_equals_scipy_against_the_scaled_reference_counts() -> None:
    rng = np.random.default_rng(6)
    ref = rng.integers(20, 200, 6).astype(np.float64)
    cur = rng.integers(20, 200, 6).astype(np.float64)
    expected = scipy_stats.chisquare(cur, ref * cur.sum() / ref.sum())
    statistic, p = stats.chisquare_test(ref, cur)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-10)


def test_chisquare_with_a_category_the_reference_never_saw_is_certain_drift() -> None:
    statistic, p = stats.chisquare_test(np.array([50.0, 50.0, 0.0]), np.array([40.0, 40.0, 5.0]))
    assert statistic == np.inf
    assert p == 0.0


def test_z_test_squared_is_the_chi_square_of_the_two_by_two_table() -> None:
    ref, cur = np.array([130.0, 70.0]), np.array([95.0, 105.0])
    z, p = stats.z_test(ref, cur)
    table = scipy_stats.chi2_contingency(np.array([ref, cur]), correction=False)
    assert z**2 == pytest.approx(table.statistic, rel=1e-12)
    assert p == pytest.approx(table.pvalue, rel=1e-9)


def test_z_test_of_one_shared_value_is_no_drift() -> None:
    assert stats.z_test(np.array([10.0, 0.0]), np.array([7.0, 0.0])) == (0.0, 1.0)


def test_jensenshannon_normalises_counts_and_uses_the_natural_log() -> None:
    ref, cur = np.array([10.0, 30.0, 60.0]), np.array([30.0, 30.0, 40.0])
    expected = distance.jensenshannon(ref / ref.sum(), cur / cur.sum())
    assert stats.jensenshannon_distance(ref, cur) == pytest.approx(expected, rel=1e-14)
    assert stats.jensenshannon_distance(ref, ref * 3) == 0.0
    disjoint = stats.jensenshannon_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert disjoint == pytest.approx(np.sqrt(np.log(2)))


def test_psi_floors_empty_bins_and_matches_its_formula() -> None:
    ref, cur = np.array([25.0, 25.0, 50.0]), np.array([50.0, 25.0, 25.0])
    p, q = ref / ref.sum(), cur / cur.sum()
    assert stats.psi(ref, cur) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    empty = stats.psi(np.array([50.0, 50.0, 0.0]), np.array([40.0, 40.0, 20.0]))
    floored = np.maximum(np.array([0.5, 0.5, 0.0]), 1e-4)
    assert empty == pytest.approx(
        np.sum((np.array([0.4, 0.4, 0.2]) - floored) * np.log(np.array([0.4, 0.4, 0.2]) / floored))
    )


def test_hellinger_is_zero_for_equal_and_one_for_disjoint_histograms() -> None:
    assert stats.hellinger_distance(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == 0.0
    assert stats.hellinger_distance(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == 1.0
    ref, cur = np.array([10.0, 30.0, 60.0]), np.array([30.0, 30.0, 40.0])
    expected = np.sqrt(1 - np.sum(np.sqrt(ref / 100 * cur / 100)))
    assert stats.hellinger_distance(ref, cur) == pytest.approx(expected)


@pytest.mark.parametrize("size", [2, 7, 1000, 123_457])
def test_sturges_edges_equal_numpys_without_the_data(size: int) -> None:
    data = np.random.default_rng(size).normal(size=size)
    expected = np.histogram_bin_edges(data, bins="sturges")
    found = stats.sturges_edges(float(data.min()), float(data.max()), size)
    np.testing.assert_array_equal(found, expected)
    constant = np.histogram_bin_edges(np.full(size, 3.0), bins="sturges")
    np.testing.assert_array_equal(stats.sturges_edges(3.0, 3.0, size), constant)


# ---- corrections -----------------------------------------------------------------------------
def test_benjamini_hochberg_equals_scipy_and_bonferroni_multiplies() -> None:
    p = np.random.default_rng(7).uniform(0, 0.2, 40)
    bh = stats.adjust_p_values(p, "benjamini-hochberg")
    np.testing.assert_allclose(bh, scipy_stats.false_discovery_control(p, method="bh"))
    np.testing.assert_allclose(stats.adjust_p_values(p, "bonferroni"), np.minimum(p * 40, 1))


def test_an_unknown_correction_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        stats.adjust_p_values(np.array([0.1]), "holm")
    assert caught.value.field == "correction"


# ---- false alarms and detection of the p-value tests -------------------------------------------
def test_ks_false_alarm_rate_at_no_shift_is_near_alpha() -> None:
    rng = np.random.default_rng(8)
    p = [
        stats.ks_test_exact(np.sort(rng.normal(size=200)), np.sort(rng.normal(size=200)))[1]
        for _ in range(400)
    ]
    rate = np.mean(np.array(p) <= 0.05)
    assert 0.02 <= rate <= 0.08


def test_z_test_false_alarm_rate_at_no_shift_is_near_alpha() -> None:
    rng = np.random.default_rng(9)
    ref = rng.binomial(500, 0.3, 2000).astype(np.float64)
    cur = rng.binomial(500, 0.3, 2000).astype(np.float64)
    p = np.array(
        [
            stats.z_test(np.array([r, 500 - r]), np.array([c, 500 - c]))[1]
            for r, c in zip(ref, cur, strict=True)
        ]
    )
    assert 0.035 <= np.mean(p < 0.05) <= 0.065


def test_chisquare_false_alarm_rate_is_near_alpha_for_a_small_window() -> None:
    # Evidently's chi-square tests the current counts against the reference shares as if
    # they were exact, so it holds its level when the window is small next to the reference.
    rng = np.random.default_rng(10)
    shares = [0.4, 0.3, 0.2, 0.1]
    p = np.array([
        stats.chisquare_test(rng.multinomial(1000, shares), rng.multinomial(100, shares))[1]
        for _ in range(1000)
    ])  # fmt: skip
    assert 0.03 <= np.mean(p < 0.05) <= 0.09


def test_the_p_value_tests_detect_known_shifts() -> None:
    rng = np.random.default_rng(11)
    base = np.sort(rng.normal(size=500))
    assert stats.ks_test_exact(base, np.sort(rng.normal(0.5, 1, 500)))[1] < 1e-6
    assert stats.ks_test_exact(base, np.sort(rng.normal(0, 2, 500)))[1] < 1e-6
    shifted = stats.chisquare_test(
        rng.multinomial(1000, [0.4, 0.3, 0.3]), rng.multinomial(500, [0.2, 0.3, 0.5])
    )
    assert shifted[1] < 1e-6
    assert stats.z_test(np.array([700.0, 300.0]), np.array([550.0, 450.0]))[1] < 1e-6


# ---- the quantile sketch -----------------------------------------------------------------------
def test_sorted_and_weighted_quantiles_equal_numpy() -> None:
    values = np.sort(np.random.default_rng(12).integers(0, 30, 5001).astype(np.float64))
    levels = np.linspace(0, 1, 257)
    np.testing.assert_allclose(sorted_quantiles(values, levels), np.quantile(values, levels))
    np.testing.assert_allclose(
        weighted_quantiles(*_counts(values), levels), np.quantile(values, levels)
    )


def test_a_sketch_of_many_batches_stays_close_to_the_exact_cdf() -> None:
    rng = np.random.default_rng(13)
    values = np.concatenate([rng.normal(size=400_000), np.zeros(100_000)])  # an atom at 0
    rng.shuffle(values)
    sketch = QuantileSketch()
    for batch in np.array_split(values, 70):
        sketch.add_sorted(np.sort(batch))
    grid = sketch.quantiles()
    points = np.linspace(-3, 3, 61)
    exact = np.searchsorted(np.sort(values), points, side="right") / values.size
    assert np.max(np.abs(grid_cdf(grid, LEVELS, points) - exact)) < 1e-3
    assert sketch.rows == values.size
    assert grid[0] == values.min() and grid[-1] == values.max()


def test_grid_cdf_jumps_at_a_repeated_quantile() -> None:
    grid = np.array([0.0, 1.0, 1.0, 1.0, 2.0])
    levels = np.linspace(0, 1, 5)
    at, below = (
        grid_cdf(grid, levels, np.array([1.0]), inclusive=flag)[0] for flag in (True, False)
    )
    assert (below, at) == (0.25, 0.75)
