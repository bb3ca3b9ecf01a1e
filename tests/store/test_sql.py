"""SqlStore specifics: SQLite settings, our own table prefix and version table, migrations."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelkeep.exceptions import InvalidInputError, StoreUnavailableError
from modelkeep.store import open_store
from modelkeep.store.sql import SqlStore
from modelkeep.store.sql.migrate import head_revision


def test_sqlite_store_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    store.create_experiment("x")
    raw = sa.create_engine(f"sqlite:///{tmp_path / 'mk.db'}")
    with raw.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    raw.dispose()
    with store._engines.read.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    store.close()


def test_tables_have_mk_prefix_and_own_version_table(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # another tool's tables, e.g. an Optuna study
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('optuna-v3')")
        conn.exec_driver_sql("CREATE TABLE studies (study_id INTEGER PRIMARY KEY)")
    SqlStore(f"sqlite:///{path}").close()
    names = set(sa.inspect(engine).get_table_names())
    assert {"alembic_version", "studies"} <= names
    assert all(n.startswith("mk_") for n in names - {"alembic_version", "studies"})
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
            "optuna-v3"
        )
        assert conn.exec_driver_sql("SELECT version_num FROM mk_alembic_version").scalar() == (
            head_revision()
        )
    engine.dispose()


def test_reopening_keeps_data(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    first = SqlStore(uri)
    exp = first.create_experiment("kept")
    first.close()
    second = SqlStore(uri)
    assert second.get_experiment(exp.id).name == "kept"
    second.close()


def test_unsupported_uri_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError) as info:
        open_store("mysql://nowhere/db")
    assert info.value.field == "uri"


def test_unreachable_postgres_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError):
        SqlStore("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")


@pytest.mark.postgres
def test_concurrent_open_of_fresh_postgres_database_migrates_once(postgres_database: str) -> None:
    admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    name = f"mk_race_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    uri = sa.engine.make_url(postgres_database).set(database=name).render_as_string(False)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            store = SqlStore(uri)
            store.get_or_create_experiment("race")
            store.close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        store = SqlStore(uri)
        assert [e.name for e in store.list_experiments()] == ["race"]
        store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
