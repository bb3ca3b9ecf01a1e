"""MLflow scoring bodies for POST /invocations: every format, its errors, and the answer."""

from __future__ import annotations

import io
import json
import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelkeep.exceptions import InvalidInputError, ModelkeepError, UnsupportedMediaTypeError
from modelkeep.serve.payloads import (
    PARQUET_MAX_CELLS,
    Invocation,
    encode_predictions,
    parse_invocation,
)

JSON = "application/json"


def parse(document: Any, *, output: str | None = None) -> Invocation:
    return parse_invocation(json.dumps(document).encode(), JSON, output=output)


def field_of(document: Any, content_type: str = JSON) -> str | None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(InvalidInputError) as caught:
        parse_invocation(body, content_type)
    return caught.value.field


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


# dataframe_split


def test_dataframe_split_gives_named_rows() -> None:
    got = parse({"dataframe_split": {"columns": ["age", "city"], "data": [[31, "Oslo"]]}})
    assert got.table.columns == ("age", "city")
    assert got.table.rows == [[31, "Oslo"]]
    assert got.table.frame is None
    assert (got.output, got.params) == ("predict", {})


def test_dataframe_split_without_columns_is_positional_and_index_is_ignored() -> None:
    got = parse({"dataframe_split": {"index": [7, 8], "data": [[1, 2.5], [3, None]]}})
    assert got.table.columns is None
    assert got.table.rows == [[1, 2.5], [3, None]]


def test_dataframe_split_number_names_become_strings_and_scalars_fill_one_column() -> None:
    got = parse({"dataframe_split": {"columns": [0], "data": [1, 2]}})
    assert got.table.columns == ("0",)
    assert got.table.rows == [[1], [2]]


@pytest.mark.parametrize(
    ("split", "field"),
    [
        ([[1, 2]], "dataframe_split"),
        ({"columns": ["a"], "data": [[1]], "orient": "split"}, "dataframe_split"),
        ({"columns": ["a"]}, "dataframe_split.data"),
        ({"columns": "a", "data": [[1]]}, "dataframe_split.columns"),
        ({"columns": [], "data": [[1]]}, "dataframe_split.columns"),
        ({"columns": ["a", 1.5], "data": [[1, 2]]}, "dataframe_split.columns"),
        ({"columns": ["a", "a"], "data": [[1, 2]]}, "dataframe_split.columns"),
        ({"columns": ["a", "b"], "data": {"a": 1}}, "dataframe_split.data"),
        ({"columns": ["a", "b"], "data": []}, "dataframe_split.data"),
        ({"columns": ["a", "b"], "data": [[1, 2], [3]]}, "dataframe_split.data[1]"),
        ({"data": [[1, 2], [3, 4, 5]]}, "dataframe_split.data[1]"),
        ({"columns": ["a", "b"], "data": [[1, 2], 3]}, "dataframe_split.data[1]"),
        ({"columns": ["a", "b"], "data": [[1, [2]]]}, "dataframe_split.data[0][1]"),
        ({"columns": ["a", "b"], "data": [[{"x": 1}, 2]]}, "dataframe_split.data[0][0]"),
        ({"columns": ["a"], "data": [1, [2]]}, "dataframe_split.data[1]"),
    ],
)
def test_dataframe_split_errors_name_the_field(split: Any, field: str) -> None:
    assert field_of({"dataframe_split": split}) == field


def test_ragged_row_message_says_what_was_expected() -> None:
    with pytest.raises(InvalidInputError, match=r"row 1 has 1 values; expected 2"):
        parse({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}})


# dataframe_records


def test_dataframe_records_in_any_key_order() -> None:
    got = parse({"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y", "a": 2}]})
    assert got.table.columns == ("a", "b")
    assert got.table.rows == [[1, "x"], [2, "y"]]


def test_dataframe_records_with_missing_keys_take_the_union_with_nulls() -> None:
    got = parse({"dataframe_records": [{"a": 1}, {"b": 2.5}]})
    assert got.table.columns == ("a", "b")
    assert got.table.rows == [[1, None], [None, 2.5]]


