"""``Client``: the explicit (non-fluent) tracking API over one store and its artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelkeep.artifacts import (
    BaseRunArtifactRepository,
    LocalArtifactStore,
    StoreArtifactRepository,
)
from modelkeep.config import Settings
from modelkeep.entities import (
    ArtifactRecord,
    DatasetInput,
    Experiment,
    Metric,
    Page,
    Param,
    Run,
    RunStatus,
    RunTag,
    now_ms,
)
from modelkeep.store import BaseStore, open_store
from modelkeep.store.validation import check_status
from modelkeep.tracking.client_model_files import ModelFilesMixin

__all__ = ["Client"]


def _artifact_repository(store: BaseStore, settings: Settings) -> BaseRunArtifactRepository:
    from modelkeep.store.rest import RestStore
    from modelkeep.store.rest_artifacts import RestArtifactRepository

    if isinstance(store, RestStore):
        return RestArtifactRepository(store)
    return StoreArtifactRepository(store, LocalArtifactStore(settings.resolved_artifact_root()))


class Client(ModelFilesMixin):
    """Low-level tracking client: every call goes straight to the store.

    Args:
        uri: tracking URI; ``None`` uses the current one (``mk.set_tracking_uri``, then
            ``MODELKEEP_TRACKING_URI``, then ``./.modelkeep``).
        store: an already open store to use instead of opening ``uri``.
        settings: configuration; read from the environment when omitted.

    Example:
        >>> client = Client("sqlite:///mk.db")  # doctest: +SKIP
        >>> run = client.create_run(client.get_or_create_experiment("churn").id)
        >>> client.log_batch(run.id, metrics=[Metric("acc", 0.9, 0, now_ms())])
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        store: BaseStore | None = None,
        settings: Settings | None = None,
    ) -> None:
        from modelkeep.tracking.fluent import get_tracking_uri

        self.settings = settings or Settings()
        if store is None:
            self.uri = uri or get_tracking_uri()
            # artifacts live next to *this* store, not the one the environment names
            self.settings = self.settings.model_copy(update={"tracking_uri": self.uri})
            if self.uri.startswith(("http://", "https://")):
                store = open_store(self.uri, token=self.settings.tracking_token)
            else:
                store = open_store(self.uri)
        else:
            self.uri = uri or repr(store)
        self.store = store
        self._artifacts: BaseRunArtifactRepository | None = None

    @property
    def artifacts(self) -> BaseRunArtifactRepository:
        """The run artifact repository (local blob store, or the server's)."""
        if self._artifacts is None:
            self._artifacts = _artifact_repository(self.store, self.settings)
        return self._artifacts

    def close(self) -> None:
        self.store.close()

    # ---- experiments -------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        return self.store.create_experiment(name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        return self.store.get_or_create_experiment(name)

    def list_experiments(self, view: str = "active") -> list[Experiment]:
        return self.store.list_experiments(view)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    # ---- runs --------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        return self.store.create_run(experiment_id, run_name, tags, parent_run_id, start_time)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def set_terminated(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        end_time: int | None = None,
    ) -> None:
        """End a run with ``status`` (FINISHED, FAILED or KILLED)."""
        final = check_status(status)
        self.store.update_run(run_id, final, end_time or now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Atomically log many metric points, params and tags (written at once)."""
        self.store.log_batch(run_id, metrics, params, tags)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        self.store.log_metric(run_id, key, value, step, timestamp)

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.store.log_param(run_id, key, value)

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.store.set_tag(run_id, key, value)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.store.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(run_id, key)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
    ) -> Page[Run]:
        return self.store.search_runs(
            experiment_ids, filter_string, order_by, max_results, page_token, view
        )

    # ---- artifacts ---------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        """Upload a file (or a directory, recursively) under ``artifact_path``."""
        path = Path(local_path)
        if path.is_dir():
            return self.artifacts.log_dir(run_id, path, artifact_path)
        return [self.artifacts.log_file(run_id, path, artifact_path)]

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> ArtifactRecord:
        return self.artifacts.log_bytes(run_id, data, artifact_file)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactRecord]:
        return self.artifacts.list(run_id, path)

    def download_artifacts(self, run_id: str, path: str, dst: str | Path) -> Path:
        return self.artifacts.download(run_id, path, Path(dst))

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return self.artifacts.read_bytes(run_id, path)

    def __repr__(self) -> str:
        return f"Client({self.uri!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
