"""``modelkeep db upgrade``: bring a SQL store's schema to the newest version."""

from __future__ import annotations

from typing import Annotated

import typer

from modelkeep.cli.context import open_metadata_store, resolve_settings
from modelkeep.exceptions import InvalidInputError

__all__ = ["app"]

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.callback()
def db() -> None:
    """Database maintenance."""


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option("--store", metavar="URI", help="SQL store (default: the global --store)."),
    ] = None,
) -> None:
    """Apply pending migrations (opening a SQL store does) and print the schema revision."""
    uri = resolve_settings(ctx, store).resolved_tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"db upgrade needs a SQL store (sqlite:/// or postgresql+psycopg://), not {uri!r}; "
            "run it where the server's database is",
            field="store",
        )
    from modelkeep.store.sql.migrate import head_revision

    with open_metadata_store(ctx, uri):
        pass  # opening the store is the upgrade: SqlStore migrates to head on open
    typer.echo(f"Database is at revision {head_revision()} (head)")