@pytest.mark.parametrize(
    ("records", "field"),
    [
        ({"a": [1]}, "dataframe_records"),
        ([], "dataframe_records"),
        ([{"a": 1}, [1]], "dataframe_records[1]"),
        (["a"], "dataframe_records[0]"),
        ([{"a": 1, "b": [1, 2]}], "dataframe_records[0].b"),
        ([{"a": 1}, {"a": 2, "b": {"c": 1}}], "dataframe_records[1].b"),
    ],
)
def test_dataframe_records_errors(records: Any, field: str) -> None:
    assert field_of({"dataframe_records": records}) == field


# instances and inputs


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_tf_serving_records_rows_scalars_and_columns(key: str) -> None:
    records = parse({key: [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}).table
    assert (records.columns, records.rows) == (("a", "b"), [[1, 2], [3, 4]])
    rows = parse({key: [[1, 2], [3, 4]]}).table
    assert (rows.columns, rows.rows) == (None, [[1, 2], [3, 4]])
    scalars = parse({key: [1.5, 2.5]}).table
    assert (scalars.columns, scalars.rows) == (None, [[1.5], [2.5]])
    columns = parse({key: {"a": [1, 3], "b": ["x", "y"]}}).table
    assert (columns.columns, columns.rows) == (("a", "b"), [[1, "x"], [3, "y"]])
    one_row = parse({key: {"a": 1, "b": "x"}}).table
    assert (one_row.columns, one_row.rows) == (("a", "b"), [[1, "x"]])


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"instances": [[1, 2], [3]]}, "instances[1]"),
        ({"instances": [[1, 2], {"a": 1}]}, "instances[1]"),
        ({"instances": [{"a": 1}, [1]]}, "instances[1]"),
        ({"instances": [[1, [2, 3]]]}, "instances[0][1]"),
        ({"instances": [[[1, 2], [3, 4]]]}, "instances[0][0]"),
        ({"instances": [1, {"a": 1}]}, "instances[1]"),
        ({"instances": 5}, "instances"),
        ({"instances": []}, "instances"),
        ({"inputs": {"a": [1, 2], "b": [3]}}, "inputs.b"),
        ({"inputs": {"a": [1, 2], "b": 3}}, "inputs.b"),
        ({"inputs": {"a": [], "b": []}}, "inputs"),
        ({"inputs": {}}, "inputs"),
        ({"inputs": {"a": [[1, 2]]}}, "inputs[0].a"),
        ({"inputs": "a,b"}, "inputs"),
    ],
)
def test_tf_serving_errors(document: dict[str, Any], field: str) -> None:
    assert field_of(document) == field


# the body as a whole


@pytest.mark.parametrize(
    "document",
    [
        {"data": [[1]]},
        {},
        {"instances": [[1]], "inputs": [[1]]},
        {"dataframe_split": {"data": [[1]]}, "dataframe_records": [{"a": 1}]},
        [[1, 2]],
        "dataframe_split",
        None,
    ],
)
def test_body_needs_exactly_one_input_key(document: Any) -> None:
    assert field_of(document) == "body"


def test_two_input_keys_are_both_named() -> None:
    with pytest.raises(InvalidInputError, match="instances, inputs"):
        parse({"instances": [[1]], "inputs": [[1]]})


def test_other_top_level_keys_are_ignored_like_mlflow() -> None:
    got = parse({"instances": [[1]], "signature_name": "serving_default"})
    assert got.table.rows == [[1]]


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"instances": [1,]}', b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000],
)
def test_malformed_json_is_a_body_error(body: bytes) -> None:
    assert field_of(body) == "body"


def test_nan_and_infinity_literals_are_read_as_python_json_writes_them() -> None:
    body = json.dumps({"instances": [[float("nan"), float("inf"), 1]]}).encode()
    assert b"NaN" in body
    row = parse_invocation(body, JSON).table.rows[0]
    assert math.isnan(row[0]) and row[1] == math.inf and row[2] == 1


