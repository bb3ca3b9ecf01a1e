"""The audit log (admin role): ``GET /api/v1/audit-events``, newest first.

Query parameters: ``actor``, ``action`` (exact), ``target_prefix``, ``since_ms``, ``until_ms``
(epoch milliseconds, inclusive) and ``max_results`` (1000). Events are never changed or removed
through the API; the server records them itself for every change a request makes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from modelkeep.entities import Role
from modelkeep.server.deps import StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas_audit import AuditEventList, AuditEventPublic

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/audit-events",
    tags=["audit"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require(Role.ADMIN))],
)


@router.get("")
def list_audit_events(
    store: StoreDep,
    actor: str | None = None,
    action: str | None = None,
    target_prefix: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    max_results: int = 1000,
) -> AuditEventList:
    """Recorded changes matching the filters, newest first."""
    found = store.list_audit_events(
        actor=actor,
        action=action,
        target_prefix=target_prefix,
        since_ms=since_ms,
        until_ms=until_ms,
        max_results=max_results,
    )
    return AuditEventList(events=[AuditEventPublic.from_entity(e) for e in found])
