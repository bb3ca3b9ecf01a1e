"""read_table: files by suffix, pandas and polars frames, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from modelkeep.data.io import read_table
from modelkeep.exceptions import InvalidInputError

FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, None, 1.5]})


def _assert_same(read: pd.DataFrame) -> None:
    assert list(read.columns) == ["a", "b", "c"]
    assert read["a"].tolist() == [1, 2, 3]
    assert read["b"].tolist() == ["x", "y", "z"]
    assert read["c"].isna().tolist() == [False, True, False]


def test_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    FRAME.to_csv(path, index=False)
    _assert_same(read_table(path))


def test_reads_tsv_given_as_a_string(tmp_path: Path) -> None:
    path = tmp_path / "t.TSV"
    FRAME.to_csv(path, index=False, sep="\t")
    _assert_same(read_table(str(path)))


def test_reads_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    FRAME.to_parquet(path)
    _assert_same(read_table(path))


def test_reads_json_records(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    FRAME.to_json(path, orient="records")
    _assert_same(read_table(path))


def test_returns_a_pandas_frame_as_is() -> None:
    assert read_table(FRAME) is FRAME


def test_reads_a_series_as_one_column() -> None:
    read = read_table(pd.Series([1, 2], name="s"))
    assert list(read.columns) == ["s"]


def test_converts_polars_frames_and_lazy_frames() -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, None, 1.5]})
    _assert_same(read_table(frame))
    _assert_same(read_table(frame.lazy()))


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="use a .csv") as info:
        read_table(path)
    assert info.value.field == "data"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not found") as info:
        read_table(tmp_path / "absent.csv")
    assert info.value.field == "data"


@pytest.mark.parametrize(("name", "content"), [("e.csv", b""), ("bad.parquet", b"not parquet")])
def test_unreadable_file_is_one_clear_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=f"cannot read {name}") as info:
        read_table(path)
    assert info.value.field == "data"


def test_other_objects_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="cannot read a table from a dict"):
        read_table({"a": [1]})