def test_utf8_values_survive() -> None:
    body = json.dumps({"instances": [{"city": "Tromsø 🌊"}]}, ensure_ascii=False).encode()
    assert parse_invocation(body, JSON).table.rows == [["Tromsø 🌊"]]


# params and output


def test_params_are_passed_without_output() -> None:
    got = parse({"instances": [[1]], "params": {"output": "proba", "threshold": 0.3}})
    assert (got.output, got.params) == ("proba", {"threshold": 0.3})


def test_query_output_selects_probabilities() -> None:
    assert parse({"instances": [[1]]}, output="proba").output == "proba"
    assert parse({"instances": [[1]], "params": None}, output="predict").output == "predict"


def test_query_and_params_output_must_agree() -> None:
    agreed = parse({"instances": [[1]], "params": {"output": "proba"}}, output="proba")
    assert agreed.output == "proba"
    with pytest.raises(InvalidInputError) as caught:
        parse({"instances": [[1]], "params": {"output": "proba"}}, output="predict")
    assert caught.value.field == "output"


@pytest.mark.parametrize(
    ("params", "query", "field"),
    [
        ({"output": "probabilities"}, None, "params.output"),
        ({"output": ["proba"]}, None, "params.output"),
        ({}, "labels", "output"),
        ("proba", None, "params"),
        ([1], None, "params"),
    ],
)
def test_bad_output_or_params(params: Any, query: str | None, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse({"instances": [[1]], "params": params}, output=query)
    assert caught.value.field == field


# content types


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_json_content_types_accepted(content_type: str) -> None:
    body = b'{"instances": [[1]]}'
    assert parse_invocation(body, content_type).table.rows == [[1]]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
        "text/csv; charset=utf-16",
    ],
)
def test_other_content_types_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        parse_invocation(b'{"instances": [[1]]}', content_type)
    assert caught.value.field == "content-type"


def test_empty_body_is_an_error_for_every_type() -> None:
    for content_type in (JSON, "text/csv", "application/x-parquet"):
        assert field_of(b"", content_type) == "body"


# CSV


def test_csv_keeps_its_frame_and_gives_rows_with_nulls() -> None:
    body = b"age,income,city\n31,1.5,Oslo\n45,,Rome\n"
    got = parse_invocation(body, "text/csv; charset=utf-8", output="proba")
    assert got.table.columns == ("age", "income", "city")
    assert got.table.rows == [[31, 1.5, "Oslo"], [45, None, "Rome"]]
    assert got.table.frame is not None
    assert got.table.frame["age"].dtype == np.int64
    assert (got.output, got.params) == ("proba", {})


@pytest.mark.parametrize(
    "body",
    [
        b"a,b\n1,2\n3,4,5,6\n",
        b"a,b\n",
        b"\n\n",
        b"a,b\n\xff\xfe,1\n",
        b'a,b\n"unterminated,1\n',
    ],
)
def test_bad_csv_is_a_body_error(body: bytes) -> None:
    assert field_of(body, "text/csv") == "body"


def test_random_bytes_as_csv_never_escape_as_bare_exceptions() -> None:
    rng = random.Random(5)
    for _ in range(40):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        try:
            parse_invocation(body, "text/csv")
        except InvalidInputError:
            continue


# Parquet


@pytest.mark.parametrize(
    "content_type",
    ["application/vnd.apache.parquet", "application/x-parquet", "application/parquet"],
)
def test_parquet_round_trip(content_type: str) -> None:
    table = pa.table(
        {"age": pa.array([31, None], pa.int32()), "city": ["Oslo", "Rome"], "x": [0.5, 1.5]}
    )
    got = parse_invocation(parquet_bytes(table), content_type)
    assert got.table.columns == ("age", "city", "x")
    assert got.table.rows == [[31, "Oslo", 0.5], [None, "Rome", 1.5]]
    assert got.table.frame is not None and len(got.table.frame) == 2


