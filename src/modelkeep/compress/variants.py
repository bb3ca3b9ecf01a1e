"""The candidates :func:`~modelkeep.compress.compress` measures, and how they are built.

Every candidate is a :class:`Variant`. Their names, in the order they are built:

* ``original``: the package's own model, predicted by its flavor (scikit-learn, LightGBM...).
* ``onnx``: the whole scikit-learn model (pipeline included) converted by skl2onnx
  (:func:`modelkeep.serve.onnx_convert.convert_estimator`, the serving runtime's converter);
  a tree-ensemble classifier's labels then break probability ties as scikit-learn does
  (:mod:`modelkeep.compress.onnx_labels`).
* ``onnx_int8``: that graph (or an ONNX original's own graph) with its matrix weights
  quantised to int8 by ``onnxruntime.quantization.quantize_dynamic``; only for graphs with
  matrix weights (linear models, MLPs; see :mod:`modelkeep.compress.quantize`).
* ``trees_<k>``, ``depth_<d>``, ``distilled_<k>``: tree-ensemble reductions (see
  :mod:`modelkeep.compress.trees`), each followed by its ONNX twin ``<name>_onnx``.

A candidate that cannot be built is left out with its reason (``CompressResult.skipped``):
skl2onnx 1.20 cannot convert scikit-learn 1.9's HistGradientBoosting models, a forest has no
matrix weights to quantise, and so on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.compress import trees
from modelkeep.compress.onnx_labels import argmax_labels
from modelkeep.compress.quantize import QuantizationSkipped, quantize_graph
from modelkeep.registry.flavors.base import package_file
from modelkeep.serve.onnx_convert import (
    ConversionRefused,
    convert_estimator,
    input_types,
    make_session,
)

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature

__all__ = [
    "FAMILIES",
    "ORIGINAL",
    "FitRows",
    "Variant",
    "build_variants",
    "flat_output",
    "onnx_predictor",
]

_log = logging.getLogger("modelkeep.compress")

ORIGINAL = "original"
FAMILIES = ("original", "onnx", "quantized", "fewer_trees", "limited_depth", "distilled")
"""Candidate families; ``families=`` picks among them (``original`` is always measured)."""


@dataclass(frozen=True)
class Variant:
    """One candidate model.

    Attributes:
        name: unique in a compression (``original``, ``onnx``, ``trees_25_onnx``...).
        family: one of :data:`FAMILIES`.
        runtime: ``native`` (the model's own library) or ``onnx`` (onnxruntime).
        model: the fitted estimator or pipeline (``native``), or an ``onnx.ModelProto``.
        description: one line on what it is.
    """

    name: str
    family: str
    runtime: str
    model: Any = field(repr=False)
    description: str = ""

    def predict(self, data: Any) -> np.ndarray:
        """Labels (classifiers) or values for ``data`` (validated model input), one per row.

        ONNX variants run in a fresh onnxruntime session like the one serving would use.
        """
        if self.runtime == "onnx":
            columns = tuple(data.columns) if isinstance(data, pd.DataFrame) else None
            return flat_output(onnx_predictor(self.model, columns).predict(data))
        return np.asarray(self.model.predict(data))


@dataclass(frozen=True)
class FitRows:
    """Training rows for the refits (limited depth, distillation): validated features and
    the true target."""

    X: Any
    y: Any


def onnx_predictor(model: Any, columns: tuple[str, ...] | None) -> Any:
    """The serving runtime's :class:`~modelkeep.serve.runtime.OnnxPredictor` over ``model``
    (an ``onnx.ModelProto``): one thread, full graph optimisation, inputs fed as served."""
    from modelkeep.serve.runtime import OnnxPredictor

    session = make_session(model.SerializeToString())
    return OnnxPredictor(session, "compression candidate", columns=columns)


def flat_output(result: Any) -> np.ndarray:
    """Predictions as one value per row (ONNX regressors return an ``(n, 1)`` column)."""
    array = np.asarray(result)
    return array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array


def build_variants(
    loaded: LoadedModel,
    signature: ModelSignature,
    families: frozenset[str],
    fit: FitRows | None,
    skipped: dict[str, str],
    *,
    seed: int = 0,
) -> list[Variant]:
    """Every candidate of ``families`` that can be built for ``loaded``.

    Args:
        loaded: the original model.
        signature: its input signature (the package's, or inferred from the data).
        families: the families to build (see :data:`FAMILIES`).
        fit: training rows for refits, or None (refits are then skipped).
        skipped: filled with ``name -> reason`` for candidates that could not be built.
        seed: random state of the refits.
    """
    flavor = loaded.flavor
    variants = [
        Variant(ORIGINAL, "original", "native", loaded.raw, f"the {flavor} model as logged")
    ]
    if flavor == "onnx":
        if "quantized" in families:
            graph = _package_graph(loaded)
            _add(variants, skipped, "onnx_int8", lambda: _quantized(graph))
        return variants
    if flavor != "sklearn":
        skipped["onnx"] = f"only scikit-learn models are converted and reduced; this is {flavor}"
        return variants
    raw = loaded.raw
    graph = None
    if families & {"onnx", "quantized"}:
        graph = _add_onnx(variants, skipped, "onnx", raw, signature, "onnx" in families)
    if "quantized" in families and graph is not None:
        _add(variants, skipped, "onnx_int8", lambda: _quantized(graph))
    for family, name, model, description in trees.reductions(raw, families, fit, skipped, seed):
        variants.append(Variant(name, family, "native", model, description))
        _add_onnx(variants, skipped, f"{name}_onnx", model, signature, True, family)
    return variants


def _add(
    variants: list[Variant], skipped: dict[str, str], name: str, build: Callable[[], Variant]
) -> None:
    try:
        variants.append(build())
    except (ConversionRefused, QuantizationSkipped) as exc:
        skipped[name] = exc.reason
        _log.info("compression candidate %s left out: %s", name, exc.reason)


def _add_onnx(
    variants: list[Variant],
    skipped: dict[str, str],
    name: str,
    model: Any,
    signature: ModelSignature,
    keep: bool,
    family: str = "onnx",
) -> Any:
    """Convert ``model``; append the variant when ``keep``; return the graph (or None)."""
    import onnx

    try:
        data = convert_estimator(model, input_types(signature, model))
    except ConversionRefused as exc:
        skipped[name] = exc.reason
        _log.info("compression candidate %s left out: %s", name, exc.reason)
        return None
    graph = argmax_labels(onnx.load_from_string(data))
    if keep:
        what = "the whole model" if family == "onnx" else name.removesuffix("_onnx")
        variants.append(Variant(name, family, "onnx", graph, f"{what} converted by skl2onnx"))
    return graph


def _quantized(graph: Any) -> Variant:
    quantized = quantize_graph(graph)
    return Variant(
        "onnx_int8",
        "quantized",
        "onnx",
        quantized,
        "ONNX graph with int8 weights (onnxruntime dynamic quantisation)",
    )


def _package_graph(loaded: LoadedModel) -> Any:
    import onnx

    path, _ = package_file(loaded.path, loaded.manifest.flavor_options, "model.onnx")
    return onnx.load_from_string(path.read_bytes())
