"""Fixtures for the tracking server: a real SQLite store, a local blob store, in-process apps.

Starlette 1.x warns when its TestClient runs on ``httpx`` rather than ``httpx2``; RestStore is
built on ``httpx``, so the warning is silenced here, once, where TestClient is first imported.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.server import create_app
from modelkeep.server.auth import create_api_token
from modelkeep.store.sql import SqlStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

MAX_JSON_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Secrets:
    """Bearer secrets of one token per role, plus a revoked writer token."""

    reader: str
    writer: str
    admin: str
    revoked: str

    def header(self, role: Role | None) -> dict[str, str]:
        if role is None:
            return {}
        return {"Authorization": f"Bearer {getattr(self, role.value)}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        max_json_bytes=MAX_JSON_BYTES,
        max_body_bytes=MAX_BODY_BYTES,
    )


@pytest.fixture
def sql_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    yield store
    store.close()


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def blobs(blob_root: Path) -> LocalArtifactStore:
    return LocalArtifactStore(blob_root)


@pytest.fixture
def app(settings: Settings, sql_store: SqlStore, blobs: LocalArtifactStore) -> FastAPI:
    return create_app(settings, sql_store, blobs)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def auth_app(settings: Settings, sql_store: SqlStore, blobs: LocalArtifactStore) -> FastAPI:
    return create_app(settings, sql_store, blobs, auth_enabled=True)


@pytest.fixture
def auth_client(auth_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(auth_app) as test_client:
        yield test_client


@pytest.fixture
def secrets(sql_store: SqlStore) -> Secrets:
    made = {role: create_api_token(sql_store, role.value, role)[1] for role in Role}
    revoked_token, revoked_secret = create_api_token(sql_store, "old", Role.WRITER)
    sql_store.revoke_token(revoked_token.id)
    return Secrets(made[Role.READER], made[Role.WRITER], made[Role.ADMIN], revoked_secret)


@pytest.fixture
def experiment_id(sql_store: SqlStore) -> str:
    return sql_store.create_experiment("server-tests").id


@pytest.fixture
def run_id(sql_store: SqlStore, experiment_id: str) -> str:
    return sql_store.create_run(experiment_id, run_name="r").id


@pytest.fixture
def missing_run() -> str:
    return "0" * 32


@contextlib.contextmanager
def _running_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with real uvicorn on 127.0.0.1 (ephemeral port) in a thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, deadline)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_until_healthy(base_url: str, deadline: float) -> None:
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{base_url}/health never answered"
        time.sleep(0.05)


ServeApp = Callable[[FastAPI], contextlib.AbstractContextManager[str]]


@pytest.fixture(scope="session")
def serve_app() -> ServeApp:
    """``with serve_app(app) as base_url:`` runs ``app`` on real uvicorn until the block ends."""
    return _running_server
