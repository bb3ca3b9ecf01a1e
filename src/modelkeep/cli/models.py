"""``modelkeep models list|show|versions|register|alias|rollback|update|delete`` (the registry).

The commands that read a version's package (card, sign, verify, export, import) are added to
the same group by :mod:`modelkeep.cli.models_files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.output import format_time, print_json, print_table
from modelkeep.entities import ModelVersion, RegisteredModel
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.signing import key_id, load_public_key
from modelkeep.tracking.client_models import default_actor

__all__ = ["app", "parse_tags"]

app = typer.Typer(
    help="The model registry: versions, aliases, signatures, cards, export/import.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")]
FilterOption = Annotated[
    str,
    typer.Option("--filter", metavar="EXPR", help="e.g. \"name = 'churn' and tags.team = 'a'\""),
]
MaxResultsOption = Annotated[
    int, typer.Option("--max-results", min=1, help="Largest number of rows to print.")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why (kept in the alias history).")
]


def parse_tags(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["team=a", "x=1"]`` -> ``{"team": "a", "x": "1"}`` (InvalidInputError otherwise)."""
    tags: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"tag {pair!r} is not KEY=VALUE", field="tag")
        tags[key.strip()] = value
    return tags


def _aliases(aliases: dict[str, int] | tuple[str, ...]) -> str:
    if isinstance(aliases, dict):
        return ", ".join(f"{a}->v{v}" for a, v in sorted(aliases.items()))
    return ", ".join(aliases)


def _print_models(models: Sequence[RegisteredModel]) -> None:
    rows = [
        (
            m.name,
            m.latest_version,
            _aliases(dict(m.aliases)),
            "yes" if m.require_signatures else "no",
            format_time(m.last_update_time),
            m.description,
        )
        for m in models
    ]
    columns = ("name", "latest", "aliases", "signed only", "updated", "description")
    print_table(None, columns, rows, keep_whole=("name",), empty="No registered models.")


def _print_versions(versions: Sequence[ModelVersion]) -> None:
    rows = [
        (
            v.name,
            v.version,
            v.status.value,
            v.flavor,
            _aliases(v.aliases),
            len(v.signatures),
            format_time(v.creation_time),
            v.created_by,
            v.source,
        )
        for v in versions
    ]
    columns = ("name", "version", "status", "flavor", "aliases", "sigs", "created", "by", "source")
    print_table(None, columns, rows, keep_whole=("source",), empty="No model versions.")


@app.command("list")
def list_models(
    ctx: typer.Context,
    filter_string: FilterOption = "",
    max_results: MaxResultsOption = 100,
    as_json: JsonOption = False,
) -> None:
    """List registered models by name."""
    with open_client(ctx) as client:
        found = client.search_registered_models(filter_string, max_results=max_results)
    if as_json:
        print_json([m.to_dict() for m in found])
    else:
        _print_models(found)


