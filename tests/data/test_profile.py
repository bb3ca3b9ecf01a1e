"""profile(): statistics per column kind, class balance, digest, JSON, HTML and Rich output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from data_support import clean_frame
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from modelkeep.data.profile import QUANTILES, ColumnProfile, Profile, profile
from modelkeep.exceptions import InvalidInputError
from modelkeep.tracking.datasets import describe_dataset


def _mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.0, 2.0, np.nan, 4.0, np.inf, 6.0],
            "city": ["Oslo", "Rome", "Oslo", None, "Oslo", "Lima"],
            "active": [True, False, True, True, False, True],
            "when": pd.to_datetime(
                ["2024-01-02", "2024-03-01", None, "2023-12-31", "2024-01-01", "2024-02-02"]
            ),
            "review": [f"this is a fairly long free-text review number {i}" for i in range(6)],
            "label": [0, 1, 0, 1, 1, 1],
        }
    )


def test_each_column_gets_its_kind() -> None:
    result = profile(_mixed_frame())
    kinds = {name: column.kind for name, column in result.columns.items()}
    assert kinds == {
        "amount": "numeric",
        "city": "categorical",
        "active": "boolean",
        "when": "datetime",
        "review": "text",
        "label": "numeric",
    }
    assert (result.n_rows, result.n_columns, result.target) == (6, 6, None)


def test_numeric_statistics_use_finite_values_only() -> None:
    amount = profile(_mixed_frame()).columns["amount"]
    finite = np.array([1.0, 2.0, 4.0, 6.0])
    assert amount.missing_rate == pytest.approx(1 / 6)
    assert amount.distinct_count == 5  # inf is a value, NaN is missing
    assert (amount.min, amount.max) == (1.0, 6.0)
    assert amount.mean == pytest.approx(finite.mean())
    assert amount.std == pytest.approx(finite.std(ddof=1))
    assert list(amount.quantiles) == list(QUANTILES)
    assert amount.quantiles["0.5"] == pytest.approx(np.median(finite))
    assert amount.top_values == []


def test_histogram_edges_are_frozen_from_the_data() -> None:
    values = np.random.default_rng(0).normal(size=1000)
    column = profile(pd.DataFrame({"v": values}), bins=7).columns["v"]
    assert column.histogram is not None
    edges, counts = column.histogram["edges"], column.histogram["counts"]
    assert len(edges) == 8 and len(counts) == 7
    assert (edges[0], edges[-1]) == (values.min(), values.max())
    assert sum(counts) == 1000
    assert counts == np.histogram(values, bins=np.array(edges))[0].tolist()


def test_categorical_top_values_are_shares_of_present_rows() -> None:
    city = profile(_mixed_frame()).columns["city"]
    assert city.top_values == [("Oslo", 0.6), ("Rome", 0.2), ("Lima", 0.2)]
    assert city.distinct_count == 3
    assert city.missing_rate == pytest.approx(1 / 6)
    assert city.histogram is None and city.mean is None


def test_boolean_mean_is_the_share_of_true() -> None:
    active = profile(_mixed_frame()).columns["active"]
    assert active.mean == pytest.approx(4 / 6)
    assert dict(active.top_values) == pytest.approx({"True": 4 / 6, "False": 2 / 6})


def test_datetime_range_is_iso_text() -> None:
    when = profile(_mixed_frame()).columns["when"]
    assert (when.min, when.max) == ("2023-12-31T00:00:00", "2024-03-01T00:00:00")
    assert when.histogram is None


@pytest.mark.parametrize(
    ("loader", "balance"),
    [
        (load_breast_cancer, {"1": 357 / 569, "0": 212 / 569}),
        (load_wine, {"1": 71 / 178, "0": 59 / 178, "2": 48 / 178}),
        (load_diabetes, None),
    ],
)
def test_bundled_datasets(loader: object, balance: dict[str, float] | None) -> None:
    frame = loader(as_frame=True).frame  # type: ignore[operator]
    result = profile(frame, target="target")
    assert result.n_rows == len(frame)
    assert result.class_balance == (None if balance is None else pytest.approx(balance))
    assert result.problems == []
    assert all(column.kind == "numeric" for column in result.columns.values())


def test_problems_are_attached() -> None:
    frame = clean_frame()
    frame["constant"] = 3
    result = profile(frame, target="y")
    assert [(p.kind, p.column) for p in result.problems] == [("constant_column", "constant")]


def test_digest_matches_describe_dataset(tmp_path: Path) -> None:
    frame = clean_frame()
    assert profile(frame).digest == describe_dataset(frame, "train").digest
    polars_frame = pl.from_pandas(frame)
    assert profile(polars_frame).digest == describe_dataset(polars_frame).digest
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    assert profile(path).digest == describe_dataset(pd.read_csv(path)).digest


def test_json_is_strict_and_round_trips() -> None:
    result = profile(_mixed_frame(), target="label")
    text = result.to_json()
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"JSON has {name}"))
    assert data["columns"]["amount"]["max"] == 6.0
    assert data["columns"]["city"]["top_values"][0] == ["Oslo", 0.6]
    assert Profile.from_dict(data) == result


def test_non_finite_statistics_become_none() -> None:
    frame = pd.DataFrame({"all_nan": [np.nan, np.nan], "one": [np.inf, 1.0], "inf": [np.inf] * 2})
    columns = profile(frame).columns
    assert columns["all_nan"] == ColumnProfile("all_nan", "numeric", "float64", 1.0, 0)
    assert columns["one"].std is None and columns["one"].mean == 1.0
    assert columns["inf"].quantiles == {} and columns["inf"].histogram is None
    json.loads(profile(frame).to_json())


def test_values_near_the_float_limits_do_not_overflow() -> None:
    huge = profile(pd.DataFrame({"huge": [1e308, -1e308, 1e308]})).columns["huge"]
    assert (huge.min, huge.max) == (-1e308, 1e308)
    assert huge.histogram is None and huge.std is None


def test_nullable_and_categorical_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "count": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "size": pd.Categorical(["s", "m", "s"], categories=["s", "m", "l"]),
        }
    )
    columns = profile(frame).columns
    assert (columns["count"].kind, columns["count"].mean) == ("numeric", 2.0)
    assert (columns["flag"].kind, columns["flag"].mean) == ("boolean", 0.5)
    assert columns["size"].top_values == [("s", 2 / 3), ("m", 1 / 3)]  # unused "l" left out


def test_empty_table() -> None:
    result = profile(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    assert result.n_rows == 0
    assert result.columns["a"].missing_rate == 0.0
    assert result.problems[0].kind == "constant_column"


def test_html_is_self_contained_and_escaped() -> None:
    frame = clean_frame()
    frame["<script>alert(1)</script>"] = ["<b>x</b>", "y"] * 300
    page = profile(frame, target="y").to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert "<svg" in page and "Class balance" in page


def test_render_is_a_rich_table_with_problem_counts() -> None:
    frame = clean_frame()
    frame["[red]markup[/red]"] = 1
    table = profile(frame, target="y").render()
    assert isinstance(table, Table)
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "[red]markup[/red]" in text
    assert "y (target)" in text
    assert "problems: 1 warning" in text
    assert "class balance of y" in text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        profile(clean_frame(), target="label")
    assert info.value.field == "target"
    with pytest.raises(InvalidInputError) as info:
        profile(clean_frame(), bins=0)
    assert info.value.field == "bins"
    repeated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInputError, match="repeated: a"):
        profile(repeated)
