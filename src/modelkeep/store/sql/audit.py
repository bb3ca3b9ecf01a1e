"""The SQL side of the audit log: one row insert per change, and the listing.

:func:`record` runs inside the caller's transaction, so an event is stored exactly when its
change commits. It is one prepared INSERT on the raw DB-API cursor (like the ``log_batch`` path
in :mod:`~modelkeep.store.sql.batch`), because ``log_batch`` calls it on every batch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from modelkeep.entities import now_ms
from modelkeep.store.audit import (
    AuditEvent,
    check_audit_text,
    check_audit_window,
    current_audit_subject,
    detail_json,
)
from modelkeep.store.sql import models as m
from modelkeep.store.sql.batch import cursor
from modelkeep.store.sql.session import transaction

if TYPE_CHECKING:
    from modelkeep.store.sql.session import Engines

__all__ = ["AuditMixin", "record"]

_T = m.audit_events
_INSERT = (
    "INSERT INTO mk_audit_events (timestamp, actor, action, target, detail, source) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


@functools.cache
def _insert_sql(dialect: str) -> str:
    return _INSERT.replace("?", "%s") if dialect == "postgresql" else _INSERT


def record(
    conn: Connection,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    *,
    cur: Any = None,
) -> None:
    """Append one event for a change made in ``conn``'s transaction.

    Args:
        conn: the transaction of the change.
        action: the store method's name.
        target: what changed (``run:<id>``, ``model:<name>/<version>``...).
        detail: the arguments that matter; never secrets or content.
        cur: a DB-API cursor of ``conn`` to reuse (saves one on the hot path).
    """
    subject = current_audit_subject()
    row = (now_ms(), subject.actor, action, target, detail_json(detail), subject.source)
    (cur if cur is not None else cursor(conn)).execute(_insert_sql(conn.dialect.name), row)


class AuditMixin:
    """``list_audit_events`` of SqlStore."""

    _engines: Engines

    def list_audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        max_results: int = 1000,
    ) -> list[AuditEvent]:
        since, until, limit = check_audit_window(since_ms, until_ms, max_results)
        stmt = select(_T).order_by(_T.c.id.desc()).limit(limit)
        if (actor := check_audit_text(actor, "actor")) is not None:
            stmt = stmt.where(_T.c.actor == actor)
        if (action := check_audit_text(action, "action")) is not None:
            stmt = stmt.where(_T.c.action == action)
        if prefix := check_audit_text(target_prefix, "target_prefix"):
            # substr, not LIKE: a prefix may hold % or _, and SQLite's LIKE ignores case
            stmt = stmt.where(func.substr(_T.c.target, 1, len(prefix)) == prefix)
        if since is not None:
            stmt = stmt.where(_T.c.timestamp >= since)
        if until is not None:
            stmt = stmt.where(_T.c.timestamp <= until)
        with transaction(self._engines.read) as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEvent(r.id, r.timestamp, r.actor, r.action, r.target, r.detail, r.source)
            for r in rows
        ]
