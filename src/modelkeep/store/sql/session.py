"""Engines and the one transaction helper every SqlStore method goes through.

SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable against a
crash of the process; an OS crash may lose the last commits, as in any WAL setup), a 60 s busy
timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so a writer waits for the lock
up front instead of failing with "database is locked" when it upgrades a read lock. Reads use a
second engine with plain ``BEGIN`` so they never queue behind writers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy.exc as sa_exc
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from modelkeep.exceptions import InvalidInputError, StoreError, StoreUnavailableError

BUSY_TIMEOUT_MS = 60_000


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _make_sqlite_engine(uri: str, *, immediate: bool) -> Engine:
    engine = create_engine(uri, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def _begin(conn: Connection) -> None:
        # straight to the driver: this runs before every transaction
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(begin_sql)

    event.listen(engine, "begin", _begin)
    return engine


class Engines:
    """The write engine and the read engine of one database (the same object off SQLite)."""

    def __init__(self, uri: str) -> None:
        try:
            url = make_url(uri)
        except sa_exc.ArgumentError as exc:
            raise InvalidInputError(f"Not a database URI: {uri!r}", field="uri") from exc
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            db = url.database or ""
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            self.write = _make_sqlite_engine(uri, immediate=True)
            self.read = _make_sqlite_engine(uri, immediate=False)
        elif self.dialect == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            self.write = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
            self.read = self.write
        else:
            raise InvalidInputError(
                f"Unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://",
                field="uri",
            )

    def dispose(self) -> None:
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def map_db_error(exc: sa_exc.SQLAlchemyError) -> StoreError:
    """Turn a database error that is not the caller's fault into a modelkeep StoreError."""
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(exc.orig) if getattr(exc, "orig", None) is not None else str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(f"The database stayed locked too long: {text}")
        return StoreUnavailableError(f"The database could not be reached: {text}")
    return StoreError(f"Database error: {exc.__class__.__name__}: {exc}")


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: commit on success, roll back on any error.

    modelkeep errors raised inside pass through unchanged; SQLAlchemy errors that escape are
    mapped to :class:`StoreError` (callers catch IntegrityError themselves where it means
    something, such as a duplicate name).
    """
    try:
        with engine.begin() as conn:
            yield conn
    except sa_exc.IntegrityError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        raise map_db_error(exc) from exc


def scalar_or_none(conn: Connection, stmt: Any) -> Any:
    return conn.execute(stmt).scalar_one_or_none()
