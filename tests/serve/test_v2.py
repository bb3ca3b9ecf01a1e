"""Open Inference Protocol v2 requests and answers, built the way tritonclient builds them."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelkeep
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.signature import infer_signature
from modelkeep.serve.v2 import (
    V2_SERVER_METADATA,
    parse_v2_request,
    v2_error,
    v2_metadata,
    v2_response,
)

# The v2 datatype tritonclient's np_to_triton_dtype gives each numpy dtype.
TRITON_TYPES = {
    np.dtype(bool): "BOOL",
    **{np.dtype(f"int{b}"): f"INT{b}" for b in (8, 16, 32, 64)},
    **{np.dtype(f"uint{b}"): f"UINT{b}" for b in (8, 16, 32, 64)},
    np.dtype("float16"): "FP16",
    np.dtype("float32"): "FP32",
    np.dtype("float64"): "FP64",
    np.dtype(object): "BYTES",
}


class InferInput:
    """What ``tritonclient.http.InferInput(name, shape, datatype).set_data_from_numpy(array,
    binary_data=...)`` serialises: JSON ``data`` flattened with ``.item()``/``str``, or
    ``parameters.binary_data_size`` plus raw little-endian bytes (BYTES elements each a
    4-byte length and their UTF-8 bytes)."""

    def __init__(self, name: str, array: np.ndarray[Any, Any], *, binary: bool = False) -> None:
        self.tensor: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": TRITON_TYPES[array.dtype],
        }
        self.raw: bytes | None = None
        flat = array.flatten()
        if not binary:
            if array.dtype == object:
                self.tensor["data"] = [str(value) for value in flat]
            else:
                self.tensor["data"] = [value.item() for value in flat]
        else:
            if array.dtype == object:
                encoded = [str(value).encode() for value in flat]
                self.raw = b"".join(struct.pack("<I", len(e)) + e for e in encoded)
            else:
                self.raw = array.tobytes()
            self.tensor["parameters"] = {"binary_data_size": len(self.raw)}


def triton_request(
    inputs: list[InferInput], outputs: list[str] | None = None, request_id: str = ""
) -> tuple[bytes, int | None]:
    """The body and Inference-Header-Content-Length tritonclient's ``infer`` sends."""
    request: dict[str, Any] = {}
    if request_id:
        request["id"] = request_id
    request["inputs"] = [item.tensor for item in inputs]
    if outputs:
        request["outputs"] = [{"name": n, "parameters": {"binary_data": False}} for n in outputs]
    else:
        request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request, separators=(",", ":")).encode()
    raw = [item.raw for item in inputs if item.raw is not None]
    return (header + b"".join(raw), len(header)) if raw else (header, None)


def as_numpy(answer: bytes, name: str) -> np.ndarray[Any, Any]:
    """How tritonclient's InferResult.as_numpy reads a JSON output tensor."""
    for output in json.loads(answer)["outputs"]:
        if output["name"] == name:
            dtype = {v: k for k, v in TRITON_TYPES.items()}[output["datatype"]]
            return np.array(output["data"], dtype=dtype).reshape(output["shape"])
    raise AssertionError(f"no output {name}")


def field_of(document: Any, signature: Any = None) -> str | None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(InvalidInputError) as caught:
        parse_v2_request(body, signature)
    return caught.value.field


