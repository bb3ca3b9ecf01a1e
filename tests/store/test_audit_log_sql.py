"""SqlStore audit-log specifics: the database refuses UPDATE and DELETE on the log, the event
and its change share one transaction, migration 0004 up and down, and who is recorded."""

from __future__ import annotations

import getpass
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from modelkeep.entities import Metric
from modelkeep.store.audit import audit_context
from modelkeep.store.sql import SqlStore
from modelkeep.store.sql.migrate import _alembic_config, head_revision


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    store: SqlStore = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = request.getfixturevalue("postgres_database")
    name = f"mk_audit_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _alembic(uri: str, step: str, revision: str) -> None:
    engine = sa.create_engine(uri)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, step)(cfg, revision)
    engine.dispose()


def _execute(uri: str, sql: str) -> None:
    engine = sa.create_engine(uri)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE mk_audit_events SET actor = 'mallory'",
        "DELETE FROM mk_audit_events",
        "DELETE FROM mk_audit_events WHERE action = 'create_experiment'",
    ],
)
def test_the_database_refuses_to_change_or_remove_events(
    sql_store: SqlStore, statement: str
) -> None:
    sql_store.create_experiment("kept")
    before = sql_store.list_audit_events()
    with pytest.raises(sa.exc.IntegrityError, match="append-only"):
        _execute(sql_store.uri, statement)
    assert sql_store.list_audit_events() == before
    assert [e.actor for e in before] != ["mallory"]


def test_a_failing_audit_write_undoes_the_change(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    try:
        run = store.create_run(store.create_experiment("e").id)
        _execute(
            store.uri,
            "CREATE TRIGGER audit_down AFTER INSERT ON mk_audit_events "
            "WHEN NEW.action = 'log_batch' BEGIN SELECT RAISE(ABORT, 'audit is down'); END",
        )
        with pytest.raises(sqlite3.IntegrityError, match="audit is down"):
            store.log_batch(run.id, metrics=[Metric("loss", 1.0, 0, 1)])
        assert store.get_run(run.id).metrics == {}
        assert store.get_metric_history(run.id, "loss") == []
        assert [e.action for e in store.list_audit_events()] == ["create_run", "create_experiment"]
    finally:
        store.close()


def test_migration_0004_adds_the_log_to_a_0003_database_and_removes_it_again(
    empty_database: str,
) -> None:
    _alembic(empty_database, "upgrade", "0003")
    _execute(
        empty_database,
        "INSERT INTO mk_experiments (name, lifecycle_stage, creation_time, last_update_time) "
        "VALUES ('old', 'active', 1, 1)",
    )
    with SqlStore(empty_database) as store:
        assert store.list_audit_events() == []
        store.set_experiment_tag(store.list_experiments()[0].id, "k", "v")
        assert [e.action for e in store.list_audit_events()] == ["set_experiment_tag"]
    _alembic(empty_database, "downgrade", "0003")
    engine = sa.create_engine(empty_database)
    with engine.connect() as conn:
        assert "mk_audit_events" not in sa.inspect(conn).get_table_names()
    engine.dispose()
    with SqlStore(empty_database) as store:  # upgrades again: the triggers are back
        assert store.list_audit_events() == []
        store.create_experiment("new")
    with pytest.raises(sa.exc.IntegrityError, match="append-only"):
        _execute(empty_database, "DELETE FROM mk_audit_events")
    assert head_revision() == "0004"


def test_default_subject_is_the_os_user_on_this_host(sqlite_store: SqlStore) -> None:
    sqlite_store.create_experiment("e")
    (event,) = sqlite_store.list_audit_events()
    user = getpass.getuser()
    assert event.actor == user
    assert event.source == f"local:{user}@{socket.gethostname()}"


def test_audit_context_can_name_the_source(sqlite_store: SqlStore) -> None:
    with audit_context(source="cron:nightly"):
        sqlite_store.create_experiment("e")
    with audit_context(actor="bad\nactor\x00", source="  "):
        sqlite_store.create_experiment("f")
    second, first = sqlite_store.list_audit_events()
    assert (first.actor, first.source) == (getpass.getuser(), "cron:nightly")
    assert second.actor == "bad?actor?"
    assert second.source.startswith("local:")


def test_threads_record_their_own_actor(sqlite_store: SqlStore) -> None:
    run = sqlite_store.create_run(sqlite_store.create_experiment("e").id)
    start = threading.Barrier(4)

    def work(name: str) -> None:
        with audit_context(actor=name):
            start.wait(timeout=30)
            for step in range(10):
                sqlite_store.log_metric(run.id, name, float(step), step=step)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for i in range(4):
        assert len(sqlite_store.list_audit_events(actor=f"worker-{i}")) == 10
    assert len(sqlite_store.list_audit_events(action="log_batch")) == 40
