"""The Open Inference Protocol v2 (KServe v2, Triton's HTTP API): requests and answers.

A request's ``inputs`` are either one tensor per column (``name`` = column, shape ``[n]`` or
``[n, 1]``) or a single 2-D tensor ``[n, k]`` whose columns are positional (the signature's
order). Datatypes are BOOL, INT8..INT64, UINT8..UINT64, FP16/FP32/FP64 and BYTES (strings);
``data`` is flat (row-major) or nested. Triton's binary tensor extension is read too: an
input with ``parameters.binary_data_size`` takes its values from the bytes after the JSON
header, whose length the ``Inference-Header-Content-Length`` header gives. That is what
``tritonclient``'s ``InferInput.set_data_from_numpy`` sends by default; answers are always
JSON, which ``tritonclient`` reads whether or not it asked for binary outputs.

The model's outputs are named ``predict`` (labels or values) and ``proba`` (class
probabilities); a request picks them with ``outputs`` or ``parameters.output = "proba"``.

>>> body = b'{"inputs": [{"name": "age", "shape": [1], "datatype": "INT64", "data": [31]}]}'
>>> parse_v2_request(body, None).table
Table(columns=('age',), rows=[[31]], frame=None)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import orjson

from modelkeep import __version__
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.signature import ModelSignature
from modelkeep.serve.payloads import OUTPUT_KINDS, load_json_body
from modelkeep.serve.table import Table

__all__ = [
    "V2_DATATYPES",
    "V2_SERVER_METADATA",
    "V2Request",
    "parse_v2_request",
    "v2_error",
    "v2_metadata",
    "v2_response",
]

V2_DATATYPES = {
    "BOOL": "bool",
    **{f"{u}INT{bits}": f"{u.lower()}int{bits}" for u in ("", "U") for bits in (8, 16, 32, 64)},
    **{f"FP{bits}": f"float{bits}" for bits in (16, 32, 64)},
    "BYTES": "string",
}
"""v2 datatype -> the signature dtype it carries."""

_V2_BY_DTYPE = {dtype: name for name, dtype in V2_DATATYPES.items() if name != "BYTES"}
_INT_RANGES = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in V2_DATATYPES.items()
    if "INT" in name
}
_NONE = type(None)
_INT = {int}
_ALLOWED_TYPES = {
    **dict.fromkeys(_INT_RANGES, frozenset({int, _NONE})),
    "BOOL": frozenset({bool, _NONE}),
    "BYTES": frozenset({str, _NONE}),
    **dict.fromkeys(("FP16", "FP32", "FP64"), frozenset({int, float, _NONE})),
}
_HEADER = "Inference-Header-Content-Length"


V2_SERVER_METADATA: dict[str, Any] = {
    "name": "modelkeep",
    "version": __version__,
    "extensions": ["binary_tensor_data"],  # Triton's name for binary tensors after the JSON
}
"""The answer to ``GET /v2``."""


@dataclass(frozen=True, slots=True)
class V2Request:
    """One parsed v2 inference request.

    Attributes:
        id: the request's ``id`` (echoed in the answer), or None.
        table: the input rows (columns None for one positional 2-D tensor).
        output: ``"proba"`` when probabilities were asked for, else ``"predict"``.
        requested: the names in ``outputs`` (empty: the default output).
        parameters: the request's ``parameters`` without ``output``.
    """

    id: str | None
    table: Table
    output: str
    requested: tuple[str, ...]
    parameters: dict[str, Any]


@dataclass(slots=True)
class _Tensor:
    name: str
    rows: int
    width: int  # 0 for a 1-D tensor
    values: list[Any]  # flat for 1-D, one list per row for 2-D


def parse_v2_request(
    body: bytes, signature: ModelSignature | None, *, header_length: int | str | None = None
) -> V2Request:
    """Parse a ``POST /v2/models/{name}/infer`` body.

    Args:
        body: the raw request body.
        signature: the served model's signature; a single ``[n, 1]`` tensor named after one
            of its columns is that column, any other single 2-D tensor is positional.
        header_length: the ``Inference-Header-Content-Length`` header, when the client sent
            binary tensor data after the JSON.

    Raises:
        InvalidInputError: malformed JSON, a missing key, or a shape, size or datatype that
            does not fit; ``field`` names it (``"inputs[1].shape"``, ``"outputs[0].name"``).
    """
    document, tail = _split_body(body, header_length)
    if type(document) is not dict:
        _bad("the body must be a JSON object with 'inputs'", "body")
    request_id = document.get("id")
    if request_id is not None and type(request_id) is not str:
        _bad("must be a string", "id")
    if request_id is not None and not _is_text(request_id):
        _bad("must be valid Unicode text", "id")
    parameters = document.get("parameters")
    if parameters is None:
        parameters = {}
    elif type(parameters) is not dict:
        _bad("must be an object", "parameters")
    requested = _requested_outputs(document.get("outputs"))
    output = _choose_output(parameters.pop("output", None), requested)
    tensors = _read_inputs(document.get("inputs"), tail)
    return V2Request(request_id, _table(tensors, signature), output, requested, parameters)


def v2_response(
    model_name: str, model_version: str, request_id: str | None, outputs: Mapping[str, Any]
) -> bytes:
    """The v2 inference answer: one output tensor per entry of ``outputs`` (name -> array).

    >>> v2_response("churn", "3", None, {"predict": np.array([1, 0])})
    b'{"model_name":"churn","model_version":"3","outputs":[{"name":"predict","shape":[2],\
"datatype":"INT64","data":[1,0]}]}'
    """
    tensors = []
    for name, values in outputs.items():
        array = np.asarray(values)
        datatype, data = _tensor_data(array)
        tensors.append(
            {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}
        )
    answer: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"] = tensors
    return orjson.dumps(answer)


def v2_metadata(
    model_name: str,
    versions: Sequence[str],
    platform: str,
    signature: ModelSignature | None,
    has_proba: bool,
) -> dict[str, Any]:
    """The answer to ``GET /v2/models/{name}``: inputs from the signature (one ``[-1]``
    tensor per column, or the model's tensor), outputs ``predict`` and, with probabilities,
    ``proba``. Without a signature the inputs are unknown and listed empty."""
    inputs: list[dict[str, Any]] = []
    predict_type = "BYTES"
    if signature is not None:
        if signature.input_tensor is not None:
            spec = signature.input_tensor
            inputs.append(
                {"name": "input", "datatype": _v2_type(spec.dtype), "shape": list(spec.shape)}
            )
        else:
            inputs = [
                {"name": column.name, "datatype": _v2_type(column.dtype), "shape": [-1]}
                for column in signature.inputs
            ]
        output_types = {_v2_type(column.dtype) for column in signature.outputs}
        if len(output_types) == 1:
            predict_type = output_types.pop()
    outputs = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if has_proba:
        outputs.append({"name": "proba", "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": model_name,
        "versions": list(versions),
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }


def v2_error(message: str, field: str | None = None) -> bytes:
    """The v2 error body ``{"error": message}`` (plus ``field`` when one is to blame)."""
    answer = {"error": message} if field is None else {"error": message, "field": field}
    return orjson.dumps(answer)


def _v2_type(dtype: str) -> str:
    return _V2_BY_DTYPE.get(dtype, "BYTES")


def _split_body(body: bytes, header_length: int | str | None) -> tuple[Any, _BinaryTail | None]:
    if not body:
        _bad("the request body is empty", "body")
    if header_length is None:
        return load_json_body(body), None
    text = str(header_length).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= len(body):
        _bad(f"{text!r} is not a length within the {len(body)}-byte body", _HEADER)
    length = int(text)
    return load_json_body(body[:length]), _BinaryTail(memoryview(body)[length:])


def _requested_outputs(outputs: Any) -> tuple[str, ...]:
    if outputs is None:
        return ()
    if type(outputs) is not list:
        _bad('must be a list of {"name": ...} objects', "outputs")
    names: list[str] = []
    for index, item in enumerate(outputs):
        name = item.get("name") if type(item) is dict else None
        if name not in OUTPUT_KINDS or name in names:
            problem = "is repeated" if name in names else "is not an output of this model"
            _bad(
                f"{name!r} {problem}; outputs are {', '.join(OUTPUT_KINDS)}",
                f"outputs[{index}].name",
            )
        names.append(name)
    return tuple(names)


def _choose_output(parameter: Any, requested: tuple[str, ...]) -> str:
    field = "parameters.output"
    if parameter is not None and parameter not in OUTPUT_KINDS:
        _bad(f"{parameter!r} is not one of {', '.join(OUTPUT_KINDS)}", field)
    if parameter == "predict" and requested and "predict" not in requested:
        _bad(f"'predict' disagrees with the requested outputs {list(requested)}", field)
    return "proba" if parameter == "proba" or "proba" in requested else "predict"


def _read_inputs(inputs: Any, tail: _BinaryTail | None) -> list[_Tensor]:
    if type(inputs) is not list or not inputs:
        _bad("must be a non-empty list of tensors", "inputs")
    tensors = [_read_tensor(item, index, tail) for index, item in enumerate(inputs)]
    if tail is not None and tail.left:
        _bad(f"{tail.left} bytes after the binary tensor data belong to no input", "body")
    return tensors


def _read_tensor(item: Any, index: int, tail: _BinaryTail | None) -> _Tensor:
    if type(item) is not dict:
        _bad("must be an object with name, shape, datatype and data", f"inputs[{index}]")
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if type(name) is not str or not name:
        _bad("must be a non-empty string", f"inputs[{index}].name")
    if datatype not in V2_DATATYPES:
        choices = ", ".join(V2_DATATYPES)
        _bad(f"{datatype!r} is not one of {choices}", f"inputs[{index}].datatype")
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int and shape[0] > 0:
        rows, width = shape[0], 0  # the common case, checked first: one column
    else:
        rows, width = _matrix_shape(shape, f"inputs[{index}].shape")
    parameters = item.get("parameters")
    size = None if parameters is None else _binary_size(parameters, f"inputs[{index}]")
    if size is not None:
        if tail is None:
            _bad(f"binary tensor data needs the {_HEADER} header", f"inputs[{index}].parameters")
        flat = tail.take(size, datatype, rows * max(width, 1), f"inputs[{index}]")
        values = flat if not width else [flat[i : i + width] for i in range(0, len(flat), width)]
    elif "data" not in item:
        _bad("is missing", f"inputs[{index}].data")
    else:
        values = _json_values(item["data"], datatype, rows, width, index)
    return _Tensor(name, rows, width, values)


def _matrix_shape(shape: Any, field: str) -> tuple[int, int]:
    if not (type(shape) is list and len(shape) == 2 and set(map(type, shape)) == _INT):
        _bad(f"{shape!r} is not [rows] or [rows, columns]", field)
    if min(shape) <= 0:
        _bad(f"{shape} holds no values", field)
    return shape[0], shape[1]


def _binary_size(parameters: Any, field: str) -> int | None:
    if type(parameters) is not dict:
        _bad("must be an object", f"{field}.parameters")
    if "shared_memory_region" in parameters:
        _bad("shared memory is not supported; send the data in the body", f"{field}.parameters")
    size = parameters.get("binary_data_size")
    if size is not None and (type(size) is not int or size < 0):
        _bad(f"{size!r} is not a byte count", f"{field}.parameters.binary_data_size")
    return size


def _json_values(data: Any, datatype: str, rows: int, width: int, index: int) -> list[Any]:
    """The tensor's values checked against its shape and datatype: flat for 1-D, rows for
    2-D (``data`` may be flat or nested either way)."""
    if type(data) is not list:
        _bad("must be a list of values", f"inputs[{index}].data")
    if not width or not data or type(data[0]) is not list:
        expected = rows * max(width, 1)
        if len(data) != expected:
            _bad(f"holds {len(data)} values; the shape needs {expected}", f"inputs[{index}].data")
        _check_values(data, datatype, index, None)
        return data if not width else [data[i : i + width] for i in range(0, expected, width)]
    if len(data) != rows:
        _bad(f"holds {len(data)} rows; the shape needs {rows}", f"inputs[{index}].data")
    for row_index, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            _bad(f"must be a list of {width} values", f"inputs[{index}].data[{row_index}]")
        _check_values(row, datatype, index, row_index)
    return data


def _check_values(values: list[Any], datatype: str, index: int, row: int | None) -> None:
    """Every value is of the datatype's JSON type (or null), ints within its range."""
    allowed = _ALLOWED_TYPES[datatype]
    kinds = set(map(type, values))
    low, high = _INT_RANGES.get(datatype, (0, 0))
    bad = None
    if not kinds <= allowed:
        bad = next(i for i, value in enumerate(values) if type(value) not in allowed)
    elif int in kinds and datatype in _INT_RANGES:
        numbers = values if _NONE not in kinds else [v for v in values if v is not None]
        if min(numbers) < low or max(numbers) > high:
            bad = next(i for i, v in enumerate(values) if v is not None and not low <= v <= high)
    if bad is not None:
        where = f"inputs[{index}].data" + ("" if row is None else f"[{row}]")
        shown = repr(values[bad])
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        _bad(f"{shown} is not a {datatype} value", f"{where}[{bad}]")


class _BinaryTail:
    """The bytes after the JSON header, handed out to the inputs in order."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.offset

    def take(self, size: int, datatype: str, count: int, field: str) -> list[Any]:
        if size > self.left:
            _bad(
                f"{size} bytes asked for, {self.left} left", f"{field}.parameters.binary_data_size"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        if datatype == "BYTES":
            return _decode_bytes_tensor(chunk, count, f"{field}.data")
        dtype = np.dtype("uint8" if datatype == "BOOL" else V2_DATATYPES[datatype])
        if size != count * dtype.itemsize:
            wrong = f"{size} bytes are not {count} {datatype} values"
            _bad(wrong, f"{field}.parameters.binary_data_size")
        array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<"))
        values: list[Any] = (array != 0).tolist() if datatype == "BOOL" else array.tolist()
        return values


def _decode_bytes_tensor(chunk: memoryview, count: int, field: str) -> list[Any]:
    """BYTES elements: each a 4-byte little-endian length and that many UTF-8 bytes."""
    values: list[Any] = []
    offset, end = 0, len(chunk)
    while offset < end:
        if end - offset < 4:
            _bad("a BYTES element is cut short", field)
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if length > end - offset:
            _bad("a BYTES element is cut short", field)
        try:
            values.append(str(chunk[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            _bad(f"element {len(values)} is not UTF-8 text", field)
        offset += length
    if len(values) != count:
        _bad(f"holds {len(values)} BYTES elements; the shape needs {count}", field)
    return values


def _table(tensors: list[_Tensor], signature: ModelSignature | None) -> Table:
    if len(tensors) == 1 and tensors[0].width:
        tensor = tensors[0]
        columns = {c.name for c in signature.inputs} if signature is not None else set()
        if tensor.width != 1 or tensor.name not in columns:
            return Table(None, tensor.values)
    names: list[str] = []
    columns_values = []
    for index, tensor in enumerate(tensors):
        field = f"inputs[{index}]"
        if tensor.width > 1:
            _bad("with several inputs, each is one column: [rows] or [rows, 1]", f"{field}.shape")
        if tensor.rows != tensors[0].rows:
            _bad(f"has {tensor.rows} rows; inputs[0] has {tensors[0].rows}", f"{field}.shape")
        if tensor.name in names:
            _bad(f"{tensor.name!r} is given twice", f"{field}.name")
        names.append(tensor.name)
        values = tensor.values
        columns_values.append([row[0] for row in values] if tensor.width else values)
    return Table(tuple(names), [list(row) for row in zip(*columns_values, strict=True)])


def _tensor_data(array: np.ndarray[Any, Any]) -> tuple[str, list[Any]]:
    """The v2 datatype and the flat, row-major values of an output array."""
    datatype = _V2_BY_DTYPE.get(array.dtype.name)
    if datatype is not None:
        return datatype, array.ravel().tolist()
    if array.dtype.kind == "f":  # long double and other floats JSON holds as float64
        return "FP64", array.astype(np.float64).ravel().tolist()
    if array.dtype.kind != "O":
        return "BYTES", array.astype(str).ravel().tolist()
    values = [value.item() if isinstance(value, np.generic) else value for value in array.ravel()]
    kinds = {type(value) for value in values}
    if kinds == {bool}:
        return "BOOL", values
    if kinds == {int} and all(-(2**63) <= value < 2**63 for value in values):
        return "INT64", values
    if kinds and kinds <= {int, float}:
        return "FP64", [float(value) for value in values]
    return "BYTES", [_text(value) for value in values]


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _bad(message: str, field: str) -> NoReturn:
    raise InvalidInputError(message if field == "body" else f"{field}: {message}", field=field)


def _is_text(value: str) -> bool:
    """Whether ``value`` is real Unicode text (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