def tensor(name: str, shape: list[int], datatype: str, data: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


COLUMNS = {
    "age": np.array([31, 45], dtype=np.int64),
    "small": np.array([-128, 127], dtype=np.int8),
    "count": np.array([0, 2**32 - 1], dtype=np.uint32),
    "big": np.array([0, 2**64 - 1], dtype=np.uint64),
    "half": np.array([0.5, -1.25], dtype=np.float16),
    "income": np.array([[1.5], [2.25]], dtype=np.float32),
    "score": np.array([0.1, 1e300], dtype=np.float64),
    "member": np.array([True, False]),
    "city": np.array(["Oslo", "Tromsø 🌊"], dtype=object),
}


@pytest.mark.parametrize("binary", [False, True])
def test_one_tensor_per_column_round_trips_every_datatype(binary: bool) -> None:
    inputs = [InferInput(name, array, binary=binary) for name, array in COLUMNS.items()]
    body, header = triton_request(inputs, request_id="r-1")
    got = parse_v2_request(body, None, header_length=header)
    assert got.id == "r-1"
    assert got.table.columns == tuple(COLUMNS)
    expected = [[array.ravel().tolist()[i] for array in COLUMNS.values()] for i in range(2)]
    assert got.table.rows == expected
    assert got.table.frame is None
    assert (got.output, got.requested) == ("predict", ())
    assert got.parameters == {"binary_data_output": True}


@pytest.mark.parametrize("binary", [False, True])
def test_one_2d_tensor_is_positional(binary: bool) -> None:
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    body, header = triton_request([InferInput("input__0", matrix, binary=binary)])
    got = parse_v2_request(body, None, header_length=header)
    assert got.table.columns is None
    assert got.table.rows == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_nested_data_is_read_like_flat_data() -> None:
    nested = {"inputs": [tensor("x", [2, 2], "INT32", [[1, 2], [3, 4]])]}
    flat = {"inputs": [tensor("x", [2, 2], "INT32", [1, 2, 3, 4])]}
    for document in (nested, flat):
        assert parse_v2_request(json.dumps(document).encode(), None).table.rows == [
            [1, 2],
            [3, 4],
        ]


def test_single_column_tensor_named_after_a_signature_column_is_that_column() -> None:
    signature = infer_signature(pd.DataFrame({"age": [31]}))
    document = {"inputs": [tensor("age", [2, 1], "INT64", [31, 45])]}
    named = parse_v2_request(json.dumps(document).encode(), signature).table
    assert (named.columns, named.rows) == (("age",), [[31], [45]])
    positional = parse_v2_request(json.dumps(document).encode(), None).table
    assert (positional.columns, positional.rows) == (None, [[31], [45]])


def test_parsed_columns_fit_a_real_signature() -> None:
    example = pd.DataFrame({"age": [31], "income": np.array([1.5], dtype=np.float32)})
    signature = infer_signature(example)
    inputs = [
        InferInput("income", np.array([2.5, 3.5], dtype=np.float32)),
        InferInput("age", np.array([40, 50], dtype=np.int64)),
    ]
    table = parse_v2_request(triton_request(inputs)[0], signature).table
    frame = pd.DataFrame(table.rows, columns=list(table.names_for(signature) or ()))
    checked = signature.validate_input(frame)
    assert checked.columns.tolist() == ["age", "income"]
    assert checked["income"].dtype == np.float32
    assert checked["age"].tolist() == [40, 50]


def test_outputs_and_parameters_select_probabilities() -> None:
    base = [InferInput("a", np.array([1.0]))]
    body, _ = triton_request(base, outputs=["proba"])
    assert parse_v2_request(body, None).output == "proba"
    body, _ = triton_request(base, outputs=["predict", "proba"])
    both = parse_v2_request(body, None)
    assert (both.output, both.requested) == ("proba", ("predict", "proba"))
    document = {"inputs": [base[0].tensor], "parameters": {"output": "proba", "trace": 1}}
    by_parameter = parse_v2_request(json.dumps(document).encode(), None)
    assert (by_parameter.output, by_parameter.parameters) == ("proba", {"trace": 1})


def test_nan_literals_and_nulls_are_accepted_for_floats() -> None:
    body = b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [NaN, null, 1]}]}'
    rows = parse_v2_request(body, None).table.rows
    assert math.isnan(rows[0][0]) and rows[1:] == [[None], [1]]


