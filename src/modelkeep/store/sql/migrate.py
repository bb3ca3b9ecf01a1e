"""Apply Alembic migrations when a store opens, safely when several processes race.

PostgreSQL: a transaction-scoped advisory lock serialises the upgrade. SQLite: the upgrade runs
inside the ``BEGIN IMMEDIATE`` transaction of the write engine, which takes the database's write
lock. Either way the loser of the race sees the schema at head and does nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from modelkeep.store.sql.session import Engines, transaction

VERSION_TABLE = "mk_alembic_version"
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6D6B_6D69  # "mkmi": any constant shared by all modelkeep processes


@functools.cache
def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(engines: Engines) -> None:
    """Bring the schema to head (a cheap version check when it already is)."""
    with engines.read.connect() as conn:
        if current_revision(conn) == head_revision():
            return
    with transaction(engines.write) as conn:
        if engines.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        if current_revision(conn) == head_revision():
            return
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
