"""Registering the chosen variant as a new version of the original's registered model.

The variant is logged as a package of a new run in the parent version's experiment (named
``compress <model> v<parent> -> <variant>``): an ONNX variant with the ``onnx`` flavor, so
``modelkeep serve`` runs its graph with onnxruntime as it is; a scikit-learn one with the
``sklearn`` flavor. The package gets the original's input signature and input example, so it
takes the same requests. The run holds the chosen variant's numbers as metrics, the choice's
settings as params, and the whole table as the artifact ``compress/variants.json``. The new
version carries the tags :data:`TAG_PARENT` (the parent's version number) and
:data:`TAG_VARIANT` (the variant's name), plus :data:`TAG_METRIC`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelkeep.entities import Metric, Param, now_ms

if TYPE_CHECKING:
    from modelkeep.compress.variants import Variant
    from modelkeep.entities import ModelVersion
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature
    from modelkeep.tracking import Client

__all__ = ["ARTIFACT", "TAG_METRIC", "TAG_PARENT", "TAG_VARIANT", "jsonable", "register_variant"]

TAG_PARENT = "modelkeep.compress.parent_version"
TAG_VARIANT = "modelkeep.compress.variant"
TAG_METRIC = "modelkeep.compress.metric"
ARTIFACT = "compress/variants.json"
_NUMBERS = ("size_bytes", "latency_1row_ms", "latency_1000rows_ms", "metric", "fidelity")


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def register_variant(
    client: Client,
    loaded: LoadedModel,
    variant: Variant,
    row: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    signature: ModelSignature,
    input_example: Any,
) -> ModelVersion:
    """Log ``variant`` in a new run and register it as the next version of the parent's
    model (``loaded.version``), linked to it by tags.

    Args:
        client: the store.
        loaded: the original, loaded through its ``models:/`` URI.
        variant: the chosen variant.
        row: its row of the variants table.
        report: the whole result (``CompressResult.to_dict()``), stored as
            ``compress/variants.json``.
        signature: the input signature the package is saved with.
        input_example: rows stored as its input example.
    """
    parent = loaded.version
    assert parent is not None  # compress refuses to register without a registered parent
    source = client.get_run(parent.run_id) if parent.run_id else None
    experiment = source.experiment_id if source is not None else None
    if experiment is None:
        experiment = client.get_or_create_experiment("compress").id
    run = client.create_run(
        experiment, run_name=f"compress {parent.name} v{parent.version} -> {variant.name}"
    )
    metric = str(report["metric"])
    stamp = now_ms()
    client.log_batch(
        run.id,
        metrics=[
            Metric(key, float(row[key]), 0, stamp)
            for key in _NUMBERS
            if isinstance(row[key], int | float) and math.isfinite(float(row[key]))
        ],
        params=[
            Param("compress.variant", variant.name),
            Param("compress.parent_version", str(parent.version)),
            Param("compress.metric", metric),
            Param("compress.max_metric_drop", str(report["max_metric_drop"])),
            Param("compress.min_fidelity", str(report["min_fidelity"])),
        ],
    )
    info = client.log_model(
        run.id, variant.model, "model", input_example=input_example, signature=signature
    )
    data = json.dumps(jsonable(report), indent=2, allow_nan=False).encode("utf-8")
    client.log_bytes(run.id, data, ARTIFACT)
    client.set_terminated(run.id)
    tags = {TAG_PARENT: str(parent.version), TAG_VARIANT: variant.name, TAG_METRIC: metric}
    description = f"{variant.description} (compressed from version {parent.version})"
    return client.register_model(info.uri, parent.name, description=description, tags=tags)
