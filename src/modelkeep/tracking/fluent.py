"""The module-level tracking API: ``mk.set_tracking_uri``, ``mk.start_run``, ``mk.search_runs``.

Like MLflow's fluent API this keeps a little process-wide state: the tracking URI and one
cached :class:`Client` (with its metric buffer) per URI, so a store is opened and migrated once.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from modelkeep.config import Settings
from modelkeep.entities import Metric, Page, Run, RunStatus
from modelkeep.exceptions import ConflictError, InvalidInputError, NotFoundError
from modelkeep.tracking.active_run import ActiveRun
from modelkeep.tracking.buffer import MetricBuffer
from modelkeep.tracking.client import Client

_lock = threading.Lock()
_tracking_uri: str | None = None
_clients: dict[str, tuple[Client, MetricBuffer]] = {}
_active: list[ActiveRun] = []
_experiment_ids: dict[tuple[str, str], str] = {}

DEFAULT_EXPERIMENT = "Default"


def set_tracking_uri(uri: str | None) -> None:
    """Point the fluent API at a store: ``sqlite:///f.db``, ``postgresql+psycopg://...``,
    ``http://host:port``; ``None`` goes back to the default (``./.modelkeep``)."""
    global _tracking_uri
    _tracking_uri = uri


def get_tracking_uri() -> str:
    """The URI in force: ``set_tracking_uri``, else ``MODELKEEP_TRACKING_URI``, else the
    SQLite file under ``MODELKEEP_HOME`` (default ``./.modelkeep``)."""
    if _tracking_uri:
        return _tracking_uri
    return Settings().resolved_tracking_uri()


def _client_and_buffer() -> tuple[Client, MetricBuffer]:
    uri = get_tracking_uri()
    with _lock:
        pair = _clients.get(uri)
        if pair is None:
            client = Client(uri)
            pair = (client, MetricBuffer(client.store.log_batch))
            _clients[uri] = pair
        return pair


def _experiment_id(client: Client, experiment: str | None) -> str:
    name = experiment or os.environ.get("MODELKEEP_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    cached = _experiment_ids.get((client.uri, name))
    if cached is not None:
        return cached  # create_run still refuses it if it was deleted since
    exp = client.get_or_create_experiment(name)
    if exp.lifecycle_stage != "active":
        raise ConflictError(
            f"Experiment {name!r} is deleted; restore it or use another name", field="experiment"
        )
    _experiment_ids[(client.uri, name)] = exp.id
    return exp.id


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, object] | None = None,
    parent: ActiveRun | Run | str | None = None,
) -> ActiveRun:
    """Start a run and return it; use it as a context manager.

    Args:
        experiment: experiment name (created if missing); default ``MODELKEEP_EXPERIMENT_NAME``
            or ``"Default"``.
        run_name: display name; generated when omitted.
        tags: initial tags.
        parent: the parent run (object or id) for nested runs.

    Example:
        >>> import modelkeep as mk
        >>> with mk.start_run(experiment="churn") as run:  # doctest: +SKIP
        ...     run.log_param("lr", 0.1)
        ...     run.log_metric("loss", 0.3, step=1)
    """
    client, buffer = _client_and_buffer()
    parent_id = parent if isinstance(parent, str) or parent is None else parent.id
    run = client.create_run(
        _experiment_id(client, experiment),
        run_name=run_name,
        tags={k: str(val) for k, val in (tags or {}).items()},
        parent_run_id=parent_id,
    )
    active = ActiveRun(client, buffer, run)
    with _lock:
        _active.append(active)
    return active


def active_run() -> ActiveRun | None:
    """The most recently started run that has not ended, if any."""
    with _lock:
        return _active[-1] if _active else None


def _forget(run: ActiveRun) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the most recent active run."""
    run = active_run()
    if run is not None:
        run.end(status)


def get_run(run_id: str) -> Run:
    """Snapshot of a run (params, latest metrics, tags, inputs)."""
    client, buffer = _client_and_buffer()
    buffer.flush(run_id)
    return client.get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point logged for a metric, by step then time."""
    client, buffer = _client_and_buffer()
    buffer.flush(run_id)
    return client.get_metric_history(run_id, key)


def search_runs(
    experiments: Sequence[str] | None = None,
    filter: str = "",  # noqa: A002 - the public name the issue fixes
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
    output: Literal["list", "pandas"] = "list",
    view: str = "active",
) -> Any:
    """Search runs of the named experiments (default: all active ones).

    Returns a :class:`~modelkeep.entities.Page` of runs (with ``next_page_token``), or a
    pandas DataFrame with ``output="pandas"`` (one row per run; ``metrics.*``, ``params.*``,
    ``tags.*`` columns).
    """
    client, buffer = _client_and_buffer()
    buffer.flush()
    if experiments is None:
        ids = [e.id for e in client.list_experiments()]
    else:
        ids = []
        for name in experiments:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise NotFoundError(f"No experiment named {name!r}", field="experiments")
            ids.append(exp.id)
    page = client.search_runs(ids, filter, order_by, max_results, page_token, view)
    if output == "pandas":
        return runs_to_frame(page)
    if output != "list":
        raise InvalidInputError("output must be 'list' or 'pandas'", field="output")
    return page


def runs_to_frame(runs: Page[Run] | list[Run]) -> Any:
    """One row per run: attributes plus ``metrics.*``, ``params.*`` and ``tags.*`` columns."""
    import pandas as pd

    records = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "run_name": run.name,
            "status": run.status.value,
            "start_time": pd.to_datetime(run.start_time, unit="ms", utc=True),
            "end_time": None
            if run.end_time is None
            else pd.to_datetime(run.end_time, unit="ms", utc=True),
            "parent_run_id": run.parent_run_id,
        }
        row.update({f"metrics.{k}": val for k, val in run.metrics.items()})
        row.update({f"params.{k}": val for k, val in run.params.items()})
        row.update({f"tags.{k}": val for k, val in run.tags.items()})
        records.append(row)
    return pd.DataFrame.from_records(records)


def reset() -> None:
    """Flush and forget cached clients (tests and long-lived processes switching stores)."""
    with _lock:
        pairs = list(_clients.values())
        _clients.clear()
        _active.clear()
        _experiment_ids.clear()
    for client, buffer in pairs:
        buffer.close()
        client.close()


@atexit.register
def _end_active_runs_at_exit() -> None:
    for run in list(_active):
        try:
            run.end(RunStatus.FINISHED)
        except Exception:  # noqa: BLE001 - the interpreter is exiting; nothing to report to
            pass