def test_parquet_nested_column_is_refused_by_name() -> None:
    table = pa.table({"a": [1], "tags": pa.array([["x", "y"]])})
    assert field_of(parquet_bytes(table), "application/x-parquet") == "tags"


def test_parquet_without_rows_is_refused() -> None:
    table = pa.table({"a": pa.array([], pa.int64())})
    assert field_of(parquet_bytes(table), "application/x-parquet") == "body"


def test_parquet_that_decodes_past_the_limit_is_refused_before_reading() -> None:
    # Run-length encoding makes millions of zeros a few kilobytes on the wire.
    zeros = pa.table({"z": pa.array(np.zeros(PARQUET_MAX_CELLS + 1, dtype=np.int8))})
    body = parquet_bytes(zeros)
    assert len(body) < 100_000
    with pytest.raises(InvalidInputError, match="modelkeep predict") as caught:
        parse_invocation(body, "application/x-parquet")
    assert caught.value.field == "body"


def test_corrupt_parquet_bodies_are_invalid_input() -> None:
    valid = parquet_bytes(pa.table({"a": list(range(50)), "s": [f"v{i}" for i in range(50)]}))
    bodies = [b"PAR1", b"PAR1garbagePAR1", b"not parquet at all", valid[:-10], valid[10:]]
    for body in bodies:
        assert field_of(body, "application/x-parquet") == "body"


def test_mutated_parquet_never_escapes_as_a_bare_exception() -> None:
    valid = parquet_bytes(pa.table({"a": list(range(50)), "s": [f"v{i}" for i in range(50)]}))
    rng = random.Random(7)
    for _ in range(60):
        body = bytearray(valid)
        for _ in range(rng.randrange(1, 6)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        try:
            parse_invocation(bytes(body), "application/vnd.apache.parquet")
        except InvalidInputError as exc:
            assert exc.field is not None


# encode_predictions


def test_encode_labels_values_and_probabilities() -> None:
    assert encode_predictions(np.array([1, 0])) == b'{"predictions":[1,0]}'
    assert encode_predictions(np.array(["yes", "no"], dtype=object)) == (
        b'{"predictions":["yes","no"]}'
    )
    assert encode_predictions(np.array([[0.25, 0.75]])) == b'{"predictions":[[0.25,0.75]]}'
    assert encode_predictions(np.array([True])) == b'{"predictions":[true]}'


def test_encode_nan_and_infinity_become_null() -> None:
    body = encode_predictions(np.array([np.nan, np.inf, 1.0]))
    assert json.loads(body) == {"predictions": [None, None, 1.0]}


def test_encode_numpy_scalars_and_float32() -> None:
    assert json.loads(encode_predictions(np.int64(3))) == {"predictions": 3}
    assert json.loads(encode_predictions(np.array([0.1], dtype=np.float32))) == {
        "predictions": [pytest.approx(0.1)]
    }
    assert json.loads(encode_predictions([np.float32(0.5), np.bool_(True)])) == {
        "predictions": [0.5, True]
    }


def test_encode_pandas_and_odd_arrays() -> None:
    assert json.loads(encode_predictions(pd.Series([1, 2]))) == {"predictions": [1, 2]}
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    assert json.loads(encode_predictions(frame)) == {"predictions": [{"a": 1, "b": "x"}]}
    big_endian = np.array([1.5, 2.5], dtype=">f8")
    assert json.loads(encode_predictions(big_endian)) == {"predictions": [1.5, 2.5]}
    strings = np.array(["a", "b"])
    assert json.loads(encode_predictions(strings)) == {"predictions": ["a", "b"]}
    stamps = np.array([pd.Timestamp("2026-01-02T03:04:05"), pd.NaT, None], dtype=object)
    assert json.loads(encode_predictions(stamps)) == {
        "predictions": ["2026-01-02T03:04:05", None, None]
    }


def test_encode_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ModelkeepError) as caught:
        encode_predictions(np.array([object()], dtype=object))
    assert caught.value.field == "predictions"
    assert not isinstance(caught.value, InvalidInputError)
