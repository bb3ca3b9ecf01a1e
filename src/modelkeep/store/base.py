"""The metadata-store contract.

Every backend (:class:`~modelkeep.store.sql.SqlStore` for SQLite and PostgreSQL,
:class:`~modelkeep.store.rest.RestStore` over HTTP) implements :class:`BaseStore` and passes the
conformance suite in :mod:`modelkeep.testing.store_conformance`.

Invariants every backend keeps:

* Returned objects are frozen snapshots (:mod:`modelkeep.entities`); mutating the store never
  changes an object already returned.
* Params are immutable: logging a key again with the same value is a no-op, with a different
  value raises :class:`~modelkeep.exceptions.ImmutableParamError` and changes nothing.
* ``log_batch`` is atomic: either every point, param and tag of the call is stored or none.
* Metric values may be NaN or +-inf. The full history is kept; ``Run.metrics`` holds the
  *latest* value of each key: the point with the highest step, then the highest timestamp.
* Unknown ids raise :class:`~modelkeep.exceptions.NotFoundError`; bad values raise
  :class:`~modelkeep.exceptions.InvalidInputError` naming the field.
* Every successful mutating call (here and in the registry half) appends exactly one
  :class:`~modelkeep.store.audit.AuditEvent` per change it was asked for (``finish_run`` is a
  ``log_batch`` and an ``update_run``), in the same transaction, under the current audit subject
  (:func:`~modelkeep.store.audit.audit_context`); reads and failed calls record nothing. The log
  is append-only: no method changes or removes an event.

Thread safety: a store object may be shared by threads; each method call is independent. Several
processes may open the same database at once (including a fresh one: migrations are serialised).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from modelkeep.entities import (
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    Experiment,
    Metric,
    Page,
    Param,
    Role,
    Run,
    RunStatus,
    RunTag,
    now_ms,
)
from modelkeep.store.audit import AuditEvent
from modelkeep.store.registry_base import RegistryStore

__all__ = ["BaseStore", "RunView"]

RunView = str  # "active" | "deleted" | "all"


class BaseStore(RegistryStore, abc.ABC):
    """Abstract metadata store: experiments, runs, metrics, params, tags, inputs, artifacts,
    and the model registry (:class:`~modelkeep.store.registry_base.RegistryStore`)."""

    # ---- experiments -------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        """Create an experiment. Raises AlreadyExistsError if the name is taken."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment or raise NotFoundError."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name (active or deleted), or None."""

    @abc.abstractmethod
    def list_experiments(self, view: RunView = "active") -> list[Experiment]:
        """Experiments in ``view`` ("active", "deleted" or "all"), ordered by name."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete: mark the experiment and hide it from the default listing."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`."""

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""

    # ---- runs --------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Create a RUNNING run. A missing name gets a generated one."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return the run snapshot or raise NotFoundError."""

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> None:
        """Change status, end time and/or name (``get_run`` gives the new snapshot)."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run`."""

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Atomically store metric points, params and tags of one run."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point logged for ``key``, ordered by step, then timestamp."""

    @abc.abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets the run consumed; the same (name, digest, context) twice is a no-op."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> Page[Run]:
        """Runs of the experiments matching ``filter_string``, sorted by ``order_by``.

        The filter language: ``metrics.X``, ``params.X``, ``tags.X`` and
        ``attributes.{status,run_name,start_time,end_time}`` compared with
        ``= != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL``, combined with ``and``,
        ``or`` and parentheses. Order keys take ``ASC``/``DESC``; NULLs sort last. Without
        ``order_by`` runs come newest first. The page token is opaque.
        """

    # ---- artifacts ---------------------------------------------------------------------
    @abc.abstractmethod
    def record_artifact(self, run_id: str, path: str, digest: str, size: int) -> ArtifactRecord:
        """Map the logical ``path`` of a run's artifact tree to a blob digest (last write wins)."""

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        """Artifact records of a run whose path is ``prefix`` or lies under it, sorted by path."""

    @abc.abstractmethod
    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        """One artifact record, or NotFoundError."""

    # ---- API tokens --------------------------------------------------------------------
    @abc.abstractmethod
    def create_token(self, name: str, role: Role, token_hash: str) -> ApiToken:
        """Store a token's hash (never the secret) with its role."""

    @abc.abstractmethod
    def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token with this hash, revoked or not, or None."""

    @abc.abstractmethod
    def list_tokens(self) -> list[ApiToken]:
        """All tokens, oldest first."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str) -> None:
        """Mark a token revoked; it stops authenticating at once."""

    # ---- audit log ---------------------------------------------------------------------
    @abc.abstractmethod
    def list_audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        max_results: int = 1000,
    ) -> list[AuditEvent]:
        """Recorded changes, newest first, at most ``max_results`` (1 to 50,000).

        ``actor`` and ``action`` match exactly; ``target_prefix`` matches targets that start
        with it (``run:<id>``, ``model:churn/`` for the versions of ``churn``); ``since_ms`` and
        ``until_ms`` bound the timestamp, both inclusive. Over HTTP this needs an admin token.
        """

    # ---- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Release connections. The store must not be used afterwards."""

    # ---- helpers built only from the abstract methods ------------------------------------
    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Log one metric point."""
        ts = now_ms() if timestamp is None else timestamp
        self.log_batch(run_id, metrics=[Metric(key, float(value), step, ts)])

    def log_param(self, run_id: str, key: str, value: object) -> None:
        """Log one param (stringified)."""
        self.log_batch(run_id, params=[Param(key, str(value))])

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        """Set one run tag (stringified); tags may be overwritten."""
        self.log_batch(run_id, tags=[RunTag(key, str(value))])

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log a last batch and end the run (one transaction where the backend can)."""
        if metrics or params or tags:
            self.log_batch(run_id, metrics, params, tags)
        self.update_run(run_id, status=status, end_time=end_time)

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name`` (which may be deleted), created if missing."""
        found = self.get_experiment_by_name(name)
        if found is not None:
            return found
        from modelkeep.exceptions import AlreadyExistsError

        try:
            return self.create_experiment(name)
        except AlreadyExistsError:  # another process won the race
            again = self.get_experiment_by_name(name)
            assert again is not None
            return again

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
