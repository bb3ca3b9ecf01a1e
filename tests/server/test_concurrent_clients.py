"""End to end through real uvicorn: 16 client threads log into one SQLite-backed server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi import FastAPI

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.entities import Metric, Param, RunStatus
from modelkeep.server import create_app
from modelkeep.store.rest import RestStore
from modelkeep.store.sql import SqlStore

CLIENTS = 16
RUNS_PER_CLIENT = 20
POINTS_PER_RUN = 50

ServeApp = Callable[[FastAPI], AbstractContextManager[str]]


def _log_runs(base_url: str, client_no: int, barrier: threading.Barrier) -> list[str]:
    """One client: its own RestStore, RUNS_PER_CLIENT runs, each with params and a metric curve."""
    with RestStore(base_url) as store:
        barrier.wait(timeout=60)  # start together, so the requests really overlap
        experiment = store.get_or_create_experiment("load")
        run_ids = []
        for run_no in range(RUNS_PER_CLIENT):
            run = store.create_run(experiment.id, run_name=f"c{client_no}-r{run_no}")
            points = [
                Metric("loss", 1 / (step + 1), step, 1000 + step) for step in range(POINTS_PER_RUN)
            ]
            params = [Param("client", str(client_no)), Param("run", str(run_no))]
            store.log_batch(run.id, metrics=points, params=params)
            store.log_metric(run.id, "acc", run_no / 100, step=0)
            store.update_run(run.id, status=RunStatus.FINISHED)
            run_ids.append(run.id)
        return run_ids


@pytest.mark.slow
def test_sixteen_concurrent_clients_lose_nothing(tmp_path: Path, serve_app: ServeApp) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    app = create_app(Settings(home=tmp_path), store, LocalArtifactStore(tmp_path / "artifacts"))
    barrier = threading.Barrier(CLIENTS)
    with serve_app(app) as base_url, ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_log_runs, base_url, n, barrier) for n in range(CLIENTS)]
        run_ids = [run_id for future in futures for run_id in future.result()]
    assert len(set(run_ids)) == CLIENTS * RUNS_PER_CLIENT
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run.status is RunStatus.FINISHED
        assert set(run.params) == {"client", "run"}
        assert len(store.get_metric_history(run_id, "loss")) == POINTS_PER_RUN
        assert len(store.get_metric_history(run_id, "acc")) == 1
    store.close()


@pytest.mark.slow
def test_all_runs_are_found_by_search_after_concurrent_logging(
    tmp_path: Path, serve_app: ServeApp
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    app = create_app(Settings(home=tmp_path), store, LocalArtifactStore(tmp_path / "artifacts"))
    barrier = threading.Barrier(4)
    with serve_app(app) as base_url, ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(_log_runs, base_url, n, barrier) for n in range(4)]:
            future.result()
        with RestStore(base_url) as client:
            experiment = client.get_experiment_by_name("load")
            assert experiment is not None
            found = client.search_runs([experiment.id], "metrics.loss < 1", max_results=1000)
    assert len(found) == 4 * RUNS_PER_CLIENT
    store.close()
