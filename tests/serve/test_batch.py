"""Batch scoring (``modelkeep.serve.batch.score_file``) on real model packages and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from modelkeep.exceptions import InputSchemaError, InvalidInputError
from modelkeep.registry.loaded import LoadedModel
from modelkeep.registry.package import load_package, save_package
from modelkeep.serve.batch import score_file


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "visits": rng.integers(0, 20, rows),
            "city": rng.choice(["007", "010", "oslo"], rows),
        }
    )


def _package(model: Any, example: pd.DataFrame, directory: Path) -> LoadedModel:
    save_package(model, directory, input_example=example)
    return load_package(directory)


@pytest.fixture
def churn(tmp_path: Path) -> LoadedModel:
    """A pipeline (one-hot city + logistic regression) with string labels "no"/"yes"."""
    frame = _frame(300)
    labels = np.where((frame["age"] > 40) ^ (frame["city"] == "010"), "yes", "no")
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(frame, labels)
    return _package(model, frame.head(5), tmp_path / "churn-pkg")


@pytest.fixture
def data(tmp_path: Path) -> pd.DataFrame:
    frame = _frame(1000, seed=1)
    frame.insert(0, "customer", [f"c{i:05d}" for i in range(len(frame))])
    return frame


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["customer"])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("chunk_size", [7, 250, 1000, 5000])
def test_parquet_in_parquet_out_matches_scoring_the_whole_frame(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path, chunk_size: int
) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _features(data).to_parquet(source)

    summary = score_file(churn, source, output, chunk_size=chunk_size)

    assert summary.rows == 1000 and summary.output == output
    assert summary.chunks == -(-1000 // chunk_size)
    result = pd.read_parquet(output)
    assert result.columns.tolist() == ["row", "prediction"]
    assert result["row"].tolist() == list(range(1000))
    expected = churn.raw.predict(_features(data))
    assert result["prediction"].tolist() == expected.tolist()


def test_parquet_output_has_one_row_group_per_chunk(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _features(data).to_parquet(source)  # one row group of 1000 rows
    score_file(churn, source, output, chunk_size=300)
    assert pq.ParquetFile(output).metadata.num_row_groups == 4


def test_csv_in_csv_out_with_id_column_and_probabilities(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    data.to_csv(source, index=False)

    summary = score_file(churn, source, output, chunk_size=128, id_column="customer", proba=True)

    assert (summary.rows, summary.chunks) == (1000, 8)
    result = pd.read_csv(output, dtype={"customer": str})
    assert result.columns.tolist() == ["customer", "prediction", "proba_no", "proba_yes"]
    assert result["customer"].tolist() == data["customer"].tolist()
    features = _features(data)
    assert result["prediction"].tolist() == churn.raw.predict(features).tolist()
    proba = churn.raw.predict_proba(features)
    np.testing.assert_allclose(result[["proba_no", "proba_yes"]].to_numpy(), proba, rtol=1e-12)


def test_csv_text_columns_stay_text_in_chunks_that_look_numeric(
    churn: LoadedModel, tmp_path: Path
) -> None:
    # A chunk whose cities are all "007"/"010" would be read as integers (7, 10) by pandas.
    frame = _frame(40, seed=2)
    frame["city"] = ["oslo"] * 20 + ["007", "010"] * 10
    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)

    score_file(churn, source, output, chunk_size=20)

    expected = churn.raw.predict(frame)
    assert pd.read_parquet(output)["prediction"].tolist() == expected.tolist()


def test_compressed_csv_is_read(churn: LoadedModel, data: pd.DataFrame, tmp_path: Path) -> None:
    source, output = tmp_path / "in.csv.gz", tmp_path / "out.parquet"
    _features(data).to_csv(source, index=False, compression="gzip")
    assert score_file(churn, source, output, chunk_size=400).rows == 1000


def test_parquet_id_column_keeps_its_type(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    frame = _features(data).assign(account=np.arange(1000, dtype=np.int32) * 3)
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source)

    score_file(churn, source, output, chunk_size=300, id_column="account")

    table = pq.read_table(output)
    assert table.schema.field("account").type == pa.int32()
    assert table.column("account").to_pylist() == frame["account"].tolist()


def test_csv_ids_missing_in_a_later_chunk_stay_missing(churn: LoadedModel, tmp_path: Path) -> None:
    frame = _frame(20, seed=3)
    frame.insert(0, "account", pd.array(list(range(15)) + [None] + list(range(16, 20)), "Int64"))
    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)

    score_file(churn, source, output, chunk_size=10, id_column="account")

    table = pq.read_table(output)
    assert pa.types.is_string(table.schema.field("account").type) or pa.types.is_large_string(
        table.schema.field("account").type
    )  # as the file spells them
    assert table.column("account").to_pylist()[14:17] == ["14", None, "16"]


def test_csv_ids_are_copied_as_text_whatever_the_chunks_hold(
    churn: LoadedModel, tmp_path: Path
) -> None:
    frame = _frame(20, seed=3)
    ids = [f"{i:03d}" for i in range(10)] + [f"x{i}" for i in range(10)]
    frame.insert(0, "account", ids)
    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)

    score_file(churn, source, output, chunk_size=10, id_column="account")

    assert pd.read_parquet(output)["account"].tolist() == ids


def test_regressor_predictions_are_floats(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    model = _package(LinearRegression().fit(frame, frame["a"] * 2), frame.head(3), tmp_path / "p")
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source)

    score_file(model, source, output, chunk_size=30)

    np.testing.assert_allclose(pd.read_parquet(output)["prediction"], frame["a"] * 2, atol=1e-9)


def test_bad_csv_chunk_in_the_middle_names_rows_and_column_and_leaves_no_output(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    frame = _features(data).astype({"visits": object})
    frame.loc[450, "visits"] = "many"
    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)

    with pytest.raises(InputSchemaError) as caught:
        score_file(churn, source, output, chunk_size=200)

    assert caught.value.field == "visits"
    assert "in.csv rows 400-599" in caught.value.message
    assert "'visits'" in caught.value.problems[0]
    assert not output.exists() and _leftovers(tmp_path) == []


def test_bad_parquet_chunk_keeps_an_existing_output_untouched(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    frame = _features(data)
    frame["visits"] = pd.array(frame["visits"], dtype="Int64")
    frame.loc[777, "visits"] = None  # the signature's int column is not nullable
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source)
    output.write_bytes(b"previous results")

    with pytest.raises(InputSchemaError) as caught:
        score_file(churn, source, output, chunk_size=250)

    assert caught.value.field == "visits"
    assert "rows 750-999" in caught.value.message and "null" in caught.value.message
    assert output.read_bytes() == b"previous results"
    assert _leftovers(tmp_path) == []


def test_csv_parse_error_in_a_later_chunk_names_where_reading_stopped(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    lines = _features(data).to_csv(index=False).splitlines()
    lines[501] += ",1,2"  # data row 500 has too many fields
    source.write_text("\n".join(lines) + "\n")

    with pytest.raises(InvalidInputError) as caught:
        score_file(churn, source, output, chunk_size=100)

    assert caught.value.field == "input"
    assert "after row 500" in caught.value.message
    assert not output.exists() and _leftovers(tmp_path) == []


def test_model_failure_names_the_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0)})
    model = _package(LinearRegression().fit(frame, frame["a"]), frame.head(3), tmp_path / "p")
    frame.loc[7, "b"] = np.nan  # float columns are nullable; scikit-learn refuses NaN
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source)

    with pytest.raises(InvalidInputError) as caught:
        score_file(model, source, output, chunk_size=4)

    assert "rows 4-7" in caught.value.message and "NaN" in caught.value.message
    assert not output.exists()


def test_missing_id_column_is_named(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    data.to_parquet(source)
    with pytest.raises(InvalidInputError) as caught:
        score_file(churn, source, tmp_path / "out.parquet", id_column="client")
    assert caught.value.field == "id_column" and "customer" in caught.value.message


def test_extra_input_column_is_a_signature_problem(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    data.to_parquet(source)  # "customer" is not a model input and not named as the id
    with pytest.raises(InputSchemaError) as caught:
        score_file(churn, source, tmp_path / "out.parquet")
    assert caught.value.field == "customer" and "unexpected column" in caught.value.message


@pytest.mark.parametrize(
    ("source_name", "output_name", "options", "field"),
    [
        ("in.json", "out.parquet", {}, "input"),
        ("missing.csv", "out.parquet", {}, "input"),
        ("in.csv", "out.json", {}, "output"),
        ("in.csv", "nowhere/out.csv", {}, "output"),
        ("in.csv", "in.csv", {}, "output"),
        ("in.csv", "out.csv", {"chunk_size": 0}, "chunk_size"),
        ("in.csv", "out.csv", {"id_column": "prediction"}, "id_column"),
    ],
)
def test_bad_requests_are_refused_before_reading(
    churn: LoadedModel,
    data: pd.DataFrame,
    tmp_path: Path,
    source_name: str,
    output_name: str,
    options: dict[str, Any],
    field: str,
) -> None:
    data.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.json").write_text("[]")
    with pytest.raises(InvalidInputError) as caught:
        score_file(churn, tmp_path / source_name, tmp_path / output_name, **options)
    assert caught.value.field == field


def test_proba_of_a_regressor_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(10.0)})
    model = _package(LinearRegression().fit(frame, frame["a"]), frame.head(3), tmp_path / "p")
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(InvalidInputError) as caught:
        score_file(model, source, tmp_path / "out.csv", proba=True)
    assert caught.value.field == "proba"


def test_input_without_rows_is_refused_and_leaves_no_output(
    churn: LoadedModel, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("age,visits,city\n")
    with pytest.raises(InvalidInputError, match="no rows"):
        score_file(churn, source, output)
    assert not output.exists() and _leftovers(tmp_path) == []


def test_corrupt_parquet_is_an_input_error(churn: LoadedModel, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InvalidInputError) as caught:
        score_file(churn, source, tmp_path / "out.parquet")
    assert caught.value.field == "input" and "in.parquet" in caught.value.message


def test_progress_bar_reports_rows_on_stderr(
    churn: LoadedModel, data: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    _features(data).to_parquet(source)
    score_file(churn, source, tmp_path / "out.parquet", chunk_size=300, progress=True)
    captured = capsys.readouterr()
    assert "1000/1000" in captured.err and captured.out == ""


# Runs in a fresh interpreter: Arrow allocates outside Python's heap (tracemalloc cannot see
# it), and its pool only reports a process-wide peak.
_MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
import pyarrow as pa
from modelkeep.registry.package import load_package
from modelkeep.serve.batch import score_file

model = load_package(Path(sys.argv[1]))
before = pa.default_memory_pool().max_memory()
tracemalloc.start()
summary = score_file(model, Path(sys.argv[2]), Path(sys.argv[3]), chunk_size=50_000)
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
arrow = pa.default_memory_pool().max_memory()
print(json.dumps({"rows": summary.rows, "chunks": summary.chunks, "traced": traced,
                  "arrow": arrow, "arrow_before": before}))
"""


