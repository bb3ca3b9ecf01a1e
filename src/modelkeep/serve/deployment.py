"""A model ready to serve: loaded through the registry's checks, warmed up, with its batcher.

:func:`load_deployment` resolves a ``models:/name@alias``, ``models:/name/3`` or ``runs:/...``
URI through the tracking client (which re-hashes the package against its manifest and, for
``models:/``, against the registry's root digest), picks the runtime (ONNX when it matches the
native model, see :mod:`modelkeep.serve.runtime`), and scores the package's input example once
so that the first real request does not pay for lazy initialisation. A model that cannot score
its own input example is refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.loaded import LoadedModel
from modelkeep.registry.uris import parse_model_uri
from modelkeep.serve.batcher import MicroBatcher
from modelkeep.serve.runtime import Predictor, prepare_predictor
from modelkeep.serve.scoring import make_batch_scorer
from modelkeep.serve.table import Table
from modelkeep.tracking import Client

__all__ = ["Deployment", "load_deployment", "resolve_version"]

_log = logging.getLogger("modelkeep.serve")


@dataclass
class Deployment:
    """One served model version.

    Attributes:
        uri: the URI it was loaded from (``models:/churn@champion``).
        name: the registered model's name (the run id for a ``runs:/`` URI).
        version: the version number as text ("" for a ``runs:/`` URI).
        root_digest: the package's verified root digest.
        model: the loaded package.
        predictor: the runtime that scores it (ONNX or native).
        batcher: the micro-batcher feeding ``predictor``.
        loaded_at: when it finished loading (seconds since the epoch).
    """

    uri: str
    name: str
    version: str
    root_digest: str
    model: LoadedModel
    predictor: Predictor
    batcher: MicroBatcher
    loaded_at: float

    @property
    def runtime(self) -> str:
        """``onnx`` or ``native``."""
        return self.predictor.name


@dataclass(frozen=True)
class BatchSettings:
    """Micro-batching limits (see :class:`~modelkeep.serve.batcher.MicroBatcher`)."""

    max_batch_size: int = 64
    max_batch_delay_ms: float = 2.0


def resolve_version(client: Client, uri: str) -> str:
    """The version number ``uri`` points at now ("" for ``runs:/`` URIs)."""
    parsed = parse_model_uri(uri)
    if parsed.kind == "run" or parsed.name is None:
        return ""
    if parsed.alias is not None:
        return str(client.store.get_model_version_by_alias(parsed.name, parsed.alias).version)
    if parsed.version is None:
        return str(client.store.get_latest_model_version(parsed.name).version)
    return str(parsed.version)


def load_deployment(
    client: Client,
    uri: str,
    *,
    runtime: str = "auto",
    cache_dir: Path | None = None,
    allow_code: bool = False,
    batching: BatchSettings | None = None,
    observe: Any = None,
    always_proba: bool = False,
) -> Deployment:
    """Load, convert and warm up the model at ``uri`` (a blocking call: run it in a thread).

    Raises:
        NotFoundError: no such model, version, alias or run.
        PackageIntegrityError: a package file differs from its manifest.
        UnsafeModelError: the package needs ``allow_code``.
        InvalidInputError: ``runtime="onnx"`` and the model cannot run as ONNX, or the model
            cannot score its own input example.
    """
    model = client.load_model(uri, allow_code=allow_code)
    predictor = prepare_predictor(model, runtime, cache_dir)
    _log.info("serving %s with the %s runtime: %s", uri, predictor.name, predictor.reason)
    _warm_up(model, predictor, uri)
    settings = batching or BatchSettings()
    batcher = MicroBatcher(
        make_batch_scorer(model, predictor, always_proba=always_proba),
        max_batch_size=settings.max_batch_size,
        max_batch_delay_ms=settings.max_batch_delay_ms,
        observe=observe,
    )
    if model.version is not None:
        name, version = model.version.name, str(model.version.version)
    else:
        name, version = parse_model_uri(uri).run_id or "model", ""
    return Deployment(
        uri, name, version, model.root_digest, model, predictor, batcher, time.time()
    )


def _warm_up(model: LoadedModel, predictor: Predictor, uri: str) -> None:
    example = model.input_example
    if example is None:
        return
    try:
        data = model.validate_input(example)
        predictor.predict(data)
        if predictor.has_proba:
            predictor.predict_proba(data)
    except Exception as exc:  # noqa: BLE001 - any failure means the model is not servable
        raise InvalidInputError(
            f"{uri} cannot score its own input example: {exc}", field="model_uri"
        ) from exc


def example_table(model: LoadedModel) -> Table | None:
    """The input example as a :class:`Table` (for smoke tests of a fresh deployment)."""
    example = model.input_example
    if example is None or not hasattr(example, "columns"):
        return None
    return Table.from_frame(example)
