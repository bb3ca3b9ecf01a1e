"""``modelkeep artifacts list|get``: a run's files, by logical path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.output import (
    artifact_to_dict,
    format_bytes,
    format_time,
    print_json,
    print_table,
)

__all__ = ["app"]

app = typer.Typer(help="List and download run artifacts.", no_args_is_help=True)

RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")]


@app.command("list")
def list_artifacts(
    ctx: typer.Context,
    run_id: RunIdArgument,
    path: Annotated[
        str, typer.Argument(metavar="[PATH]", help="Directory or file of the run's tree.")
    ] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List a run's artifacts (the whole tree, or what lies under PATH)."""
    with open_client(ctx) as client:
        records = client.list_artifacts(run_id, path)
    if as_json:
        print_json([artifact_to_dict(record) for record in records])
        return
    rows = [
        (r.path, format_bytes(r.size), r.digest[:12], format_time(r.created_time)) for r in records
    ]
    print_table(None, ("path", "size", "digest", "logged"), rows, empty="No artifacts.")


@app.command("get")
def get_artifact(
    ctx: typer.Context,
    run_id: RunIdArgument,
    path: Annotated[str, typer.Argument(metavar="PATH", help="File or directory to download.")],
    dest: Annotated[
        Path,
        typer.Option(
            "--dest",
            metavar="DIR",
            file_okay=False,
            help="Folder to download into (created if missing); files keep their tree path.",
        ),
    ] = Path("."),
) -> None:
    """Download an artifact file or directory and print its local path."""
    with open_client(ctx) as client:
        local = client.download_artifacts(run_id, path, dest)
    typer.echo(str(local.absolute()))
