"""``modelkeep runs list|show|search|delete``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.output import (
    artifact_to_dict,
    format_bytes,
    format_time,
    format_value,
    print_json,
    print_table,
)
from modelkeep.entities import Run
from modelkeep.exceptions import NotFoundError
from modelkeep.tracking import Client

__all__ = ["app", "experiment_ids", "print_runs"]

app = typer.Typer(help="List, inspect, search and delete runs.", no_args_is_help=True)

ExperimentOption = Annotated[
    list[str] | None,
    typer.Option(
        "--experiment",
        "-e",
        metavar="NAME",
        help="Experiment name (repeatable). Default: every active experiment.",
    ),
]
MaxResultsOption = Annotated[
    int, typer.Option("--max-results", min=1, help="Largest number of runs to print.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")]


def experiment_ids(client: Client, names: Sequence[str] | None) -> list[str]:
    """Ids of the named experiments, or of every active one when ``names`` is empty."""
    if not names:
        return [exp.id for exp in client.list_experiments("active")]
    ids = []
    for name in names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise NotFoundError(f"No experiment named {name!r}", field="experiment")
        ids.append(exp.id)
    return ids


def _duration(run: Run) -> str:
    if run.end_time is None:
        return "running" if not run.status.is_terminal else "-"
    return f"{(run.end_time - run.start_time) / 1000:.1f}s"


def _pairs(values: Mapping[str, object]) -> str:
    return "  ".join(f"{key}={format_value(values[key])}" for key in sorted(values))


def print_runs(client: Client, found: Sequence[Run]) -> None:
    """A table of runs: id, experiment, name, status, start, duration, latest metrics."""
    names = {exp.id: exp.name for exp in client.list_experiments("all")}
    rows = [
        (
            run.id,
            names.get(run.experiment_id, run.experiment_id),
            run.name,
            run.status.value,
            format_time(run.start_time),
            _duration(run),
            _pairs(run.metrics),
        )
        for run in found
    ]
    columns = ("run id", "experiment", "name", "status", "started", "duration", "metrics")
    print_table(None, columns, rows, keep_whole=("run id",), empty="No runs.")


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: ExperimentOption = None,
    max_results: MaxResultsOption = 100,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    with open_client(ctx) as client:
        found = client.search_runs(experiment_ids(client, experiment), max_results=max_results)
        if as_json:
            print_json([run.to_dict() for run in found])
        else:
            print_runs(client, found)


@app.command("search")
def search_runs(
    ctx: typer.Context,
    experiment: ExperimentOption = None,
    filter_string: Annotated[
        str,
        typer.Option(
            "--filter",
            metavar="EXPR",
            help="e.g. \"metrics.acc > 0.9 and params.lr = '0.1'\"",
        ),
    ] = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            metavar="KEY",
            help='Sort key, e.g. "metrics.acc DESC" (repeatable).',
        ),
    ] = None,
    max_results: MaxResultsOption = 100,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", metavar="TOKEN", help="Continue from a previous page."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Search runs with the filter language; prints the next page token if there is one."""
    with open_client(ctx) as client:
        ids = experiment_ids(client, experiment)
        page = client.search_runs(ids, filter_string, order_by or (), max_results, page_token)
        if as_json:
            runs = [run.to_dict() for run in page]
            print_json({"runs": runs, "next_page_token": page.next_page_token})
            return
        print_runs(client, page)
    if page.next_page_token:
        typer.echo(f"Next page: --page-token {page.next_page_token}")


@app.command("show")
def show_run(ctx: typer.Context, run_id: RunIdArgument, as_json: JsonOption = False) -> None:
    """Show a run: attributes, params, latest metrics, tags, inputs and artifacts."""
    with open_client(ctx) as client:
        run = client.get_run(run_id)
        records = client.list_artifacts(run_id)
        experiment = client.get_experiment(run.experiment_id)
    if as_json:
        print_json({**run.to_dict(), "artifacts": [artifact_to_dict(r) for r in records]})
        return
    attributes = [
        ("id", run.id),
        ("name", run.name),
        ("experiment", f"{experiment.name} (id {experiment.id})"),
        ("status", run.status.value),
        ("started", format_time(run.start_time)),
        ("ended", format_time(run.end_time)),
        ("duration", _duration(run)),
        ("parent run", run.parent_run_id),
        ("lifecycle", run.lifecycle_stage.value),
    ]
    print_table("Run", ("attribute", "value"), attributes, keep_whole=("value",))
    print_table("Params", ("key", "value"), sorted(run.params.items()))
    print_table("Metrics", ("key", "latest value"), sorted(run.metrics.items()))
    print_table("Tags", ("key", "value"), sorted(run.tags.items()))
    inputs = [(d.name, d.context, d.digest[:12], d.num_rows, d.source) for d in run.inputs]
    print_table("Inputs", ("name", "context", "digest", "rows", "source"), inputs)
    files = [(r.path, format_bytes(r.size), r.digest[:12]) for r in records]
    print_table("Artifacts", ("path", "size", "digest"), files)


@app.command("delete")
def delete_run(ctx: typer.Context, run_id: RunIdArgument) -> None:
    """Delete a run (soft delete)."""
    with open_client(ctx) as client:
        client.delete_run(run_id)
    typer.echo(f"Deleted run {run_id}")
