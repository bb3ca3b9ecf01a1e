"""``modelkeep audit log``: the store's audit log, newest first.

Adds the ``log`` command to the ``modelkeep audit`` group (:mod:`modelkeep.cli.audit`); importing
this module registers it. On an ``http(s)://`` store it needs an admin token
(``MODELKEEP_TRACKING_TOKEN``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelkeep.cli.audit import app
from modelkeep.cli.context import open_metadata_store
from modelkeep.cli.logs import parse_time
from modelkeep.cli.output import format_time, print_json, print_table
from modelkeep.store.audit import AuditEvent

__all__ = ["audit_log"]


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {**event.to_dict(), "detail": event.details}


@app.command("log")
def audit_log(
    ctx: typer.Context,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only changes by this actor (exact).")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action, e.g. set_model_alias (exact)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="PREFIX",
            help="Only targets starting with PREFIX, e.g. run:<id> or model:churn/.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO", help="Only changes at or after this time (UTC)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events.")] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Who changed what in the store, when and from where, newest first."""
    since_ms = None if since is None else parse_time(since, "--since")
    with open_metadata_store(ctx) as store:
        events = store.list_audit_events(
            actor=actor, action=action, target_prefix=target, since_ms=since_ms, max_results=limit
        )
    if as_json:
        print_json([_event_json(e) for e in events])
        return
    rows = [
        (format_time(e.timestamp), e.actor, e.action, e.target, e.detail, e.source) for e in events
    ]
    columns = ("time", "actor", "action", "target", "detail", "source")
    print_table(None, columns, rows, keep_whole=("target",), empty="No audit events.")
