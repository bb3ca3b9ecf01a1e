"""Wire schemas of the audit-log API, shared by the server and :class:`RestStore`."""

from __future__ import annotations

from modelkeep.server.schemas import _Public
from modelkeep.store.audit import AuditEvent

__all__ = ["AuditEventList", "AuditEventPublic"]


class AuditEventPublic(_Public):
    id: int
    timestamp: int
    actor: str
    action: str
    target: str
    detail: str
    source: str

    @classmethod
    def from_entity(cls, event: AuditEvent) -> AuditEventPublic:
        return cls(**event.to_dict())

    def to_entity(self) -> AuditEvent:
        return AuditEvent(
            self.id, self.timestamp, self.actor, self.action, self.target, self.detail, self.source
        )


class AuditEventList(_Public):
    events: list[AuditEventPublic]
