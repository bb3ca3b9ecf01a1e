"""Input examples: saved as .npy or .json (never pickle), read back equal, dtypes included."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.registry.signature import (
    infer_signature,
    load_input_example,
    save_input_example,
    to_pandas,
)


def _round_trip(example: Any, directory: Path) -> Any:
    name = save_input_example(example, directory)
    return load_input_example(directory / name)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([1, -2, 2**62], dtype=np.int64),
        np.zeros((2, 4, 4), dtype=np.uint8),
        np.array([[True, False]]),
    ],
)
def test_tensor_is_stored_as_npy(array: np.ndarray[Any, Any], tmp_path: Path) -> None:
    assert save_input_example(array, tmp_path) == "input_example.npy"
    back = load_input_example(tmp_path / "input_example.npy")
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_frame_of_every_dtype_reads_back_equal(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "i8": np.array([1, -1, 0], dtype=np.int8),
            "u64": np.array([2**64 - 1, 0, 1], dtype=np.uint64),
            "f": [1.5, np.nan, np.inf],
            "f32": np.array([0.1, -np.inf, 2], dtype=np.float32),
            "b": [True, False, True],
            "s": ["é", None, "x"],
            "pd_string": pd.array(["a", None, "c"], dtype="string"),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "nb": pd.array([True, None, False], dtype="boolean"),
            "nf": pd.array([1.5, None, 2.0], dtype="Float32"),
            "t": pd.to_datetime(
                ["2020-01-01 00:00:00.123456789", None, "1999-12-31"], format="ISO8601"
            ),
            "ts": pd.to_datetime(["2020-01-01", "2020-01-02", None]).as_unit("s"),
            "tz": pd.to_datetime(["2020-03-29 01:30", None, "2020-07-01 12:00"]).tz_localize(
                "Europe/Paris"
            ),
            "c": pd.Categorical(["lo", None, "hi"], categories=["lo", "hi"], ordered=True),
            "ci": pd.Categorical([3, 1, 3]),
            "o": [{"k": [1, 2]}, None, "x"],
        }
    )
    name = save_input_example(frame, tmp_path)
    assert name == "input_example.json"
    back = load_input_example(tmp_path / name)
    pd.testing.assert_frame_equal(back, frame)
    assert infer_signature(back) == infer_signature(frame)


def test_json_file_is_split_layout_and_plain_json(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [31, 45], "city": pd.Categorical(["Oslo", None])})
    save_input_example(frame, tmp_path)
    payload = json.loads((tmp_path / "input_example.json").read_text(encoding="utf-8"))
    assert payload["columns"] == ["age", "city"]
    assert payload["dtypes"] == ["int64", "category"]
    assert payload["data"] == [[31, "Oslo"], [45, None]]


@pytest.mark.parametrize(
    "example",
    [
        pl.DataFrame({"a": [1, None], "s": ["x", "y"], "f": [0.5, None]}),
        pa.table({"a": pa.array([1, 2], pa.int32()), "s": ["x", None]}),
        np.array([(1, 2.5)], dtype=[("n", "i4"), ("x", "f8")]),
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        {"a": [1.0, 2.0]},
        np.array([["a", "b"]]),
    ],
)
def test_other_kinds_read_back_as_their_pandas_form(example: Any, tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(_round_trip(example, tmp_path), to_pandas(example))


def test_empty_frame_keeps_its_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype="int32"), "s": pd.Series([], dtype="str")})
    pd.testing.assert_frame_equal(_round_trip(frame, tmp_path), frame)


def test_directory_is_created(tmp_path: Path) -> None:
    target = tmp_path / "package" / "model"
    assert save_input_example(pd.DataFrame({"a": [1]}), target) == "input_example.json"
    assert (target / "input_example.json").is_file()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"d": [Decimal("1.5")]}),
        pd.DataFrame({"c": [1 + 2j]}),
        pd.DataFrame({"td": [pd.Timedelta(seconds=1)]}),
    ],
)
def test_values_json_cannot_hold_are_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        save_input_example(frame, tmp_path)
    assert info.value.field == "input_example"
    assert not (tmp_path / "input_example.json").exists()


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_input_example(tmp_path / "input_example.json")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "pickle"}',
        '{"format": "pandas-split", "columns": ["a"], "dtypes": ["int64"], "data": [[1, 2]]}',
        '{"format": "pandas-split", "columns": ["a"], "dtypes": ["nonsense"], "data": [[1]]}',
        '{"format": "pandas-split", "columns": ["a"], "dtypes": ["int64"], "data": [["x"]]}',
    ],
)
def test_malformed_json_is_refused(text: str, tmp_path: Path) -> None:
    path = tmp_path / "input_example.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_input_example(path)
    assert info.value.field == "input_example"


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "input_example.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInputError):
        load_input_example(path)
