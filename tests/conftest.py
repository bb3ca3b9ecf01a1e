"""Shared fixtures: a fresh ``store`` per test, over SQLite, PostgreSQL and REST.

PostgreSQL tests use ``MODELKEEP_TEST_POSTGRES_URI`` (default: the local server's ``test``
database as user ``postgres``). They skip when no server answers, except in CI (``CI=true``),
where they fail: CI has a server, so a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelkeep.store.base import BaseStore
from modelkeep.store.sql import SqlStore

PG_ADMIN_URI = os.environ.get(
    "MODELKEEP_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_unreachable_reason() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URI, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return f"PostgreSQL not reachable at {PG_ADMIN_URI}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this test session (dropped afterwards)."""
    reason = _pg_unreachable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"mk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URI).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(uri: str) -> None:
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        names = conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename LIKE 'mk\\_%' AND tablename <> 'mk_alembic_version'"
            )
        ).scalars()
        tables = ", ".join(f'"{n}"' for n in names)
        if tables:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_database: str) -> Iterator[SqlStore]:
    store = SqlStore(postgres_database)
    _truncate_all(postgres_database)
    yield store
    store.close()


@pytest.fixture
def rest_store(tmp_path: Path) -> Iterator[BaseStore]:
    from fastapi.testclient import TestClient

    from modelkeep.artifacts import LocalArtifactStore
    from modelkeep.config import Settings
    from modelkeep.server import create_app
    from modelkeep.store.rest import RestStore

    backing = SqlStore(f"sqlite:///{tmp_path / 'server.db'}")
    settings = Settings(home=tmp_path / "home")
    app = create_app(settings, backing, LocalArtifactStore(tmp_path / "artifacts"))
    with TestClient(app) as http:
        store = RestStore("http://testserver", client=http)
        yield store
        store.close()
    backing.close()


@pytest.fixture(params=["sqlite", "postgresql", "rest"])
def store(request: pytest.FixtureRequest) -> BaseStore:
    """A fresh, empty store of each backend."""
    fixture = {"sqlite": "sqlite_store", "postgresql": "postgres_store", "rest": "rest_store"}
    backend: BaseStore = request.getfixturevalue(fixture[request.param])
    return backend
