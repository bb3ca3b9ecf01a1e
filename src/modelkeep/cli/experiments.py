"""``modelkeep experiments list|create|delete``."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.output import experiment_to_dict, format_time, print_json, print_table
from modelkeep.entities import Experiment
from modelkeep.tracking import Client

__all__ = ["app", "parse_tags", "resolve_experiment"]

app = typer.Typer(help="List, create and delete experiments.", no_args_is_help=True)


class View(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"
    ALL = "all"


def parse_tags(values: list[str] | None) -> list[str] | None:
    """Option callback: every ``--tag`` must look like ``key=value`` (else a usage error)."""
    for value in values or []:
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}")
    return values


def resolve_experiment(client: Client, name_or_id: str) -> Experiment:
    """The experiment with this name, else with this id (NotFoundError if neither)."""
    found = client.get_experiment_by_name(name_or_id)
    return found if found is not None else client.get_experiment(name_or_id)


@app.command("list")
def list_experiments(
    ctx: typer.Context,
    view: Annotated[
        View, typer.Option("--view", help="Which experiments: active, deleted or all.")
    ] = View.ACTIVE,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List experiments, by name."""
    with open_client(ctx) as client:
        found = client.list_experiments(view.value)
    if as_json:
        print_json([experiment_to_dict(exp) for exp in found])
        return
    rows = [
        (
            exp.id,
            exp.name,
            exp.lifecycle_stage.value,
            format_time(exp.creation_time),
            ", ".join(f"{k}={v}" for k, v in sorted(exp.tags.items())),
        )
        for exp in found
    ]
    columns = ("id", "name", "stage", "created", "tags")
    print_table(None, columns, rows, keep_whole=("id",), empty="No experiments.")


@app.command("create")
def create_experiment(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Unique experiment name.")],
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", metavar="KEY=VALUE", callback=parse_tags, help="Tag to set (repeatable)."
        ),
    ] = None,
) -> None:
    """Create an experiment."""
    tags = dict(value.split("=", 1) for value in tag or [])
    with open_client(ctx) as client:
        exp = client.create_experiment(name, {k.strip(): v for k, v in tags.items()})
    typer.echo(f"Created experiment {exp.name!r} (id {exp.id})")


@app.command("delete")
def delete_experiment(
    ctx: typer.Context,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="Name or id.")],
) -> None:
    """Delete an experiment (soft delete: its runs are kept; `--view deleted` lists it)."""
    with open_client(ctx) as client:
        exp = resolve_experiment(client, name_or_id)
        client.delete_experiment(exp.id)
    typer.echo(f"Deleted experiment {exp.name!r} (id {exp.id})")
