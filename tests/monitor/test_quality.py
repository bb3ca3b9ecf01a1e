"""Data quality of a window against the reference summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.quality import QualityResult, check_quality
from modelkeep.monitor.summary import DatasetSummary, summarize


def _data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": rng.uniform(18, 90, size=n),
            "income": rng.normal(50_000, 10_000, size=n),
            "city": rng.choice(["ams", "ber", "cph"], size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan  # the reference misses 10% of incomes
    return frame


@pytest.fixture
def reference() -> DatasetSummary:
    return summarize(_data(np.random.default_rng(0), 5_000))


def test_clean_window_has_no_problems(reference: DatasetSummary) -> None:
    current = _data(np.random.default_rng(1), 1_000)
    current["age"] = current["age"].clip(18.5, 89.5)  # inside the reference's range
    result = check_quality(reference, current)
    assert result.rows == 1_000
    assert result.schema_violations == []
    assert result.out_of_range == {"age": 0.0, "income": pytest.approx(0.0, abs=0.003)}
    assert result.unseen_categories == {"city": 0.0}
    assert result.missing_rate["age"] == 0.0
    assert result.missing_rate["income"] == pytest.approx(current["income"].isna().mean())
    assert abs(result.missing_rate_change["income"]) < 0.03


def test_each_injected_problem_is_flagged(reference: DatasetSummary) -> None:
    rng = np.random.default_rng(2)
    current = _data(rng, 1_000)
    current["age"] = current["age"].clip(19.0, 89.0)
    current.loc[:299, "age"] = np.nan  # 30% missing where the reference had none
    current.loc[300:399, "age"] = 150.0  # 10% above the reference's maximum
    current.loc[400:449, "age"] = -1.0  # 5% below its minimum
    current.loc[:199, "city"] = "zurich"  # 20% a category never seen
    current["income"] = current["income"].astype(str)  # numbers arrive as text
    current["new_feature"] = 1.0
    result = check_quality(reference, current)
    assert result.missing_rate["age"] == pytest.approx(0.3)
    assert result.missing_rate_change["age"] == pytest.approx(0.3)
    assert result.out_of_range["age"] == pytest.approx(150 / 700)  # share of present values
    assert result.unseen_categories["city"] == pytest.approx(0.2)
    assert result.schema_violations == [
        "column 'income': numeric in the reference, categorical now",
        "extra column 'new_feature'",
    ]
    assert "income" not in result.out_of_range


def test_a_missing_column_is_missing_everywhere(reference: DatasetSummary) -> None:
    current = _data(np.random.default_rng(3), 200).drop(columns=["income"])
    result = check_quality(reference, current)
    assert result.schema_violations == ["missing column 'income'"]
    assert result.missing_rate["income"] == 1.0
    reference_rate = reference.columns["income"].missing / reference.rows
    assert result.missing_rate_change["income"] == pytest.approx(1.0 - reference_rate)
    assert "income" not in result.out_of_range


def test_infinities_count_as_missing(reference: DatasetSummary) -> None:
    current = _data(np.random.default_rng(4), 100)
    current["age"] = current["age"].clip(19.0, 89.0)
    current.loc[:9, "age"] = np.inf
    result = check_quality(reference, current)
    assert result.missing_rate["age"] == pytest.approx(0.1)
    assert result.out_of_range["age"] == 0.0


def test_a_summary_from_json_and_other_inputs_give_the_same_result(
    reference: DatasetSummary, tmp_path: Path
) -> None:
    current = _data(np.random.default_rng(5), 3_000)
    current.loc[:99, "city"] = "oslo"
    current.loc[100:199, "age"] = 200.0
    expected = check_quality(reference, current)
    stored = DatasetSummary.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert check_quality(stored, current) == expected
    assert check_quality(reference, pl.from_pandas(current)) == expected
    path = tmp_path / "window.parquet"
    current.to_parquet(path, row_group_size=500)
    assert check_quality(reference, path, chunk_rows=700) == expected
    assert check_quality(reference, str(path)) == expected


def test_categories_forced_from_integers_stay_comparable() -> None:
    reference = summarize(pd.DataFrame({"code": [1, 2, 3, 1, 2]}), categorical=["code"])
    result = check_quality(reference, pd.DataFrame({"code": [1, 2, 7, 9]}))
    assert result.schema_violations == []
    assert result.unseen_categories == {"code": 0.5}
    floats = check_quality(reference, pd.DataFrame({"code": [1.0, 2.0, None, 3.0]}))
    assert floats.unseen_categories == {"code": 0.0}
    assert floats.missing_rate == {"code": 0.25}


def test_truncated_reference_categories_cannot_tell_unseen() -> None:
    many = pd.DataFrame({"user": [f"u{i}" for i in range(1_500)], "x": np.arange(1_500.0)})
    reference = summarize(many)
    result = check_quality(reference, pd.DataFrame({"user": ["u1", "new"], "x": [1.0, 2.0]}))
    assert "user" not in result.unseen_categories
    assert result.missing_rate["user"] == 0.0


def test_result_is_json_ready(reference: DatasetSummary) -> None:
    result = check_quality(reference, _data(np.random.default_rng(6), 50))
    data = json.loads(json.dumps(result.to_dict()))
    assert QualityResult(**data) == result


def test_bad_current_data_is_refused(reference: DatasetSummary, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_quality(reference, [[1, 2, 3]])
    assert info.value.field == "current"
    with pytest.raises(NotFoundError):
        check_quality(reference, tmp_path / "nothing.parquet")