A = tensor("a", [2], "FP64", [1.0, 2.0])


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([A], "body"),
        ({}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"inputs": A}, "inputs"),
        ({"inputs": [[1.0]]}, "inputs[0]"),
        ({"inputs": [{**A, "name": ""}]}, "inputs[0].name"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "inputs[0].name"),
        ({"inputs": [{**A, "datatype": "BF16"}]}, "inputs[0].datatype"),
        ({"inputs": [{**A, "datatype": "fp64"}]}, "inputs[0].datatype"),
        ({"inputs": [{**A, "shape": "2"}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": []}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [1, 2, 1]}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [0]}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [2, 0]}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [2.0]}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [True]}]}, "inputs[0].shape"),
        ({"inputs": [{**A, "shape": [-2]}]}, "inputs[0].shape"),
        ({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64"}]}, "inputs[0].data"),
        ({"inputs": [{**A, "data": 1.0}]}, "inputs[0].data"),
        ({"inputs": [{**A, "data": [1.0]}]}, "inputs[0].data"),
        ({"inputs": [{**A, "data": [[1.0], [2.0]]}]}, "inputs[0].data[0]"),
        ({"inputs": [tensor("m", [2, 2], "FP64", [[1, 2], [3]])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("m", [2, 2], "FP64", [[1, 2]])]}, "inputs[0].data"),
        ({"inputs": [tensor("m", [2, 2], "FP64", [[1, 2], [3, "x"]])]}, "inputs[0].data[1][1]"),
        ({"inputs": [tensor("a", [2], "FP32", [1.0, "2"])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "FP32", [True, 1.0])]}, "inputs[0].data[0]"),
        ({"inputs": [tensor("a", [2], "INT64", [1, 2.5])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "INT64", [1, False])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "INT64", [1, 2**63])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [3], "UINT8", [0, 256, 1])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "UINT8", [None, -1])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "BOOL", [True, 1])]}, "inputs[0].data[1]"),
        ({"inputs": [tensor("a", [2], "BYTES", ["x", 5])]}, "inputs[0].data[1]"),
        ({"inputs": [A, tensor("m", [2, 2], "FP64", [1, 2, 3, 4])]}, "inputs[1].shape"),
        ({"inputs": [A, tensor("b", [3], "FP64", [1, 2, 3])]}, "inputs[1].shape"),
        ({"inputs": [A, A]}, "inputs[1].name"),
        ({"inputs": [{**A, "parameters": "binary"}]}, "inputs[0].parameters"),
        (
            {"inputs": [{**A, "parameters": {"shared_memory_region": "r"}}]},
            "inputs[0].parameters",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [1],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            },
            "inputs[0].parameters",
        ),
        (
            {"inputs": [{**A, "parameters": {"binary_data_size": -1}}]},
            "inputs[0].parameters.binary_data_size",
        ),
        ({"inputs": [A], "outputs": [{"name": "output0"}]}, "outputs[0].name"),
        ({"inputs": [A], "outputs": [{"name": "proba"}, {"name": "proba"}]}, "outputs[1].name"),
        ({"inputs": [A], "outputs": ["proba"]}, "outputs[0].name"),
        ({"inputs": [A], "outputs": {"name": "proba"}}, "outputs"),
        ({"inputs": [A], "parameters": {"output": "labels"}}, "parameters.output"),
        (
            {"inputs": [A], "parameters": {"output": "predict"}, "outputs": [{"name": "proba"}]},
            "parameters.output",
        ),
        ({"inputs": [A], "parameters": ["output"]}, "parameters"),
        ({"inputs": [A], "id": 42}, "id"),
    ],
)
def test_request_errors_name_the_field(document: Any, field: str) -> None:
    assert field_of(document) == field


@pytest.mark.parametrize("body", [b"", b"{", b'{"inputs": [}', b"\xff"])
def test_malformed_bodies(body: bytes) -> None:
    assert field_of(body) == "body"


def test_value_error_message_shows_the_value_and_datatype() -> None:
    with pytest.raises(InvalidInputError, match=r"256 is not a UINT8 value"):
        parse_v2_request(json.dumps({"inputs": [tensor("a", [1], "UINT8", [256])]}).encode(), None)


# binary tensor data


def binary_body(*arrays: np.ndarray[Any, Any]) -> tuple[bytes, int | None]:
    inputs = [InferInput(f"c{i}", array, binary=True) for i, array in enumerate(arrays)]
    return triton_request(inputs)


def test_binary_size_that_does_not_fit_the_shape_is_refused() -> None:
    body, header = binary_body(np.array([1.5, 2.5]))
    document = json.loads(body[:header])
    document["inputs"][0]["shape"] = [3]
    header_bytes = json.dumps(document).encode()
    with pytest.raises(InvalidInputError) as caught:
        parse_v2_request(header_bytes + body[header:], None, header_length=len(header_bytes))
    assert caught.value.field == "inputs[0].parameters.binary_data_size"


def test_binary_data_past_the_end_or_left_over_is_refused() -> None:
    body, header = binary_body(np.array([1.5, 2.5]))
    assert header is not None
    with pytest.raises(InvalidInputError) as short:
        parse_v2_request(body[:-1], None, header_length=header)
    assert short.value.field == "inputs[0].parameters.binary_data_size"
    with pytest.raises(InvalidInputError) as extra:
        parse_v2_request(body + b"\0", None, header_length=header)
    assert extra.value.field == "body"


@pytest.mark.parametrize("header", ["-1", "0", "abc", "1e3", "²", "99999"])
def test_bad_header_length(header: str) -> None:
    body, _ = binary_body(np.array([1.5]))
    with pytest.raises(InvalidInputError) as caught:
        parse_v2_request(body, None, header_length=header)
    assert caught.value.field == "Inference-Header-Content-Length"


def test_header_length_as_sent_in_the_http_header_string() -> None:
    body, header = binary_body(np.array([7], dtype=np.int16))
    assert parse_v2_request(body, None, header_length=str(header)).table.rows == [[7]]