@app.command("show")
def show_model(ctx: typer.Context, name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a registered model: attributes, versions, aliases and alias history."""
    with open_client(ctx) as client:
        model = client.get_registered_model(name)
        versions = list(client.search_model_versions(f"name = '{_quoted(name)}'"))
        history = client.store.list_alias_history(name)
    if as_json:
        print_json(
            {
                **model.to_dict(),
                "versions": [v.to_dict() for v in versions],
                "alias_history": [h.to_dict() for h in history],
            }
        )
        return
    attributes = [
        ("name", model.name),
        ("description", model.description),
        ("latest version", model.latest_version),
        ("requires signatures", "yes" if model.require_signatures else "no"),
        ("trusted keys", ", ".join(key_id(k) for k in model.trusted_keys)),
        ("created", f"{format_time(model.creation_time)} by {model.created_by or '-'}"),
        ("updated", format_time(model.last_update_time)),
    ]
    print_table("Registered model", ("attribute", "value"), attributes, keep_whole=("value",))
    print_table("Tags", ("key", "value"), sorted(model.tags.items()))
    _print_versions(versions)
    moves = [
        (format_time(h.timestamp), h.alias, h.previous_version, h.version, h.actor, h.reason)
        for h in history
    ]
    print_table("Alias history", ("when", "alias", "from", "to", "by", "reason"), moves)


def _quoted(text: str) -> str:
    return text.replace("'", "''")


@app.command("versions")
def list_versions(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="Only versions of this model.")
    ] = None,
    filter_string: FilterOption = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", metavar="KEY", help='e.g. "version DESC" (repeatable).'),
    ] = None,
    max_results: MaxResultsOption = 100,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", metavar="TOKEN", help="Continue from a previous page."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List or search model versions, newest first."""
    clauses = [f"name = '{_quoted(name)}'"] if name else []
    if filter_string:
        clauses.append(f"({filter_string})")
    with open_client(ctx) as client:
        page = client.search_model_versions(
            " and ".join(clauses), order_by or (), max_results, page_token
        )
    if as_json:
        versions = [v.to_dict() for v in page]
        print_json({"versions": versions, "next_page_token": page.next_page_token})
        return
    _print_versions(page)
    if page.next_page_token:
        typer.echo(f"Next page: --page-token {page.next_page_token}")


@app.command("register")
def register(
    ctx: typer.Context,
    model_uri: Annotated[
        str, typer.Argument(metavar="MODEL_URI", help="runs:/<run_id>/<path> or models:/...")
    ],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")],
    description: Annotated[str, typer.Option("--description", help="What the model is for.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="Repeatable.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a logged model package as the next version of NAME."""
    with open_client(ctx) as client:
        version = client.register_model(model_uri, name, description, parse_tags(tag))
    if as_json:
        print_json(version.to_dict())
    else:
        typer.echo(f"Registered {version.uri} (root digest {version.root_digest[:12]}...)")


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: NameArgument,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion")],
    version: Annotated[
        int | None, typer.Argument(metavar="[VERSION]", help="Version to point at.", min=1)
    ] = None,
    reason: ReasonOption = "",
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
) -> None:
    """Point ALIAS of NAME at VERSION (or remove it with --delete); the move is recorded."""
    with open_client(ctx) as client:
        if delete:
            change = client.delete_alias(name, alias_name, reason)
            typer.echo(f"Removed {name}@{alias_name} (was version {change.previous_version})")
            return
        if version is None:
            raise InvalidInputError("give the VERSION to point at, or --delete", field="version")
        change = client.set_alias(name, alias_name, version, reason)
    moved = f" (was version {change.previous_version})" if change.previous_version else ""
    typer.echo(f"{name}@{alias_name} -> version {change.version}{moved}")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: NameArgument,
    alias_name: Annotated[
        str, typer.Option("--alias", metavar="ALIAS", help="The alias to move back.")
    ] = "champion",
    reason: ReasonOption = "",
    as_json: JsonOption = False,
) -> None:
    """Point an alias (champion) back at the version it pointed at before its current one;
    the rollback is recorded as a maintenance decision (``maintain history``, model card)."""
    from modelkeep.maintain.manual import rollback_champion

    with open_client(ctx) as client:
        change, record = rollback_champion(client, name, alias=alias_name, reason=reason)
    if as_json:
        print_json({**change.to_dict(), "decision": record.run_id})
    else:
        typer.echo(
            f"{name}@{alias_name} -> version {change.version} "
            f"(was version {change.previous_version})"
        )


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArgument,
    description: Annotated[
        str | None, typer.Option("--description", help="New description.")
    ] = None,
    require_signatures: Annotated[
        bool | None,
        typer.Option(
            "--require-signatures/--no-require-signatures",
            help="Whether aliases may only point at versions signed by a trusted key.",
        ),
    ] = None,
    trust_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-key", metavar="PUBLIC_KEY", help="A .pub file or base64 key (repeatable)."
        ),
    ] = None,
    clear_trusted_keys: Annotated[
        bool, typer.Option("--clear-trusted-keys", help="Forget every trusted key first.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a registered model's description, signature requirement or trusted keys."""
    with open_client(ctx) as client:
        keys = None
        if trust_key or clear_trusted_keys:
            current = (
                [] if clear_trusted_keys else list(client.get_registered_model(name).trusted_keys)
            )
            keys = current + [k for k in map(load_public_key, trust_key or ()) if k not in current]
        model = client.store.update_registered_model(
            name,
            description=description,
            require_signatures=require_signatures,
            trusted_keys=keys,
            actor=default_actor(),
        )
    if as_json:
        print_json(model.to_dict())
    else:
        trusted = ", ".join(key_id(k) for k in model.trusted_keys) or "none"
        signed = "required" if model.require_signatures else "not required"
        typer.echo(f"Updated {model.name}: signatures {signed}; trusted keys: {trusted}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArgument,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Delete only this version.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also when aliases point at it (they are removed).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a registered model with all its versions, or one version (--version)."""
    what = f"{name} version {version}" if version else f"registered model {name} and its versions"
    if not yes and not typer.confirm(f"Delete {what}?"):
        raise typer.Exit(1)
    with open_client(ctx) as client:
        if version is None:
            client.store.delete_registered_model(name, force=force, actor=default_actor())
        else:
            client.store.delete_model_version(name, version, force=force, actor=default_actor())
    typer.echo(f"Deleted {what}")
