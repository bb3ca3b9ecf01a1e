"""``modelkeep token create|list|revoke``: API tokens for a ``--auth`` server.

They act on the store named by ``--store`` directly; creating the first admin token there is how
a team bootstraps a server.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelkeep.cli.context import open_metadata_store
from modelkeep.cli.output import format_time, print_json, print_table, token_to_dict
from modelkeep.entities import Role

__all__ = ["app"]

app = typer.Typer(help="Create, list and revoke server API tokens.", no_args_is_help=True)


@app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Option("--name", help='Label for people, e.g. "ci" or "alice-laptop".')
    ],
    role: Annotated[Role, typer.Option("--role", help="What the token may do.")],
) -> None:
    """Create a token. The secret goes to stdout, once; only its hash is stored."""
    from modelkeep.server.auth import create_api_token

    with open_metadata_store(ctx) as store:
        token, secret = create_api_token(store, name, role)
    typer.secho(
        f"Created {token.role.value} token {token.name!r} (id {token.id}). Copy the secret "
        "below now: it will not be shown again.",
        fg=typer.colors.YELLOW,
        err=True,
    )
    typer.echo(secret)


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List tokens, oldest first (never their secrets)."""
    with open_metadata_store(ctx) as store:
        found = store.list_tokens()
    if as_json:
        print_json([token_to_dict(token) for token in found])
        return
    rows = [
        (t.id, t.name, t.role.value, format_time(t.created_time), "yes" if t.revoked else "no")
        for t in found
    ]
    columns = ("id", "name", "role", "created", "revoked")
    print_table(None, columns, rows, keep_whole=("id",), empty="No tokens.")


@app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="Id from `token list`.")],
) -> None:
    """Revoke a token: it stops authenticating at once."""
    with open_metadata_store(ctx) as store:
        store.revoke_token(token_id)
    typer.echo(f"Revoked token {token_id}")
