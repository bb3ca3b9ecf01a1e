"""The audit log: who changed what in the store, when, and from where.

Every mutating store call appends one :class:`AuditEvent` in the same transaction as its change
(so a failed call records nothing), and :meth:`BaseStore.list_audit_events` lists them, newest
first. The SQL backends refuse UPDATE and DELETE on the audit table with a database trigger.

Who acts is taken from the current *audit subject*: by default the operating-system user, from
``local:<user>@<host>``. Callers that know better say so with :func:`audit_context`; the tracking
server binds the API token's name and the client's address for every request.

Example:
    >>> with audit_context(actor="alice"):  # doctest: +SKIP
    ...     store.set_model_alias("churn", "champion", 3)
    >>> store.list_audit_events(actor="alice")[0].action  # doctest: +SKIP
    'set_model_alias'
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import getpass
import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.exceptions import InvalidInputError
from modelkeep.store import validation as v

__all__ = [
    "ACTOR_HEADER",
    "MAX_ACTOR_LENGTH",
    "MAX_SOURCE_LENGTH",
    "AuditEvent",
    "AuditSubject",
    "audit_context",
    "bind_audit_subject",
    "check_audit_text",
    "claimed_actor",
    "check_audit_window",
    "current_audit_subject",
    "detail_json",
]

ACTOR_HEADER = "X-Modelkeep-Actor"
"""The HTTP header in which a client names its actor (heeded only by a server without auth)."""
MAX_ACTOR_LENGTH = 256
MAX_SOURCE_LENGTH = 512
_MAX_DETAIL_STRING = 200
_MAX_DETAIL_ITEMS = 20


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded change.

    Attributes:
        id: increasing number, in the order the events were written.
        timestamp: when, in epoch milliseconds.
        actor: who (the API token's name on a server, else the OS user or what
            :func:`audit_context` named).
        action: the store method, e.g. ``create_run`` or ``set_model_alias``.
        target: what, e.g. ``run:<id>``, ``experiment:3``, ``model:churn``, ``model:churn/3``
            (a version), ``model:churn@champion`` (an alias), ``token:<id>``.
        detail: short JSON text of the arguments that matter (never secrets or content).
        source: from where: ``local:<user>@<host>`` or ``http:<client ip>`` with the token.
    """

    id: int
    timestamp: int
    actor: str
    action: str
    target: str
    detail: str
    source: str

    @property
    def details(self) -> dict[str, Any]:
        """:attr:`detail` parsed."""
        parsed = json.loads(self.detail) if self.detail else {}
        return parsed if isinstance(parsed, dict) else {"value": parsed}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": self.timestamp,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class AuditSubject:
    """Who acts (``actor``) and from where (``source``)."""

    actor: str
    source: str


_SUBJECT: contextvars.ContextVar[AuditSubject | None] = contextvars.ContextVar(
    "modelkeep_audit_subject", default=None
)


def _clean(text: str, limit: int) -> str:
    """Printable, one line, at most ``limit`` characters (the log is read by people)."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return printable.strip()[:limit]


@functools.cache
def _local_subject() -> AuditSubject:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without a passwd entry)
        user = "unknown"
    host = socket.gethostname() or "localhost"
    user = _clean(user, MAX_ACTOR_LENGTH) or "unknown"
    return AuditSubject(user, _clean(f"local:{user}@{host}", MAX_SOURCE_LENGTH))


def current_audit_subject() -> AuditSubject:
    """The subject store calls made now are recorded under."""
    return _SUBJECT.get() or _local_subject()


def _subject(actor: str | None, source: str | None) -> AuditSubject:
    outer = current_audit_subject()
    return AuditSubject(
        outer.actor if actor is None else _clean(actor, MAX_ACTOR_LENGTH) or outer.actor,
        outer.source if source is None else _clean(source, MAX_SOURCE_LENGTH) or outer.source,
    )


@contextlib.contextmanager
def audit_context(actor: str | None = None, source: str | None = None) -> Iterator[AuditSubject]:
    """Record store calls made inside the block as ``actor`` acting from ``source``.

    What is not given is kept from the enclosing context. The subject is a context variable:
    it follows asyncio tasks and ``contextvars.copy_context()``, but a new thread starts with
    the default (the OS user) unless the context is copied into it.

    Args:
        actor: who acts, e.g. a person's or a service's name (made printable, 256 characters).
        source: from where, e.g. ``cron:nightly-retrain`` (made printable, 512 characters).

    Yields:
        The subject in force inside the block.
    """
    subject = _subject(actor, source)
    token = _SUBJECT.set(subject)
    try:
        yield subject
    finally:
        _SUBJECT.reset(token)


def bind_audit_subject(actor: str | None = None, source: str | None = None) -> AuditSubject:
    """Set the subject for the rest of the current context, without a ``with`` block.

    For code that runs once per task, such as the server's per-request dependency (each
    request runs in a context of its own, so nothing leaks into the next request).
    """
    subject = _subject(actor, source)
    _SUBJECT.set(subject)
    return subject


def claimed_actor(actor: str) -> str | None:
    """A registry call's ``actor`` argument when it names someone other than the subject
    (kept in the event's detail), else None."""
    return actor if actor and actor != current_audit_subject().actor else None


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _MAX_DETAIL_STRING else value[:_MAX_DETAIL_STRING] + "..."
    if isinstance(value, Mapping):
        return {str(k): _short(v) for k, v in list(value.items())[:_MAX_DETAIL_ITEMS]}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        shown = [_short(v) for v in items[:_MAX_DETAIL_ITEMS]]
        if len(items) > _MAX_DETAIL_ITEMS:
            shown.append(f"... {len(items) - _MAX_DETAIL_ITEMS} more")
        return shown
    if value is None or isinstance(value, bool | int | float):
        return value
    return _short(str(value))


def detail_json(fields: Mapping[str, Any] | None = None) -> str:
    """Compact JSON of ``fields`` (None values dropped; long strings and lists shortened)."""
    if not fields:
        return "{}"
    kept = {key: _short(value) for key, value in fields.items() if value is not None}
    return json.dumps(kept, separators=(",", ":"), sort_keys=True, default=str)


def check_audit_text(value: str | None, field: str) -> str | None:
    """An actor, action or target filter: None, or a string of at most 1024 characters."""
    return None if value is None else v.check_text(value, field, 1024)


def check_audit_window(
    since_ms: int | None, until_ms: int | None, max_results: int
) -> tuple[int | None, int | None, int]:
    """Validate the time window and page size of :meth:`BaseStore.list_audit_events`."""
    since = None if since_ms is None else v.check_int64(since_ms, "since_ms")
    until = None if until_ms is None else v.check_int64(until_ms, "until_ms")
    if since is not None and until is not None and since > until:
        raise InvalidInputError("since_ms is after until_ms", field="since_ms")
    return since, until, v.check_max_results(max_results)
