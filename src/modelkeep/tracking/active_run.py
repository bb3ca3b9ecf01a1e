"""``ActiveRun``: what ``mk.start_run`` returns; logs through a buffered client."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from modelkeep.entities import ArtifactRecord, Metric, Param, Run, RunStatus, RunTag, now_ms
from modelkeep.exceptions import ImmutableParamError, InvalidInputError
from modelkeep.store import validation as v
from modelkeep.store.validation import check_status
from modelkeep.tracking.buffer import MetricBuffer
from modelkeep.tracking.client import Client
from modelkeep.tracking.client_models import ModelInfo
from modelkeep.tracking.datasets import describe_dataset

__all__ = ["ActiveRun"]


class ActiveRun:
    """A run being logged. Use as a context manager; it ends the run on exit.

    A normal exit ends the run FINISHED, an exception FAILED, Ctrl-C (KeyboardInterrupt)
    KILLED. Metrics, params and tags are buffered and written in batches by a background
    thread; :meth:`flush` (and the end of the run, and interpreter exit) makes them durable.
    A param logged twice through this object with different values raises at once; a clash
    with a value another process stored is raised by the next flush.
    """

    def __init__(self, client: Client, buffer: MetricBuffer, run: Run) -> None:
        self.client = client
        self._buffer = buffer
        self._run = run
        self._params: dict[str, str] = dict(run.params)
        self._lock = threading.Lock()
        self.ended = False

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def experiment_id(self) -> str:
        return self._run.experiment_id

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def info(self) -> Run:
        """The latest snapshot of this run from the store (flushes first)."""
        self.flush()
        return self.client.get_run(self.id)

    # ---- params / tags / metrics -------------------------------------------------------
    def _check_param(self, key: str, value: object) -> Param:
        v.check_key(key, "params.key")
        text = v.check_text(str(value), "params.value", v.MAX_PARAM_VALUE_LENGTH)
        with self._lock:
            old = self._params.setdefault(key, text)
        if old != text:
            raise ImmutableParamError(
                f"Param {key!r} is already {old!r} and cannot be changed to {text!r}: "
                "params are immutable once logged",
                field="params",
            )
        return Param(key, text)

    def log_param(self, key: str, value: object, *, synchronous: bool = False) -> None:
        self.log_params({key: value}, synchronous=synchronous)

    def log_params(self, params: Mapping[str, object], *, synchronous: bool = False) -> None:
        batch = [self._check_param(k, val) for k, val in params.items()]
        if synchronous:
            self.client.log_batch(self.id, params=batch)
        else:
            self._buffer.add(self.id, params=batch)

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        batch = []
        for key, value in tags.items():
            v.check_key(key, "tags.key")
            batch.append(RunTag(key, v.check_text(str(value), "tags.value", 8000)))
        self._buffer.add(self.id, tags=batch)

    def log_metric(
        self,
        key: str,
        value: float,
        step: int = 0,
        timestamp: int | None = None,
        *,
        synchronous: bool = False,
    ) -> None:
        """Log one metric point (NaN and +-inf allowed)."""
        self.log_metrics({key: value}, step, timestamp, synchronous=synchronous)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int = 0,
        timestamp: int | None = None,
        *,
        synchronous: bool = False,
    ) -> None:
        ts = now_ms() if timestamp is None else v.check_int64(timestamp, "timestamp")
        v.check_int64(step, "step")
        points = []
        for key, value in metrics.items():
            v.check_key(key, "metrics.key")
            points.append(Metric(key, v.check_metric_value(value, key), step, ts))
        if synchronous:
            self._buffer.flush(self.id)
            self.client.log_batch(self.id, metrics=points)
        else:
            self._buffer.add(self.id, metrics=points)

    def flush(self) -> None:
        """Write everything buffered for this run now."""
        self._buffer.flush(self.id)

    # ---- artifacts and datasets --------------------------------------------------------
    def log_artifact(
        self, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        """Store a file or directory among the run's artifacts, under ``artifact_path``."""
        path = Path(local_path)
        if not path.exists():
            raise InvalidInputError(f"No such file or directory: {path}", field="local_path")
        return self.client.log_artifact(self.id, path, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> ArtifactRecord:
        return self.client.log_bytes(self.id, text.encode("utf-8"), artifact_file)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> ArtifactRecord:
        """Store a dict as JSON (``.json``) or YAML (``.yaml``/``.yml``, PyYAML)."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(dict(data), sort_keys=False)
        else:
            text = json.dumps(data, indent=2, default=str)
        return self.log_text(text, artifact_file)

    def log_dataset(self, data: Any, name: str = "dataset", context: str = "") -> None:
        """Record a DataFrame, array or data file as an input of this run, by content digest.

        A DataFrame is scanned for personal data first (:func:`modelkeep.audit.scan_pii`):
        findings are logged as a warning, or refused (InvalidInputError, ``field="data"``)
        when ``MODELKEEP_PII_BLOCK`` is set; with blocking on, files are scanned too.
        """
        block = self.client.settings.pii_block
        if block or hasattr(data, "columns"):
            from modelkeep.audit.pii import check_before_logging

            check_before_logging(data, block=block)
        self.client.log_inputs(self.id, [describe_dataset(data, name, context)])

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        requirements: Sequence[str] | None = None,
    ) -> ModelInfo:
        """Save ``model`` as a safe, hashed package under ``name`` among the run's artifacts.

        The flavor is detected from the model's type unless given; the signature is inferred
        from ``input_example`` and the model's prediction on it unless given. The manifest
        records this run's datasets and latest metrics (buffered metrics are flushed first).

        Example:
            >>> info = run.log_model(clf, input_example=X.head(5))  # doctest: +SKIP
            >>> mk.register_model(info.uri, name="churn")
        """
        self.flush()
        return self.client.log_model(
            self.id,
            model,
            name,
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            requirements=requirements,
        )

    def log_figure(self, figure: Any, artifact_file: str) -> ArtifactRecord:
        """Save a matplotlib figure as an artifact (format from the file suffix)."""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(artifact_file).name
            figure.savefig(local)
            return self.client.log_bytes(self.id, local.read_bytes(), artifact_file)

    # ---- lifecycle ---------------------------------------------------------------------
    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Flush and end the run (idempotent)."""
        if self.ended:
            return
        final = check_status(status)
        self.ended = True

        def write_final(ms: Sequence[Metric], ps: Sequence[Param], ts: Sequence[RunTag]) -> None:
            self.client.store.finish_run(self.id, final, now_ms(), ms, ps, ts)

        try:
            self._buffer.finish(self.id, write_final)
        except BaseException:
            self.client.set_terminated(self.id, RunStatus.FAILED)
            raise
        from modelkeep.tracking import fluent

        fluent._forget(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self.name!r}>"
