"""int8 dynamic quantisation of an ONNX graph's matrix weights.

``onnxruntime.quantization.quantize_dynamic`` stores ``MatMul`` weights as int8 and quantises
activations on the fly. skl2onnx writes an MLP as ``MatMul``/``Add`` nodes, but a linear model
as one ``ai.onnx.ml`` ``LinearClassifier`` / ``LinearRegressor`` node, which the quantiser does
not know. So each such node is first rewritten, exactly, as ``MatMul`` (the coefficients) +
``Add`` (the intercepts) feeding the same node with identity coefficients and zero intercepts:
the node's label choice and post-transform (logistic, softmax...) see the same scores, so the
rewritten float graph predicts what the original did; only the ``MatMul`` is then quantised.

Two details of the quantiser are handled here: it needs a single default-domain opset import
(skl2onnx may list the default domain twice: the highest version is kept), and it cannot type
tensors produced by ``ai.onnx.ml`` operators (``DefaultTensorType`` says they are float).
The graph is marked as pre-processed (``onnx.quant.pre_process``): onnxruntime's
pre-processing (symbolic shape inference, fusions) does nothing for these small tabular graphs,
and without the mark the quantiser writes an advice to the root logger, configuring logging
for the whole process as a side effect.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["QuantizationSkipped", "has_matrix_weights", "quantize_graph"]

_LINEAR = ("LinearClassifier", "LinearRegressor")
_PRE_PROCESSED = "onnx.quant.pre_process"


class QuantizationSkipped(Exception):  # noqa: N818 - a refusal with a reason
    """The graph has nothing to quantise (or the quantiser refused it); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def quantize_graph(model: Any) -> Any:
    """``model`` (an ``onnx.ModelProto``, left unchanged) with int8 matrix weights.

    Raises:
        QuantizationSkipped: the graph has no ``MatMul`` with constant weights, even after the
            linear rewrite, or the quantiser failed.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.ModelProto()
    graph.CopyFrom(model)
    _rewrite_linear(graph)
    _single_default_opset(graph)
    if not has_matrix_weights(graph):
        raise QuantizationSkipped("the graph has no matrix weights to quantise (no MatMul)")
    onnx.helper.set_model_props(graph, {**_props(graph), _PRE_PROCESSED: "onnxruntime.quant"})
    with tempfile.TemporaryDirectory(prefix="modelkeep-quantize-") as tmp:
        target = Path(tmp) / "int8.onnx"
        try:
            quantize_dynamic(
                graph,
                target,
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        except Exception as exc:  # the quantiser raises ValueError, RuntimeError, KeyError...
            raise QuantizationSkipped(
                f"onnxruntime cannot quantise the graph: {type(exc).__name__}: {exc}"
            ) from None
        quantized = onnx.load_from_string(target.read_bytes())
    props = _props(quantized)
    props.pop(_PRE_PROCESSED, None)
    del quantized.metadata_props[:]
    onnx.helper.set_model_props(quantized, props)
    return quantized


def has_matrix_weights(model: Any) -> bool:
    """Whether some ``MatMul`` of the graph multiplies by a constant (an initializer)."""
    constants = {tensor.name for tensor in model.graph.initializer}
    return any(
        node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in constants
        for node in model.graph.node
    )


def _props(model: Any) -> dict[str, str]:
    return {prop.key: prop.value for prop in model.metadata_props}


def _rewrite_linear(model: Any) -> None:
    """Each linear ``ai.onnx.ml`` node as MatMul + Add + the node with identity weights."""
    nodes = []
    for node in model.graph.node:
        if node.op_type in _LINEAR and node.domain == "ai.onnx.ml":
            nodes += _split_linear(model, node)
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _split_linear(model: Any, node: Any) -> list[Any]:
    from onnx import helper, numpy_helper

    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    coefficients = np.asarray(attributes["coefficients"], dtype=np.float32)
    scores = len(attributes.get("intercepts") or []) or int(attributes.get("targets", 1))
    intercepts = np.asarray(attributes.get("intercepts") or [0.0] * scores, dtype=np.float32)
    weights = np.ascontiguousarray(coefficients.reshape(scores, -1).T)
    stem = f"{node.name or node.op_type}_compress"
    model.graph.initializer.extend([
        numpy_helper.from_array(weights, f"{stem}_weights"),
        numpy_helper.from_array(intercepts, f"{stem}_intercepts"),
    ])  # fmt: skip
    identity = dict(attributes)
    identity["coefficients"] = np.eye(scores, dtype=np.float32).reshape(-1).tolist()
    identity["intercepts"] = [0.0] * scores
    if node.op_type == "LinearRegressor":
        identity["targets"] = scores
    return [
        helper.make_node(
            "MatMul", [node.input[0], f"{stem}_weights"], [f"{stem}_product"], f"{stem}_matmul"
        ),
        helper.make_node(
            "Add", [f"{stem}_product", f"{stem}_intercepts"], [f"{stem}_scores"], f"{stem}_add"
        ),
        helper.make_node(
            node.op_type,
            [f"{stem}_scores"],
            list(node.output),
            node.name,
            domain=node.domain,
            **identity,
        ),
    ]


def _single_default_opset(model: Any) -> None:
    from onnx import helper

    versions: dict[str, int] = {}
    for opset in model.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        versions[domain] = max(versions.get(domain, 0), opset.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in versions.items())
