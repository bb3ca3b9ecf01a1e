"""to_pandas over every input kind, and the dtype names signatures use."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.tabular import column_dtype, is_known_dtype, is_tensor, to_pandas


def test_dataframe_with_string_names_is_returned_as_is() -> None:
    frame = pd.DataFrame({"a": [1]})
    assert to_pandas(frame) is frame


def test_column_names_become_strings() -> None:
    frame = pd.DataFrame([[1, 2]])
    out = to_pandas(frame)
    assert out.columns.tolist() == ["0", "1"]
    assert frame.columns.tolist() == [0, 1]


def test_numpy_arrays_get_numbered_or_field_names() -> None:
    assert to_pandas(np.array([[1, 2], [3, 4]])).columns.tolist() == ["0", "1"]
    assert to_pandas(np.array([1, 2])).columns.tolist() == ["0"]
    structured = np.array([(1, "x")], dtype=[("n", "i8"), ("s", "U1")])
    assert to_pandas(structured).to_dict("list") == {"n": [1], "s": ["x"]}


def test_series_becomes_one_column() -> None:
    assert to_pandas(pd.Series([1], name="age")).columns.tolist() == ["age"]
    assert to_pandas(pd.Series([1])).columns.tolist() == ["0"]


def test_polars_ints_with_nulls_stay_exact_ints() -> None:
    big = 2**62 + 1
    out = to_pandas(pl.DataFrame({"a": [big, None], "b": [True, None], "c": [1, 2]}))
    assert str(out["a"].dtype) == "Int64" and out["a"].iloc[0] == big
    assert str(out["b"].dtype) == "boolean"
    assert out["c"].dtype == np.int64


def test_pyarrow_table_and_record_batch() -> None:
    table = pa.table({"a": pa.array([1, None], pa.uint8()), "s": ["x", "y"]})
    for data in (table, table.to_batches()[0]):
        out = to_pandas(data)
        assert str(out["a"].dtype) == "UInt8"
        assert out["s"].tolist() == ["x", "y"]


def test_records_and_columns() -> None:
    expected = {"a": [1, 2], "b": ["x", "y"]}
    assert to_pandas([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]).to_dict("list") == expected
    assert to_pandas({"a": [1, 2], "b": ["x", "y"]}).to_dict("list") == expected


@pytest.mark.parametrize(
    "data",
    [42, "text", np.zeros((2, 2, 2)), {"a": 1, "b": 2}, pl.DataFrame({"a": [1]}).lazy()],
)
def test_refuses_what_is_not_a_table(data: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        to_pandas(data)
    assert info.value.field == "input"


def test_is_tensor_only_for_plain_numeric_arrays() -> None:
    assert is_tensor(np.zeros((2, 2)))
    assert is_tensor(np.array([True]))
    assert not is_tensor(np.array([["a"]]))
    assert not is_tensor(np.array([(1,)], dtype=[("a", "i4")]))
    assert not is_tensor(np.float64(1.0))
    assert not is_tensor([[1.0]])


@pytest.mark.parametrize(
    ("series", "name"),
    [
        (pd.Series([1.0], dtype=np.float16), "float16"),
        (pd.Series([True], dtype="boolean"), "bool"),
        (pd.Series([1], dtype="UInt16"), "uint16"),
        (pd.Series(["a"], dtype="string"), "string"),
        (pd.Series([pd.Timedelta(1)]), "object"),
        (pd.Series([1 + 2j]), "object"),
        (pd.Series([None, None], dtype=object), "object"),
    ],
)
def test_column_dtype_names(series: pd.Series[Any], name: str) -> None:
    assert column_dtype(series) == name
    assert is_known_dtype(name)


def test_unknown_dtype_names() -> None:
    assert not is_known_dtype("Int64")
    assert not is_known_dtype("datetime64[D]")
    assert is_known_dtype("datetime64[us, America/New_York]")
