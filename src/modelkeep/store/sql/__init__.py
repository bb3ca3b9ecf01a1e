"""SQL backend (SQLite, PostgreSQL) of the metadata store."""

from __future__ import annotations

from modelkeep.store.sql.store import SqlStore

__all__ = ["SqlStore"]
