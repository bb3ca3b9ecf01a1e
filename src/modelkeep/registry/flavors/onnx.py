"""ONNX flavor: an ``onnx.ModelProto`` run with onnxruntime on the CPU.

Save writes ``model.onnx`` as one self-contained file. Load parses it and refuses a graph
whose tensors name external-data files: onnxruntime would read them from the package directory,
or from the working directory for a model given as bytes, so a crafted graph could read a local
file into its weights. The session (``CPUExecutionProvider``) is then built from the bytes.

``predict`` maps the input onto the graph's inputs: a graph with one input receives the whole
table (every column, cast to the input's element type, ``float32`` for ``tensor(float)``); a
graph with one input per column (skl2onnx's mixed-type pipelines) receives each DataFrame column
by name as an ``(n, 1)`` tensor; a dict is taken as ``{input name: array}``. It returns the
first output (labels for a classifier). ``predict_proba`` returns the output named
``probabilities`` (or the first whose name contains ``prob``); convert classifiers with
skl2onnx option ``{"zipmap": False}`` so that output is a plain tensor (a zipmap list of dicts
is converted too, in the dict's key order).

Tolerance: onnxruntime computes in ``float32``. Probabilities match scikit-learn's within
``rtol=1e-5, atol=1e-6`` (:data:`PROBA_RTOL`, :data:`PROBA_ATOL`); labels are equal except
where a probability lies within that tolerance of a decision threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError
from modelkeep.registry.flavors.base import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    distribution_version,
    module_in_mro,
    package_file,
)

__all__ = [
    "FLAVOR",
    "PROBA_ATOL",
    "PROBA_RTOL",
    "OnnxFlavor",
    "OnnxModel",
    "refuse_external_data",
]

PROBA_RTOL = 1e-5
PROBA_ATOL = 1e-6
_FILE = "model.onnx"
_ELEMENT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxModel(FlavorModel):
    """A loaded ONNX graph in an onnxruntime session."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._inputs = list(session.get_inputs())
        self._outputs = [output.name for output in session.get_outputs()]
        self._proba = _probability_output(self._outputs)

    @property
    def raw(self) -> Any:
        return self._session

    @property
    def has_proba(self) -> bool:
        return self._proba is not None

    def predict(self, data: Any) -> Any:
        return self._run(self._outputs[0], data)

    def predict_proba(self, data: Any) -> Any:
        if self._proba is None:
            return super().predict_proba(data)
        return self._run(self._proba, data)

    def _run(self, output: str, data: Any) -> Any:
        import numpy as np

        (result,) = self._session.run([output], self._feeds(data))
        if isinstance(result, list) and result and isinstance(result[0], dict):
            keys = list(result[0])
            return np.asarray([[row[key] for key in keys] for row in result])
        return result

    def _feeds(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, Mapping):
            return {node.name: _cast(data[node.name], node) for node in self._inputs}
        if len(self._inputs) == 1:
            node = self._inputs[0]
            table = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
            return {node.name: _cast(table, node)}
        if isinstance(data, pd.DataFrame):
            missing = [node.name for node in self._inputs if node.name not in data.columns]
            if missing:
                raise InvalidInputError(
                    f"the ONNX graph needs columns {', '.join(missing)} that the input lacks",
                    field="input",
                )
            return {node.name: _column(data[node.name], node) for node in self._inputs}
        raise InvalidInputError(
            f"the ONNX graph has {len(self._inputs)} inputs; pass a DataFrame with columns "
            f"{', '.join(node.name for node in self._inputs)} or a dict of arrays",
            field="input",
        )


def _cast(values: Any, node: Any) -> Any:
    import numpy as np

    dtype = _ELEMENT_TYPES.get(node.type)
    array = np.asarray(values)
    if dtype == "object":
        return array.astype(str).astype(object)
    return array if dtype is None else array.astype(dtype)


def _column(series: Any, node: Any) -> Any:
    array = _cast(series.to_numpy(), node)
    rank = len(node.shape) if node.shape is not None else 2
    return array.reshape(-1, 1) if rank == 2 else array


def _probability_output(names: list[str]) -> str | None:
    if "probabilities" in names:
        return "probabilities"
    return next((name for name in names if "prob" in name.lower()), None)


class OnnxFlavor(Flavor):
    """``onnx.ModelProto`` graphs, run by onnxruntime."""

    name = "onnx"
    priority = 100
    runs_code = False

    @classmethod
    def handles(cls, model: Any) -> bool:
        return module_in_mro(model, "onnx") and type(model).__name__ == "ModelProto"

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        (directory / _FILE).write_bytes(model.SerializeToString())
        versions = {
            name: version
            for name in ("onnx", "onnxruntime", "numpy")
            if (version := distribution_version(name)) is not None
        }
        return SavedFlavor({"file": _FILE}, versions, [])

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        import onnxruntime

        path, file_name = package_file(directory, options, _FILE)
        data = path.read_bytes()
        refuse_external_data(data, file_name)
        try:
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors share no base class below Exception
            raise PackageIntegrityError(
                f"{file_name} is not an ONNX model onnxruntime can run: {exc}", field=file_name
            ) from None
        return OnnxModel(session)


def refuse_external_data(data: bytes, file_name: str) -> None:
    """Raise PackageIntegrityError unless ``data`` is an ONNX model with every tensor inside
    it (an external-data reference could make onnxruntime read any file)."""
    import onnx

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError (its stubs are not installed)
        raise PackageIntegrityError(
            f"{file_name} is not an ONNX model: {exc}", field=file_name
        ) from None
    graphs = [model.graph, *(function for function in model.functions)]
    while graphs:
        graph = graphs.pop()
        tensors = list(getattr(graph, "initializer", ()))
        tensors += [sparse.values for sparse in getattr(graph, "sparse_initializer", ())]
        for node in graph.node:
            for attribute in node.attribute:
                tensors += [attribute.t, *attribute.tensors, attribute.sparse_tensor.values]
                tensors += [sparse.values for sparse in attribute.sparse_tensors]
                graphs += [attribute.g, *attribute.graphs]
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise PackageIntegrityError(
                    f"{file_name} refers to external data for tensor {tensor.name!r}; "
                    "modelkeep loads only self-contained ONNX models",
                    field=file_name,
                )


FLAVOR = OnnxFlavor
