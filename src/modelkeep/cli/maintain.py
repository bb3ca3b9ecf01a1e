"""``modelkeep maintain run|watch|history`` and ``maintain policy set|show``
(see :mod:`modelkeep.maintain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.context import open_client, resolve_settings
from modelkeep.cli.output import format_time, print_json, print_table

__all__ = ["app"]

app = typer.Typer(
    help="Maintenance policies: retrain, challenger vs champion, gates, canary, rollback.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="The maintenance policy stored with a registered model.")
app.add_typer(policy_app, name="policy")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", metavar="URL", help="The inference server (canary rollouts)."),
]
ModelOption = Annotated[
    list[str] | None,
    typer.Option("--model", metavar="NAME", help="Only this model's policy (repeatable)."),
]


def _print_records(records: list[Any]) -> None:
    from modelkeep.maintain.runner import decision_summary

    rows = []
    for record in records:
        summary = decision_summary(record)
        rows.append((
            format_time(summary["started_ms"]), summary["model"], summary["action"],
            _v(summary["champion"]), _v(summary["challenger"]), summary["reason"][:120],
        ))  # fmt: skip
    print_table("Decisions", ("when", "model", "action", "champion", "challenger", "why"), rows)


def _v(version: object) -> str:
    return "-" if version is None else f"v{version}"


@app.command("run")
def run(
    ctx: typer.Context,
    model: ModelOption = None,
    manual: Annotated[
        bool, typer.Option("--manual", help="Fire the policies' manual triggers.")
    ] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate every stored policy once: triggers, retrain, evaluation, gates, rollout."""
    from modelkeep.maintain.runner import run_policies

    settings = resolve_settings(ctx)
    records = run_policies(
        tracking_uri=settings.resolved_tracking_uri(), settings=settings, models=model,
        manual=manual, server_url=server, progress=None if as_json else typer.echo,
    )  # fmt: skip
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        _print_records(records)


@app.command("watch")
def watch(
    ctx: typer.Context,
    every: Annotated[
        float, typer.Option("--every", min=1.0, metavar="S", help="Seconds between cycles.")
    ] = 300.0,
    times: Annotated[
        int | None, typer.Option("--times", min=1, help="Stop after this many cycles.")
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="Monitoring window of each cycle (1h, 5000...).")
    ] = "1h",
    server: ServerOption = None,
) -> None:
    """Monitor every model with a policy, then evaluate its policy, on a schedule.

    Runs until stopped (or --times cycles); a restart resumes without repeating finished work.
    """
    from modelkeep.maintain.watch import watch_policies

    settings = resolve_settings(ctx)
    try:
        watch_policies(
            every_s=every, times=times, window=window, server_url=server,
            tracking_uri=settings.resolved_tracking_uri(), settings=settings,
            progress=typer.echo,
        )  # fmt: skip
    except KeyboardInterrupt:
        typer.echo("stopped")


@app.command("history")
def history(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most records shown.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The model's decision records, newest first (triggers, metrics, tests, gates, action)."""
    from modelkeep.maintain.decisions import list_decisions

    with open_client(ctx) as client:
        client.get_registered_model(model)  # NotFoundError for a wrong name
        records = list_decisions(client, model, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        _print_records(records)


@policy_app.command("set")
def set_policy(
    ctx: typer.Context,
    policy_file: Annotated[
        Path, typer.Argument(metavar="POLICY_FILE", exists=True, dir_okay=False, help="YAML.")
    ],
) -> None:
    """Check POLICY_FILE and store it with the registered model it names."""
    from modelkeep.maintain.policy import store_policy

    with open_client(ctx) as client:
        policy = store_policy(client, policy_file)
    kinds = ", ".join(t.kind for t in policy.triggers)
    typer.echo(f"Stored the maintenance policy of {policy.model} (triggers: {kinds}; "
               f"rollout: {policy.rollout.mode})")  # fmt: skip


@policy_app.command("show")
def show_policy(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    as_json: JsonOption = False,
) -> None:
    """Print the maintenance policy stored with NAME (YAML, every setting written out)."""
    from modelkeep.maintain.policy import POLICY_TAG, load_policy, policy_text

    with open_client(ctx) as client:
        text = client.get_registered_model(model).tags.get(POLICY_TAG)
    if text is None:
        if as_json:
            print_json({"model": model, "policy": None})
        else:
            typer.echo(f"{model} has no maintenance policy")
        return
    policy = load_policy(text)
    if as_json:
        print_json({"model": model, "policy": policy.model_dump(mode="json")})
    else:
        typer.echo(policy_text(policy).rstrip("\n"))
