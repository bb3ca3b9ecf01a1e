"""Tree-ensemble ONNX labels that break ties the way scikit-learn does.

A forest's class probabilities tie often (an even number of fully grown trees voting half and
half). scikit-learn then predicts the first class (``argmax`` of its exact float64 means),
while onnxruntime's ``TreeEnsembleClassifier`` sums float32 weights, so a tie comes out as
0.49999994 against 0.50000006 and its label output picks the second class: a converted forest
disagrees with the original on exactly those rows. :func:`argmax_labels` rewires the graph's
label output as ``classes[ArgMax(probabilities - j * TIE)]`` for class ``j``: probabilities
within :data:`TIE` (1e-6, far below the 1/n steps of a forest of n trees and far above
float32 rounding near 1) count as tied and the first class wins, as in scikit-learn. The
probabilities are untouched. Labels can still differ where two probabilities differ by less
than ``TIE`` without being equal in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TIE", "argmax_labels"]

TIE = 1e-6
_CLASSES = ("classlabels_int64s", "classlabels_strings")


def argmax_labels(model: Any) -> Any:
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with its label
    output computed from its probability output (first class on ties), when a
    ``TreeEnsembleClassifier`` makes the label and the graph outputs probabilities;
    otherwise unchanged."""
    from onnx import helper, numpy_helper

    outputs = [output.name for output in model.graph.output]
    if len(outputs) < 2:
        return model
    label, probabilities = outputs[0], outputs[1]
    node = next((n for n in model.graph.node if label in n.output), None)
    if node is None or node.op_type != "TreeEnsembleClassifier":
        return model
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    name = next((key for key in _CLASSES if attributes.get(key)), None)
    if name is None:
        return model
    values = attributes[name]
    if name == "classlabels_strings":
        classes = np.asarray([v.decode("utf-8") for v in values], dtype=object)
    else:
        classes = np.asarray(values, dtype=np.int64)
    stem = f"{label}_compress"
    node.output[list(node.output).index(label)] = f"{stem}_ensemble"
    bias = (np.arange(len(classes)) * TIE).astype(np.float32)
    model.graph.initializer.extend([
        numpy_helper.from_array(classes, f"{stem}_classes"),
        numpy_helper.from_array(bias, f"{stem}_bias"),
    ])  # fmt: skip
    model.graph.node.extend([
        helper.make_node("Sub", [probabilities, f"{stem}_bias"], [f"{stem}_ranked"]),
        helper.make_node(
            "ArgMax", [f"{stem}_ranked"], [f"{stem}_index"], f"{stem}_argmax", axis=1, keepdims=0
        ),
        helper.make_node(
            "Gather", [f"{stem}_classes", f"{stem}_index"], [label], f"{stem}_gather", axis=0
        ),
    ])  # fmt: skip
    return model
