"""Model signatures: inference from every input kind, serialisation, validation and casts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from modelkeep.exceptions import InputSchemaError, InvalidInputError
from modelkeep.registry.signature import (
    ColumnSpec,
    ModelSignature,
    TensorSpec,
    infer_signature,
    validate_input,
)


def _specs(signature: ModelSignature) -> list[tuple[str, str, bool]]:
    return [(c.name, c.dtype, c.nullable) for c in signature.inputs]


def _problems(signature: ModelSignature, data: Any) -> list[str]:
    with pytest.raises(InputSchemaError) as info:
        signature.validate_input(data)
    return info.value.problems


def _sig(*columns: tuple[str, str] | tuple[str, str, bool]) -> ModelSignature:
    return ModelSignature(tuple(ColumnSpec(*column) for column in columns))


# ---- inference ------------------------------------------------------------------------------


def test_infers_pandas_dtypes_and_nullability() -> None:
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2], dtype=np.int32),
            "u": np.array([1, 2], dtype=np.uint8),
            "f": [1.5, 2.5],
            "f32": np.array([1, 2], dtype=np.float32),
            "s": ["a", None],
            "b": [True, False],
            "t": pd.to_datetime(["2020-01-01", "2020-01-02"]).as_unit("ns"),
            "tz": pd.to_datetime(["2020-01-01", None]).tz_localize("UTC").as_unit("ms"),
            "c": pd.Categorical(["x", "y"]),
            "n": pd.array([1, None], dtype="Int64"),
            "o": [{"k": 1}, [2]],
        }
    )
    assert _specs(infer_signature(frame)) == [
        ("i", "int32", False),
        ("u", "uint8", False),
        ("f", "float64", True),
        ("f32", "float32", True),
        ("s", "string", True),
        ("b", "bool", False),
        ("t", "datetime64[ns]", False),
        ("tz", "datetime64[ms, UTC]", True),
        ("c", "category", False),
        ("n", "int64", True),
        ("o", "object", False),
    ]


def test_object_columns_are_named_after_their_elements() -> None:
    frame = pd.DataFrame(
        {
            "s": pd.Series(["a", "b"], dtype=object),
            "b": pd.Series([True, None], dtype=object),
            "i": pd.Series([1, 2], dtype=object),
            "m": pd.Series([1, "a"], dtype=object),
        }
    )
    assert _specs(infer_signature(frame)) == [
        ("s", "string", False),
        ("b", "bool", True),
        ("i", "int64", False),
        ("m", "object", False),
    ]


@pytest.mark.parametrize(
    ("array", "shape"),
    [
        (np.zeros((5, 4), dtype=np.float32), (-1, 4)),
        (np.zeros(5, dtype=np.int64), (-1,)),
        (np.zeros((2, 28, 28), dtype=np.uint8), (-1, 28, 28)),
        (np.zeros((2, 3), dtype=bool), (-1, 3)),
    ],
)
def test_numeric_numpy_array_is_a_tensor(
    array: np.ndarray[Any, Any], shape: tuple[int, ...]
) -> None:
    signature = infer_signature(array)
    assert signature.input_kind == "tensor"
    assert signature.inputs == ()
    assert signature.input_tensor == TensorSpec(
        "bool" if array.dtype == bool else array.dtype.name, shape
    )


def test_structured_array_is_a_dataframe() -> None:
    array = np.array([(1, 2.5), (2, 3.5)], dtype=[("age", "i4"), ("score", "f8")])
    signature = infer_signature(array)
    assert signature.input_kind == "dataframe"
    assert _specs(signature) == [("age", "int32", False), ("score", "float64", True)]


def test_string_numpy_array_is_a_dataframe_with_numbered_columns() -> None:
    signature = infer_signature(np.array([["a", "b"], ["c", "d"]]))
    assert _specs(signature) == [("0", "string", False), ("1", "string", False)]


def test_infers_polars_frame() -> None:
    frame = pl.DataFrame(
        {
            "a": [1, None],
            "s": ["x", "y"],
            "b": [True, None],
            "c": ["u", "v"],
            "t": [datetime(2020, 1, 1), datetime(2021, 1, 1)],
        }
    ).with_columns(pl.col("c").cast(pl.Categorical), pl.col("t").dt.cast_time_unit("ms"))
    assert _specs(infer_signature(frame)) == [
        ("a", "int64", True),
        ("s", "string", False),
        ("b", "bool", True),
        ("c", "category", False),
        ("t", "datetime64[ms]", False),
    ]


@pytest.mark.parametrize("as_batch", [False, True])
def test_infers_pyarrow_table_and_record_batch(as_batch: bool) -> None:
    table = pa.table({"a": pa.array([1, None], pa.int16()), "s": ["x", None], "f": [1.0, 2.0]})
    data: Any = table.to_batches()[0] if as_batch else table
    assert _specs(infer_signature(data)) == [
        ("a", "int16", True),
        ("s", "string", True),
        ("f", "float64", True),
    ]


def test_infers_list_of_dicts_and_dict_of_lists() -> None:
    rows = infer_signature([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    columns = infer_signature({"a": [1, 2], "b": ["x", "y"]})
    assert _specs(rows) == _specs(columns) == [("a", "int64", False), ("b", "string", False)]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (None, []),
        (np.array([0.1, 0.2]), [("prediction", "float64", True)]),
        (np.array([[1, 2], [3, 4]]), [("0", "int64", False), ("1", "int64", False)]),
        (pd.Series([1, 0], name="label"), [("label", "int64", False)]),
        (pd.Series(["a", None]), [("prediction", "string", True)]),
        (pd.DataFrame({"p": [0.5], "q": [1]}), [("p", "float64", True), ("q", "int64", False)]),
        ([1, 0, 1], [("prediction", "int64", False)]),
    ],
)
def test_infers_output_schema(output: Any, expected: list[tuple[str, str, bool]]) -> None:
    signature = infer_signature(pd.DataFrame({"x": [1]}), output)
    assert [(c.name, c.dtype, c.nullable) for c in signature.outputs] == expected


def test_inference_refuses_what_it_cannot_describe() -> None:
    with pytest.raises(InvalidInputError) as missing:
        infer_signature(None)
    assert missing.value.field == "input_example"
    with pytest.raises(InvalidInputError) as duplicate:
        infer_signature(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert "duplicate" in str(duplicate.value)
    with pytest.raises(InvalidInputError) as output:
        infer_signature(pd.DataFrame({"x": [1]}), np.zeros((1, 2, 3)))
    assert output.value.field == "output"


# ---- serialisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example",
    [
        pd.DataFrame(
            {
                "a": [1, 2],
                "s": ["x", None],
                "t": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("Europe/Oslo"),
                "c": pd.Categorical(["u", "v"]),
            }
        ),
        np.zeros((3, 8, 8), dtype=np.float32),
    ],
)
def test_to_dict_round_trips_through_json(example: Any) -> None:
    signature = infer_signature(example, np.array([1, 0, 1]))
    data = json.loads(json.dumps(signature.to_dict()))
    assert ModelSignature.from_dict(data) == signature


def test_from_dict_accepts_null_batch_axis() -> None:
    data = {"input_kind": "tensor", "input_tensor": {"dtype": "float32", "shape": [None, 4]}}
    assert ModelSignature.from_dict(data).input_tensor == TensorSpec("float32", (-1, 4))


@pytest.mark.parametrize(
    "data",
    [
        {"inputs": [{"name": "a", "dtype": "decimal"}]},
        {"inputs": [{"name": "a"}]},
        {"inputs": [{"name": 1, "dtype": "int64"}]},
        {"inputs": [{"name": "a", "dtype": "int64", "nullable": "yes"}]},
        {"inputs": [{"name": "a", "dtype": "int64"}, {"name": "a", "dtype": "bool"}]},
        {"inputs": "a"},
        {"input_kind": "graph"},
        {"input_kind": "tensor"},
        {"input_kind": "tensor", "input_tensor": {"dtype": "string", "shape": [-1]}},
        {"input_kind": "tensor", "input_tensor": {"dtype": "float32", "shape": ["x"]}},
        {"inputs": [], "input_tensor": {"dtype": "float32", "shape": [-1]}},
        {"inputs": [{"name": "t", "dtype": "datetime64[D]"}]},
    ],
)
def test_from_dict_refuses_malformed_signatures(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        ModelSignature.from_dict(data)
    assert info.value.field == "signature"


# ---- validation: problems -------------------------------------------------------------------


def test_missing_column_is_a_problem() -> None:
    signature = _sig(("age", "int64"), ("income", "float64", True))
    assert _problems(signature, pd.DataFrame({"age": [1]})) == ["missing column 'income'"]


def test_every_unexpected_column_is_named() -> None:
    problems = _problems(_sig(("a", "int64")), pd.DataFrame({"a": [1], "foo": [2], "bar": [3]}))
    assert problems == ["unexpected column 'foo'", "unexpected column 'bar'"]


def test_duplicate_input_column_is_a_problem() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    assert _problems(_sig(("a", "int64")), frame) == ["duplicate column 'a'"]


@pytest.mark.parametrize(
    ("spec", "values", "problem"),
    [
        (("age", "int64"), ["1", "2"], "expected int64, got string values that cannot be safely"),
        (("x", "float64"), ["1.5"], "expected float64, got string values that cannot be safely"),
        (("x", "int64"), [1.5, 2.0], "expected int64, got float64 values with a fractional part"),
        (("x", "int64"), [np.inf], "expected int64, got float64 infinite values"),
        (("x", "int8"), [1, 300], "expected int8, got int64 values outside the int8 range"),
        (("x", "uint8"), [-1, 2], "expected uint8, got int64 values outside the uint8 range"),
        (("x", "int64"), [2.0**63], "expected int64, got float64 values outside the int64 range"),
        (("x", "float32"), [2**24 + 1], "float32 cannot hold exactly"),
        (("x", "float64"), [2**53 + 1], "float64 cannot hold exactly"),
        (("x", "float32"), [1e300], "values outside the float32 range"),
        (("x", "bool"), [0, 1], "expected bool, got int64 values that cannot be safely cast"),
        (("x", "string"), [1, 2], "expected string, got int64 values that cannot be safely"),
        (("x", "category"), [1, 2], "expected category, got int64 values that cannot be"),
        (("x", "int64"), pd.Series(["a", 1], dtype=object), "expected int64, got object values"),
    ],
)
def test_unsafe_cast_is_a_problem(spec: tuple[str, str], values: Any, problem: str) -> None:
    problems = _problems(_sig(spec), pd.DataFrame({spec[0]: values}))
    assert len(problems) == 1
    assert problems[0].startswith(f"column {spec[0]!r}: ")
    assert problem in problems[0]


def test_datetime_strings_are_not_parsed() -> None:
    problems = _problems(_sig(("t", "datetime64[ns]")), pd.DataFrame({"t": ["2020-01-01"]}))
    assert problems == [
        "column 't': expected datetime64[ns], got string values (datetime strings are not "
        "parsed: convert with pandas.to_datetime)"
    ]


def test_datetime_time_zone_and_precision_must_fit() -> None:
    signature = _sig(("t", "datetime64[s, UTC]"))
    naive = pd.DataFrame({"t": pd.to_datetime(["2020-01-01"])})
    assert "values in another time zone" in _problems(signature, naive)[0]
    fine = pd.DataFrame({"t": pd.to_datetime(["2020-01-01 00:00:00.5"]).tz_localize("UTC")})
    assert "finer than s that would be truncated" in _problems(signature, fine)[0]


def test_nulls_in_non_nullable_column_are_a_problem() -> None:
    signature = _sig(("s", "string"), ("i", "int64"), ("f", "float64"))
    frame = pd.DataFrame({"s": ["a", None], "i": [1.0, np.nan], "f": [np.nan, 1.0]})
    assert _problems(signature, frame) == [
        "column 's': 1 null value(s), but the column is not nullable",
        "column 'i': 1 null value(s), but the column is not nullable",
    ]


def test_category_of_numbers_is_not_a_string() -> None:
    frame = pd.DataFrame({"c": pd.Categorical([1, 2])})
    assert "expected string, got category values" in _problems(_sig(("c", "string")), frame)[0]


def test_every_problem_is_reported_at_once() -> None:
    signature = _sig(("age", "int64"), ("income", "float64", True), ("city", "string"))
    frame = pd.DataFrame({"age": ["old"], "city": [None], "foo": [1], "bar": [2]})
    with pytest.raises(InputSchemaError) as info:
        signature.validate_input(frame)
    assert info.value.problems == [
        "column 'age': expected int64, got string values that cannot be safely cast",
        "missing column 'income'",
        "column 'city': 1 null value(s), but the column is not nullable",
        "unexpected column 'foo'",
        "unexpected column 'bar'",
    ]
    assert all(problem in str(info.value) for problem in info.value.problems)
    assert info.value.field == "input"


# ---- validation: safe casts -----------------------------------------------------------------


def test_matching_frame_is_reordered_and_keeps_its_index() -> None:
    signature = _sig(("a", "int64"), ("b", "string"))
    frame = pd.DataFrame({"b": ["x", "y"], "a": [1, 2]}, index=[10, 10])
    out = signature.validate_input(frame)
    assert out.columns.tolist() == ["a", "b"]
    assert out.index.tolist() == [10, 10]
    assert out["a"].tolist() == [1, 2]
    assert frame.columns.tolist() == ["b", "a"]


@pytest.mark.parametrize(
    ("target", "values", "expected"),
    [
        ("int64", np.array([1, 2], dtype=np.int32), [1, 2]),
        ("int32", np.array([1, -(2**31)], dtype=np.int64), [1, -(2**31)]),
        ("uint8", np.array([0, 255], dtype=np.int64), [0, 255]),
        ("int64", np.array([True, False]), [1, 0]),
        ("float64", np.array([True, False]), [1.0, 0.0]),
        ("float64", np.array([1, 2**53], dtype=np.int64), [1.0, 2.0**53]),
        ("float32", np.array([3, 2**24], dtype=np.int64), [3.0, 2.0**24]),
        ("float64", np.array([0.1], dtype=np.float32), [float(np.float32(0.1))]),
        ("float32", np.array([0.1, np.nan]), [float(np.float32(0.1)), np.nan]),
        ("int64", np.array([1.0, -3.0]), [1, -3]),
        ("int64", pd.array([1, 2], dtype="Int64"), [1, 2]),
        ("int64", pd.Series([1, 2], dtype=object), [1, 2]),
        ("float64", pd.Series([1, 2.5, None], dtype=object), [1.0, 2.5, np.nan]),
        ("int64", pd.Categorical([3, 4]), [3, 4]),
    ],
)
def test_safe_number_casts_convert(target: str, values: Any, expected: list[Any]) -> None:
    out = _sig(("x", target, True)).validate_input(pd.DataFrame({"x": values}))
    assert out["x"].dtype == np.dtype(target)
    np.testing.assert_array_equal(out["x"].to_numpy(), np.array(expected, dtype=target))


def test_nullable_int_receiving_nan_becomes_masked() -> None:
    out = _sig(("n", "int64", True)).validate_input(pd.DataFrame({"n": [1.0, np.nan]}))
    assert str(out["n"].dtype) == "Int64"
    assert out["n"].tolist()[0] == 1 and out["n"].isna().tolist() == [False, True]


def test_string_and_category_convert_both_ways() -> None:
    signature = _sig(("c", "category"), ("s", "string"), ("o", "string", True))
    frame = pd.DataFrame(
        {
            "c": ["u", "v"],
            "s": pd.Categorical(["x", "y"]),
            "o": pd.Series(["p", None], dtype=object),
        }
    )
    out = signature.validate_input(frame)
    assert isinstance(out["c"].dtype, pd.CategoricalDtype)
    assert isinstance(out["s"].dtype, pd.StringDtype) and out["s"].tolist() == ["x", "y"]
    assert isinstance(out["o"].dtype, pd.StringDtype) and out["o"].isna().tolist() == [False, True]


def test_datetime_unit_changes_that_lose_nothing_convert() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2020-01-01 00:00:01"]).as_unit("ns")})
    out = _sig(("t", "datetime64[s]")).validate_input(frame)
    assert out["t"].dtype == np.dtype("datetime64[s]")
    assert out["t"].iloc[0] == pd.Timestamp("2020-01-01 00:00:01")


def test_object_spec_accepts_anything() -> None:
    frame = pd.DataFrame({"o": [{"a": 1}, 2.5]})
    out = _sig(("o", "object")).validate_input(frame)
    assert out["o"].tolist() == [{"a": 1}, 2.5]


def test_validates_polars_pyarrow_and_records() -> None:
    signature = infer_signature(pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}))
    for data in (
        pl.DataFrame({"s": ["z"], "a": [3]}),
        pa.table({"s": ["z"], "a": pa.array([3], pa.int32())}),
        [{"s": "z", "a": 3}],
    ):
        out = validate_input(signature, data)
        assert out.columns.tolist() == ["a", "s"] and out["a"].dtype == np.int64
        assert out.to_dict("list") == {"a": [3], "s": ["z"]}


def test_plain_array_takes_the_signature_columns_in_order() -> None:
    signature = _sig(("age", "int64"), ("income", "float64", True))
    out = signature.validate_input(np.array([[30, 1.5], [40, 2.0]]))
    assert out.columns.tolist() == ["age", "income"]
    assert out["age"].dtype == np.int64 and out["age"].tolist() == [30, 40]
    assert _problems(signature, np.zeros((1, 3))) == [
        "expected 2 columns ('age', 'income'), got an array of 3"
    ]


def test_lists_become_tuples() -> None:
    columns: Any = [ColumnSpec("a", "int64")]
    signature = ModelSignature(columns, [])
    assert signature.inputs == (ColumnSpec("a", "int64"),) and signature.outputs == ()
    shape: Any = [-1, 2]
    assert TensorSpec("float32", shape).shape == (-1, 2)
    assert hash(signature) == hash(ModelSignature((ColumnSpec("a", "int64"),)))


# ---- validation: tensors --------------------------------------------------------------------


def test_tensor_input_is_cast_to_the_signature_dtype() -> None:
    signature = infer_signature(np.zeros((2, 3), dtype=np.float32))
    for data in ([[1, 2, 3]], np.array([[1.5, 2, 3]]), pd.DataFrame([[1, 2, 3]])):
        out = signature.validate_input(data)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (1, 3)


def test_tensor_problems_are_reported_together() -> None:
    signature = infer_signature(np.zeros((2, 3), dtype=np.int64))
    assert _problems(signature, np.array([[1.5, 2.0]])) == [
        "expected an array of shape (-1, 3), got shape (1, 2)",
        "expected int64, got float64 values with a fractional part",
    ]
    assert _problems(signature, np.array([[np.nan, 1, 2]])) == [
        "expected int64, got float64 NaN values"
    ]
    assert _problems(signature, [["a", "b", "c"]]) == [
        "expected int64, got object values that cannot be safely cast"
    ]
    assert _problems(signature, np.zeros(3)) == [
        "expected an array of shape (-1, 3), got shape (3,)"
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_a_column_of_json_nulls_fits_a_nullable_number_column(dtype: str) -> None:
    signature = ModelSignature((ColumnSpec("a", dtype, nullable=True), ColumnSpec("b", "int64")))
    frame = pd.DataFrame({"a": [None, None], "b": [1, 2]})  # as a JSON request arrives

    converted = signature.validate_input(frame)

    assert converted["a"].isna().all() and len(converted) == 2
    if dtype.startswith("float"):
        assert converted["a"].dtype == np.dtype(dtype)


def test_a_column_of_json_nulls_is_refused_where_nulls_are_not_allowed() -> None:
    signature = ModelSignature((ColumnSpec("a", "int64"),))

    with pytest.raises(InputSchemaError, match="null"):
        signature.validate_input(pd.DataFrame({"a": [None]}))
