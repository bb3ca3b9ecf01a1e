"""Multivariate drift: PCA reconstruction error and the domain classifier."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.drift import detect_drift
from modelkeep.monitor.multivariate import (
    domain_classifier_drift,
    encode_frames,
    pca_reconstruction_drift,
)

COVARIANCE = np.array(
    [
        [1.0, 0.8, 0.3, 0.0],
        [0.8, 1.0, 0.3, 0.0],
        [0.3, 0.3, 1.0, 0.4],
        [0.0, 0.0, 0.4, 1.0],
    ]
)


def _frame(rng: np.random.Generator, n: int, *, mirrored: bool = False) -> pd.DataFrame:
    """Correlated features; ``mirrored`` turns the a-b correlation from +0.8 to -0.8 (and
    b-c's sign) while every feature keeps its distribution (NannyML's butterfly idea)."""
    x = rng.multivariate_normal(np.zeros(4), COVARIANCE, size=n)
    if mirrored:
        x[:, 1] = -x[:, 1]
    return pd.DataFrame(x * [1.0, 2.0, 0.5, 3.0] + [0.0, 5.0, -1.0, 10.0], columns=list("abcd"))


def test_pca_false_alarms_are_rare_without_shift() -> None:
    """A 3-sigma band from 10 chunks: about 1% false alarms (t with 9 degrees of freedom)."""
    rng = np.random.default_rng(0)
    results = [pca_reconstruction_drift(_frame(rng, 2_000), _frame(rng, 500)) for _ in range(60)]
    assert sum(r.drifted for r in results) <= 3
    for result in results:
        assert result.lower is not None and result.upper is not None
        assert result.threshold == result.upper
        assert result.drifted == (not result.lower < result.statistic < result.upper)


def test_correlation_change_is_found_where_univariate_tests_miss_it() -> None:
    rng = np.random.default_rng(42)
    reference, current = _frame(rng, 5_000), _frame(rng, 1_000, mirrored=True)
    univariate = detect_drift(reference, current)
    assert univariate.number_of_drifted_columns == 0
    pca = pca_reconstruction_drift(reference, current)
    assert pca.drifted and pca.upper is not None and pca.statistic > pca.upper
    classifier = domain_classifier_drift(reference, current)
    assert classifier.drifted and classifier.statistic > 0.6


@pytest.mark.parametrize("seed", range(3))
def test_domain_classifier_no_alarm_without_shift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    result = domain_classifier_drift(_frame(rng, 2_000), _frame(rng, 1_000), seed=seed)
    assert not result.drifted
    assert abs(result.statistic - 0.5) < 0.05
    assert (result.reference_rows, result.current_rows) == (2_000, 1_000)


def test_pca_band_follows_the_window_size() -> None:
    rng = np.random.default_rng(1)
    reference = _frame(rng, 5_000)
    small = pca_reconstruction_drift(reference, _frame(rng, 100))
    large = pca_reconstruction_drift(reference, _frame(rng, 2_500))
    assert small.upper is not None and small.lower is not None
    assert large.upper is not None and large.lower is not None
    # Width ~ sqrt(1/window + 1/reference): the window's sampling error and the reference's.
    ratio = np.sqrt((1 / 100 + 1 / 5_000) / (1 / 2_500 + 1 / 5_000))
    assert small.upper - small.lower == pytest.approx(ratio * (large.upper - large.lower))


def test_domain_classifier_raises_its_threshold_for_tiny_windows() -> None:
    rng = np.random.default_rng(2)
    reference = _frame(rng, 2_000)
    tiny = domain_classifier_drift(reference, _frame(rng, 30))
    assert tiny.threshold > 0.6  # 0.5 + 3 null standard errors of the ROC AUC
    assert not tiny.drifted
    big = domain_classifier_drift(reference, _frame(rng, 1_000), threshold=0.55)
    assert big.threshold == 0.55


def _mixed(rng: np.random.Generator, n: int, cities: list[str], p: list[float]) -> pd.DataFrame:
    frame = _frame(rng, n)
    frame["city"] = rng.choice(cities, size=n, p=p)
    frame.loc[rng.random(n) < 0.05, "a"] = np.nan
    frame.loc[rng.random(n) < 0.05, "city"] = None
    return frame


def test_categories_and_missing_values_are_used() -> None:
    rng = np.random.default_rng(3)
    cities, usual = ["ams", "ber", "cph"], [0.6, 0.3, 0.1]
    reference = _mixed(rng, 4_000, cities, usual)
    same = _mixed(rng, 1_000, cities, usual)
    assert not pca_reconstruction_drift(reference, same).drifted
    assert not domain_classifier_drift(reference, same).drifted
    moved = _mixed(rng, 1_000, cities, [0.1, 0.3, 0.6])
    assert domain_classifier_drift(reference, moved).drifted
    assert pca_reconstruction_drift(reference, moved).drifted


def test_encode_frames_shares_category_codes() -> None:
    reference = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["b", "a", "b"]})
    current = pd.DataFrame({"x": ["2.5", "oops", None], "c": ["a", "z", None]})
    encoded = encode_frames(reference, current)
    assert encoded.columns == ["x", "c"]
    assert encoded.categorical.tolist() == [False, True]
    np.testing.assert_array_equal(encoded.reference, [[1.0, 0.0], [np.nan, 1.0], [3.0, 0.0]])
    np.testing.assert_array_equal(encoded.current, [[2.5, 1.0], [np.nan, 2.0], [np.nan, np.nan]])
    numbered = encode_frames(pd.DataFrame({0: [1.0]}), pd.DataFrame({0: [2.0]}))
    assert numbered.columns == ["0"]


def test_polars_frames_and_arrays_are_accepted() -> None:
    rng = np.random.default_rng(4)
    reference, current = _frame(rng, 2_000), _frame(rng, 500)
    from_pandas = pca_reconstruction_drift(reference, current)
    from_polars = pca_reconstruction_drift(pl.from_pandas(reference), pl.from_pandas(current))
    from_arrays = pca_reconstruction_drift(reference.to_numpy(), current.to_numpy())
    assert from_polars == from_pandas
    assert from_arrays.statistic == pytest.approx(from_pandas.statistic)


def test_result_is_json_ready() -> None:
    rng = np.random.default_rng(5)
    result = pca_reconstruction_drift(_frame(rng, 1_000), _frame(rng, 200))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["method"] == "pca_reconstruction"
    assert set(data) == {
        "method", "statistic", "threshold", "drifted", "lower", "upper",
        "reference_rows", "current_rows",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("check", "kwargs", "field"),
    [
        (pca_reconstruction_drift, {"variance": 0.0}, "variance"),
        (pca_reconstruction_drift, {"chunks": 1}, "chunks"),
        (pca_reconstruction_drift, {"chunks": 30}, "reference"),
        (pca_reconstruction_drift, {"columns": ["a", "zz"]}, "zz"),
        (domain_classifier_drift, {"threshold": 0.4}, "threshold"),
        (domain_classifier_drift, {"folds": 1}, "folds"),
        (domain_classifier_drift, {"folds": 8}, "current"),
    ],
)
def test_bad_arguments_are_refused(check: Any, kwargs: dict[str, Any], field: str) -> None:
    rng = np.random.default_rng(6)
    with pytest.raises(InvalidInputError) as info:
        check(_frame(rng, 50), _frame(rng, 5), **kwargs)
    assert info.value.field == field


def test_current_without_a_reference_column_is_refused() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(InvalidInputError) as info:
        domain_classifier_drift(_frame(rng, 100), _frame(rng, 50).drop(columns="c"))
    assert info.value.field == "c"


def test_a_perfect_reconstruction_raises_no_alarm() -> None:
    """One feature: PCA keeps it whole, every error is 0 and the band has no width."""
    reference = pd.DataFrame({"a": np.random.default_rng(8).normal(size=500)})
    result = pca_reconstruction_drift(reference, reference.iloc[:100] + 5.0)
    assert (result.statistic, result.lower, result.upper) == (0.0, 0.0, 0.0)
    assert not result.drifted