@pytest.mark.parametrize(
    "raw",
    [
        struct.pack("<I", 2) + b"\xff\xfe",  # not UTF-8
        struct.pack("<I", 9) + b"abc",  # cut short
        b"\x01\x00",  # length cut short
        struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b",  # two elements, shape 1
    ],
)
def test_bad_binary_bytes_elements(raw: bytes) -> None:
    document = {
        "inputs": [
            {
                "name": "s",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    header = json.dumps(document).encode()
    with pytest.raises(InvalidInputError) as caught:
        parse_v2_request(header + raw, None, header_length=len(header))
    assert caught.value.field == "inputs[0].data"


def test_binary_bool_bytes_other_than_one_are_true() -> None:
    document = {
        "inputs": [
            {"name": "b", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}}
        ]
    }
    header = json.dumps(document).encode()
    got = parse_v2_request(header + b"\x00\x01\x07", None, header_length=len(header))
    assert got.table.rows == [[False], [True], [True]]


# answers


def test_response_shapes_datatypes_and_id() -> None:
    labels = np.array([1, 0])
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    answer = v2_response("churn", "3", "r-9", {"predict": labels, "proba": proba})
    document = json.loads(answer)
    assert (document["model_name"], document["model_version"], document["id"]) == (
        "churn",
        "3",
        "r-9",
    )
    outputs = {output["name"]: output for output in document["outputs"]}
    assert outputs["predict"] == {
        "name": "predict",
        "shape": [2],
        "datatype": "INT64",
        "data": [1, 0],
    }
    assert outputs["proba"]["shape"] == [2, 2] and outputs["proba"]["datatype"] == "FP64"
    assert outputs["proba"]["data"] == [0.25, 0.75, 0.5, 0.5]
    np.testing.assert_array_equal(as_numpy(answer, "proba"), proba)
    assert "id" not in json.loads(v2_response("churn", "3", None, {"predict": labels}))


@pytest.mark.parametrize(
    ("values", "datatype", "data"),
    [
        (np.array([True, False]), "BOOL", [True, False]),
        (np.array([1.5], dtype=np.float32), "FP32", [1.5]),
        (np.array([0.5], dtype=np.float16), "FP16", [0.5]),
        (np.array([3], dtype=np.uint8), "UINT8", [3]),
        (np.array(["yes", "no"], dtype=object), "BYTES", ["yes", "no"]),
        (np.array(["yes", "no"]), "BYTES", ["yes", "no"]),
        (np.array([b"a", b"\xff"], dtype=object), "BYTES", ["a", "\ufffd"]),
        (np.array([np.int64(2), 3], dtype=object), "INT64", [2, 3]),
        (np.array([1, 2.5], dtype=object), "FP64", [1.0, 2.5]),
        (np.array([True, np.bool_(False)], dtype=object), "BOOL", [True, False]),
        (np.array([np.nan, np.inf]), "FP64", [None, None]),
        (np.array(["2026-01-01"], dtype="datetime64[D]"), "BYTES", ["2026-01-01"]),
        ([1, 2], "INT64", [1, 2]),
    ],
)
def test_response_datatypes(values: Any, datatype: str, data: list[Any]) -> None:
    output = json.loads(v2_response("m", "1", None, {"predict": values}))["outputs"][0]
    assert (output["datatype"], output["data"]) == (datatype, data)


def test_labels_round_trip_through_a_tritonclient_style_reader() -> None:
    for labels in (np.array([0, 1, 1]), np.array(["a", "b"], dtype=object)):
        answer = v2_response("m", "1", None, {"predict": labels})
        np.testing.assert_array_equal(as_numpy(answer, "predict"), labels)


def test_metadata_from_a_column_signature() -> None:
    example = pd.DataFrame({"age": [31], "income": np.array([1.5], np.float32), "city": ["x"]})
    signature = infer_signature(example, np.array([1]))
    meta = v2_metadata("churn", ["3", "4"], "modelkeep_sklearn", signature, True)
    assert meta["name"] == "churn" and meta["versions"] == ["3", "4"]
    assert meta["platform"] == "modelkeep_sklearn"
    assert meta["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "income", "datatype": "FP32", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1]},
    ]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "proba", "datatype": "FP64", "shape": [-1, -1]},
    ]


def test_metadata_from_a_tensor_signature_and_without_one() -> None:
    signature = infer_signature(np.zeros((2, 4), dtype=np.float32))
    meta = v2_metadata("digits", ["1"], "modelkeep_onnx", signature, False)
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [output["name"] for output in meta["outputs"]] == ["predict"]
    bare = v2_metadata("x", [], "modelkeep_python", None, False)
    assert bare["inputs"] == [] and bare["outputs"][0]["name"] == "predict"


def test_error_body_and_server_metadata() -> None:
    assert json.loads(v2_error("bad shape", "inputs[0].shape")) == {
        "error": "bad shape",
        "field": "inputs[0].shape",
    }
    assert json.loads(v2_error("not found")) == {"error": "not found"}
    assert V2_SERVER_METADATA == {
        "name": "modelkeep",
        "version": modelkeep.__version__,
        "extensions": ["binary_tensor_data"],
    }
