"""SqlStore registry specifics: version numbers under concurrent registration, the 0001 -> 0002
upgrade, the schema matching the migrations, and the registry filter parser."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from modelkeep.exceptions import InvalidFilterError
from modelkeep.store.registry_filter import parse_registry_filter, parse_registry_order_by
from modelkeep.store.search_syntax import BoolOp, Comparison
from modelkeep.store.sql import SqlStore
from modelkeep.store.sql.migrate import VERSION_TABLE, _alembic_config, head_revision
from modelkeep.store.sql.models import metadata

PROCESSES = 8
VERSIONS_EACH = 5
DIGEST = "ab" * 32
REGISTRY_TABLES = {
    "mk_registered_models",
    "mk_registered_model_tags",
    "mk_model_versions",
    "mk_model_version_tags",
    "mk_model_aliases",
    "mk_model_alias_history",
    "mk_model_version_signatures",
}


# ---- concurrent registration -------------------------------------------------------------


def _register_versions(uri: str, start: Any, results: Any, worker: int) -> None:
    """Worker process: open the store, wait for the others, register VERSIONS_EACH versions."""
    store = SqlStore(uri)
    try:
        start.wait(timeout=120)
        numbers = [
            store.create_model_version(
                "race", f"runs:/w{worker}/{i}", DIGEST, actor=f"w{worker}"
            ).version
            for i in range(VERSIONS_EACH)
        ]
        results.put((worker, numbers))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((worker, repr(exc)))
    finally:
        store.close()


def _register_from_processes(uri: str) -> dict[int, Any]:
    # fork starts the eight at once (spawn would spend seconds importing); the parent holds no
    # open connection at that moment, so none is shared with a child
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_register_versions, args=(uri, start, results, w))
        for w in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcome = dict(results.get(timeout=300) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    return outcome


def _assert_consecutive_versions(fixture_store: SqlStore) -> None:
    fixture_store.close()  # the schema exists; workers and the checks below open their own
    outcome = _register_from_processes(fixture_store.uri)
    failures = {w: r for w, r in outcome.items() if not isinstance(r, list)}
    assert failures == {}
    numbers = sorted(n for r in outcome.values() for n in r)
    assert numbers == list(range(1, PROCESSES * VERSIONS_EACH + 1))
    for per_worker in outcome.values():  # each process sees its own numbers rise
        assert per_worker == sorted(per_worker)
    with SqlStore(fixture_store.uri) as store:
        assert store.get_registered_model("race").latest_version == PROCESSES * VERSIONS_EACH
        page = store.search_model_versions("name = 'race'", max_results=100)
        assert sorted(v.version for v in page) == numbers


def test_processes_registering_one_new_model_get_consecutive_versions_sqlite(
    sqlite_store: SqlStore,
) -> None:
    _assert_consecutive_versions(sqlite_store)


@pytest.mark.postgres
def test_processes_registering_one_new_model_get_consecutive_versions_postgres(
    postgres_store: SqlStore,
) -> None:
    _assert_consecutive_versions(postgres_store)


def test_deleted_version_number_is_not_reused(sqlite_store: SqlStore) -> None:
    sqlite_store.create_model_version("m", "runs:/a/m", DIGEST)
    sqlite_store.create_model_version("m", "runs:/a/m", DIGEST)
    sqlite_store.delete_model_version("m", 2)
    assert sqlite_store.create_model_version("m", "runs:/a/m", DIGEST).version == 3


# ---- schema: upgrade from 0001 and agreement with models.py -------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = request.getfixturevalue("postgres_database")
    name = f"mk_upgrade_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate_to(uri: str, revision: str) -> None:
    engine = sa.create_engine(uri)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_opening_a_0001_database_adds_the_registry_and_keeps_runs(empty_database: str) -> None:
    _migrate_to(empty_database, "0001")
    run_id = uuid.uuid4().hex
    engine = sa.create_engine(empty_database)
    with engine.begin() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert tables.isdisjoint(REGISTRY_TABLES)
        conn.execute(
            sa.text(
                "INSERT INTO mk_experiments (name, lifecycle_stage, creation_time, "
                "last_update_time) VALUES ('old', 'active', 1, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO mk_runs (run_id, experiment_id, name, status, start_time, "
                "lifecycle_stage) VALUES (:r, 1, 'old-run', 'FINISHED', 5, 'active')"
            ),
            {"r": run_id},
        )
    store = SqlStore(empty_database)
    try:
        assert store.get_run(run_id).name == "old-run"
        version = store.create_model_version("m", f"runs:/{run_id}/model", DIGEST, run_id=run_id)
        assert (version.version, version.run_id) == (1, run_id)
        with engine.connect() as conn:
            assert REGISTRY_TABLES <= set(sa.inspect(conn).get_table_names())
            stamp = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        assert stamp == head_revision()
    finally:
        store.close()
        engine.dispose()


def test_migrations_create_exactly_the_tables_of_models_py(empty_database: str) -> None:
    SqlStore(empty_database).close()
    engine = sa.create_engine(empty_database)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == []


# ---- the registry filter parser -----------------------------------------------------------


def test_filter_parses_fields_tags_and_aliases() -> None:
    node = parse_registry_filter(
        "name = 'churn' and tags.team = 'a' and aliases = 'champion'", "version"
    )
    assert isinstance(node, BoolOp)
    assert [(c.ident.kind, c.ident.key) for c in node.operands if isinstance(c, Comparison)] == [
        ("attribute", "name"),
        ("tag", "team"),
        ("attribute", "aliases"),
    ]


def test_filter_types_version_and_status() -> None:
    node = parse_registry_filter("version >= 3", "version")
    assert isinstance(node, Comparison) and (node.op, node.value) == (">=", 3)
    status = parse_registry_filter("status IN ('ready', 'Archived')", "version")
    assert isinstance(status, Comparison) and status.value == ("READY", "ARCHIVED")
    assert parse_registry_filter("  ", "model") is None


@pytest.mark.parametrize(
    ("text", "scope", "position", "words"),
    [
        ("version >= 3", "model", 0, "model-version field"),
        ("name = 'a' and aliases = 'x'", "model", 15, "model-version field"),
        ("nmae = 'churn'", "model", 0, "did you mean name?"),
        ("version = '3'", "version", 10, "integers"),
        ("name = 3", "model", 7, "quote the value"),
        ("status = 'LIVE'", "version", 9, "READY, ARCHIVED"),
        ("aliases > 'a'", "version", 8, "aliases compares only with"),
        ("attributes.name = 'a'", "model", 0, "write the field bare: name"),
        ("metrics.acc > 1", "version", 0, "tags.<key>"),
        ("name = 'a' and", "model", 14, "Unexpected end of input"),
    ],
)
def test_filter_errors_point_at_the_token(
    text: str, scope: Any, position: int, words: str
) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_registry_filter(text, scope)
    assert info.value.position == position
    assert info.value.field == "filter"
    assert words in str(info.value)


def test_order_by_accepts_scope_fields_only() -> None:
    keys = parse_registry_order_by(["version DESC", "name"], "version")
    assert [(k.ident.key, k.descending) for k in keys] == [("version", True), ("name", False)]
    with pytest.raises(InvalidFilterError) as info:
        parse_registry_order_by(["tags.team"], "version")
    assert (info.value.field, info.value.position) == ("order_by", 0)
    with pytest.raises(InvalidFilterError, match="model-version field"):
        parse_registry_order_by(["version"], "model")
