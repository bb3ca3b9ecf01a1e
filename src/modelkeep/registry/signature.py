"""Model signatures: what a model takes and returns, inferred from an input example.

A :class:`ModelSignature` is inferred from an input example (pandas, numpy, polars, pyarrow, a
list of dicts or a dict of lists) and, optionally, an example output. Before every prediction
:meth:`ModelSignature.validate_input` checks the data against it, reports **every** problem in
one :class:`~modelkeep.exceptions.InputSchemaError`, and returns the data converted to what the
model expects.

>>> import pandas as pd
>>> sig = infer_signature(pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Rome"]}))
>>> [(c.name, c.dtype) for c in sig.inputs]
[('age', 'int64'), ('city', 'string')]
>>> sig.validate_input(pd.DataFrame({"city": ["Lima"], "age": [29]})).columns.tolist()
['age', 'city']

Input kinds:
    * A numeric or boolean numpy array (not structured) is a *tensor*: the signature records
      its dtype and shape, with ``-1`` for the batch (first) axis. Any other input becomes a
      pandas DataFrame through :func:`to_pandas` and is described column by column. polars and
      pyarrow are imported lazily: they are optional for users.
    * Column names are always strings: ``0`` and ``"0"`` name the same column.

Dtypes are normalised to ``bool``, ``int8``..``int64``, ``uint8``..``uint64``, ``float16``,
``float32``, ``float64``, ``string``, ``category``, ``datetime64[<unit>]`` or
``datetime64[<unit>, <tz>]`` (the unit and time zone are kept), and ``object`` for anything
else. pandas masked dtypes (``Int64``, ``boolean``) map to their numpy names; object columns are
named after their elements (all strings -> ``string``, all bools -> ``bool``...).

Nullability: a column whose example holds nulls is nullable; float columns are always nullable
(NaN is a float value). Nulls in a non-nullable column are a problem. A nullable int or bool
column that receives nulls comes back as a pandas masked dtype (``Int64``, ``boolean``).

Casts made silently because no value changes (checked on the values, vectorised):
    * bool -> any int or float; int -> any int whose range holds every value (so JSON's int64
      reaches an ``int32`` model); int -> float when every value is exactly representable.
    * float -> int when every value is integral (NaN becomes a null, see nullability).
    * float -> wider float; float64 -> float32 when no value overflows: a model whose signature
      says float32 computes in float32, and JSON clients can only send float64.
    * string -> category; category -> string when its categories are strings; object columns
      are cast by the type of their elements; datetime unit changes that lose nothing.
Everything else is a problem: string -> number, float with a fraction -> int, number -> string,
int -> bool, a time zone mismatch, and datetime strings, which are never parsed (parse them
with ``pandas.to_datetime`` first). An ``object`` column in the signature accepts anything.

Columns: a missing column and an unexpected extra column are problems (each one named); the
order does not matter, the result follows the signature's order and keeps the input's index.
A plain 2-D numpy array, which has no names, gives the signature's columns in order (as
scikit-learn reads it) when it has as many columns; otherwise that count is the problem.
Tensors: the number of axes and every size but ``-1`` must match; values cast as above, and
NaN cannot go to an int or bool tensor. Lists and DataFrames are read as arrays.

Input examples are stored without pickle: tensors as ``input_example.npy``, frames as
``input_example.json`` in pandas "split" layout plus exact dtypes (the index is not kept).

This module is the public face; the work is in :mod:`~modelkeep.registry.tabular` (reading
inputs, naming dtypes), :mod:`~modelkeep.registry.conform` (the checks and casts) and
:mod:`~modelkeep.registry.input_example` (example files), whose functions it re-exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.conform import conform_frame, conform_tensor
from modelkeep.registry.input_example import load_input_example, save_input_example
from modelkeep.registry.tabular import (
    NUMBER_DTYPES,
    array_dtype,
    column_dtype,
    is_known_dtype,
    is_tensor,
    to_pandas,
)

__all__ = [
    "ColumnSpec",
    "ModelSignature",
    "TensorSpec",
    "infer_signature",
    "load_input_example",
    "save_input_example",
    "to_pandas",
    "validate_input",
]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a tabular signature: its name, normalised dtype and nullability."""

    name: str
    dtype: str
    nullable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A numpy array input: its dtype and shape, ``-1`` where any size fits (the batch axis)."""

    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))  # a list would not hash

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class ModelSignature:
    """What a model takes (columns, or one tensor) and returns (columns, possibly none).

    Raises:
        InvalidInputError: (``field="signature"``) for an unknown dtype or kind, duplicate
            column names, or a tensor kind without ``input_tensor``.
    """

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()
    input_kind: str = "dataframe"
    input_tensor: TensorSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))  # lists would not hash
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.input_kind not in ("dataframe", "tensor"):
            _bad_signature(f"input_kind {self.input_kind!r} is not 'dataframe' or 'tensor'")
        if (self.input_kind == "tensor") != (self.input_tensor is not None):
            _bad_signature("input_tensor must be given exactly when input_kind is 'tensor'")
        if self.input_tensor is not None and self.input_tensor.dtype not in NUMBER_DTYPES:
            _bad_signature(f"tensor dtype {self.input_tensor.dtype!r} is not numeric")
        for specs in (self.inputs, self.outputs):
            names = [spec.name for spec in specs]
            if len(set(names)) != len(names):
                _bad_signature(f"duplicate column names in {names}")
            for spec in specs:
                if not is_known_dtype(spec.dtype):
                    _bad_signature(f"column {spec.name!r} has unknown dtype {spec.dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_dict` reads it back."""
        return {
            "input_kind": self.input_kind,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "input_tensor": None if self.input_tensor is None else self.input_tensor.to_dict(),
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        """Parse :meth:`to_dict` output; InvalidInputError(field="signature") when malformed."""
        try:
            tensor = data.get("input_tensor")
            return cls(
                inputs=tuple(_column_from_dict(c) for c in data.get("inputs") or ()),
                outputs=tuple(_column_from_dict(c) for c in data.get("outputs") or ()),
                input_kind=str(data.get("input_kind", "dataframe")),
                input_tensor=None if tensor is None else _tensor_from_dict(tensor),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            _bad_signature(f"{type(exc).__name__}: {exc}")

    def validate_input(self, data: Any) -> Any:
        """Check ``data`` against the signature and return it as the model expects it.

        Returns:
            For the dataframe kind, a pandas DataFrame with the signature's columns in its
            order, safely cast; for the tensor kind, a numpy array of the signature's dtype.

        Raises:
            InputSchemaError: listing every problem found, one line each.
        """
        if self.input_tensor is not None:
            return conform_tensor(self.input_tensor, data)
        return conform_frame(self.inputs, data)


def _bad_signature(reason: str) -> NoReturn:
    raise InvalidInputError(
        f"signature is malformed ({reason}); infer it again with infer_signature()",
        field="signature",
    )


def _column_from_dict(data: Mapping[str, Any]) -> ColumnSpec:
    name, dtype, nullable = data["name"], data["dtype"], data.get("nullable", False)
    if not (isinstance(name, str) and isinstance(dtype, str) and isinstance(nullable, bool)):
        raise TypeError(f"column {data!r} needs a string name and dtype and a bool nullable")
    return ColumnSpec(name, dtype, nullable)


def _tensor_from_dict(data: Mapping[str, Any]) -> TensorSpec:
    dims = [-1 if dim is None else dim for dim in data["shape"]]
    if not all(type(dim) is int and dim >= -1 for dim in dims):
        raise ValueError(f"tensor shape {data['shape']!r} must hold sizes, -1 or null")
    return TensorSpec(str(data["dtype"]), tuple(dims))


def infer_signature(input_example: Any, output: Any = None) -> ModelSignature:
    """Infer a signature from an input example and, optionally, the model's output for it.

    Args:
        input_example: a few rows of what the model takes (see :func:`to_pandas`), or a
            numeric numpy array for a tensor model.
        output: the model's predictions: a numpy array (1-D gives one column
            ``"prediction"``, 2-D gives ``"0"``, ``"1"``...), a pandas Series or DataFrame
            (their names), or anything :func:`to_pandas` takes. None gives no output schema.

    Raises:
        InvalidInputError: the example is missing, of an unknown kind, or has duplicate
            column names.

    >>> import numpy as np
    >>> infer_signature(np.zeros((3, 4), dtype=np.float32)).input_tensor
    TensorSpec(dtype='float32', shape=(-1, 4))
    """
    if input_example is None:
        raise InvalidInputError(
            "an input example is needed to infer a signature", field="input_example"
        )
    outputs = _infer_outputs(output)
    if is_tensor(input_example):
        spec = TensorSpec(array_dtype(input_example.dtype), (-1, *input_example.shape[1:]))
        return ModelSignature((), outputs, "tensor", spec)
    return ModelSignature(_infer_columns(to_pandas(input_example), "input_example"), outputs)


def validate_input(signature: ModelSignature, data: Any) -> Any:
    """Same as :meth:`ModelSignature.validate_input`."""
    return signature.validate_input(data)


def _infer_outputs(output: Any) -> tuple[ColumnSpec, ...]:
    if output is None:
        return ()
    if isinstance(output, list | tuple):
        output = np.asarray(output)
    if isinstance(output, np.ndarray) and output.dtype.names is None:
        if output.ndim == 1:
            output = pd.Series(output, name="prediction")
        elif output.ndim != 2:
            raise InvalidInputError(
                f"cannot describe a {output.ndim}-D output; pass a 1-D or 2-D array",
                field="output",
            )
    if isinstance(output, pd.Series) and output.name is None:
        output = output.rename("prediction")
    return _infer_columns(to_pandas(output), "output")


def _infer_columns(frame: pd.DataFrame, field: str) -> tuple[ColumnSpec, ...]:
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        raise InvalidInputError(f"duplicate column names {duplicated}; rename them", field=field)
    specs = []
    for index, name in enumerate(frame.columns):
        series = frame.iloc[:, index]
        dtype = column_dtype(series)
        nullable = dtype.startswith("float") or bool(series.isna().any())
        specs.append(ColumnSpec(name, dtype, nullable))
    return tuple(specs)
