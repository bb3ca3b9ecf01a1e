"""``modelkeep server``: the team tracking server (FastAPI + uvicorn, imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.context import resolve_settings

__all__ = ["server"]


def server(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to bind. Anything but loopback requires --auth and a token."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 5000,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", metavar="URI", help="Store to serve (default: the global --store)."
        ),
    ] = None,
    artifact_root: Annotated[
        Path | None,
        typer.Option(
            "--artifact-root",
            metavar="DIR",
            file_okay=False,
            help="Blob folder (default: artifacts/ next to the SQLite file).",
        ),
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            help="Require a bearer API token (see `modelkeep token create`) on every route.",
        ),
    ] = False,
) -> None:
    """Serve the tracking REST API (/api/v1, /docs, /health, /metrics) until Ctrl-C."""
    from modelkeep.server.runner import run_server

    settings = resolve_settings(ctx, store)
    if artifact_root is not None:
        settings = settings.model_copy(update={"artifact_root": artifact_root})
    run_server(
        settings.resolved_tracking_uri(),
        host,
        port,
        auth_enabled=auth,
        settings=settings,
    )