def test_a_million_rows_score_in_memory_bounded_by_the_chunk(tmp_path: Path) -> None:
    rows, names = 1_000_000, [f"f{i}" for i in range(8)]
    rng = np.random.default_rng(5)
    table = pa.table({name: rng.standard_normal(rows) for name in names})
    in_memory = table.nbytes  # 64 MB
    source = tmp_path / "big.parquet"
    # One row group: a reader that is not streamed loads it whole. No dictionary pages: they
    # cost a fixed ~2 MB per column whatever the row count, noise at this file size.
    pq.write_table(table, source, use_dictionary=False)
    del table
    sample = pd.DataFrame(rng.standard_normal((200, 8)), columns=names)
    model = LogisticRegression().fit(sample, sample["f0"] > 0)
    save_package(model, tmp_path / "pkg", input_example=sample.head(3))
    output = tmp_path / "scores.parquet"

    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path / "pkg"), str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert (measured["rows"], measured["chunks"]) == (rows, 20)
    assert measured["traced"] < in_memory / 8
    assert measured["arrow"] - measured["arrow_before"] < in_memory / 2
    assert pq.ParquetFile(output).metadata.num_rows == rows


def test_an_output_that_is_a_folder_is_refused_before_scoring(
    churn: LoadedModel, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    _frame(5, seed=1).to_csv(source, index=False)
    folder = tmp_path / "out.parquet"
    folder.mkdir()

    with pytest.raises(InvalidInputError) as caught:
        score_file(churn, source, folder)

    assert caught.value.field == "output"
