"""The audit-log half of :class:`~modelkeep.store.rest.RestStore`, over HTTP.

Listing needs an admin token on a server with authentication. The events themselves are
written by the server's store, under the API token's name and the client's address; a server
without authentication takes the actor the client names in the ``X-Modelkeep-Actor`` header
(the actor of the caller's :func:`~modelkeep.store.audit.audit_context`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from modelkeep.server.schemas_audit import AuditEventList
from modelkeep.store.audit import (
    ACTOR_HEADER,
    AuditEvent,
    check_audit_text,
    check_audit_window,
    current_audit_subject,
)

__all__ = ["RestAuditMixin", "actor_header"]

M = TypeVar("M", bound=BaseModel)


def actor_header() -> dict[str, str]:
    """The header naming the current audit actor (percent-encoded: headers are ASCII)."""
    return {ACTOR_HEADER: quote(current_audit_subject().actor, safe="")}


class RestAuditMixin:
    """Implements ``list_audit_events``; mixed into ``RestStore``, which supplies
    :meth:`request` and :meth:`_parse`."""

    @abc.abstractmethod
    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to ``/api/v1{path}``; raise the mapped error on an error answer."""

    @abc.abstractmethod
    def _parse(self, schema: type[M], response: httpx.Response) -> M:
        """The answer parsed as ``schema``; StoreError if it does not fit."""

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
        # checked here too, so a bad value fails as it would on a local store
        since_ms, until_ms, max_results = check_audit_window(since_ms, until_ms, max_results)
        wanted = {
            "actor": check_audit_text(actor, "actor"),
            "action": check_audit_text(action, "action"),
            "target_prefix": check_audit_text(target_prefix, "target_prefix"),
            "since_ms": since_ms,
            "until_ms": until_ms,
            "max_results": max_results,
        }
        params = {key: str(value) for key, value in wanted.items() if value is not None}
        response = self.request("GET", "/audit-events", params=params)
        return [e.to_entity() for e in self._parse(AuditEventList, response).events]
