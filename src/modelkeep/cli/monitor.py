"""``modelkeep monitor run|watch`` and ``modelkeep alerts list`` (see :mod:`modelkeep.monitor`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.context import open_client, resolve_settings
from modelkeep.cli.output import format_time, format_value, print_json, print_table

__all__ = ["alerts_app", "monitor_app"]

monitor_app = typer.Typer(help="Watch served models: drift, quality, performance, alerts.")
rules_app = typer.Typer(help="Alert rules stored with a registered model.")
monitor_app.add_typer(rules_app, name="rules")
alerts_app = typer.Typer(help="Alerts fired by monitoring.")

UriArgument = Annotated[
    str, typer.Argument(metavar="MODEL_URI", help="models:/NAME@ALIAS or models:/NAME/VERSION.")
]
WindowOption = Annotated[
    str,
    typer.Option("--window", help="A duration (90s, 15m, 1h, 7d) or a row count (5000)."),
]
RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", exists=True, dir_okay=False, help="Alert rules (YAML)."),
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write the HTML report here.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]
LabelsOption = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        exists=True,
        dir_okay=False,
        help="CSV/Parquet of request_id,label joined to the log (besides /feedback).",
    ),
]
ThresholdsOption = Annotated[
    str,
    typer.Option(
        "--thresholds",
        help="static (each test's default) or learned (reference chunks, mean + 3 sigma).",
    ),
]


def _run_once(
    ctx: typer.Context,
    model_uri: str,
    window: str,
    rules: Path | None,
    report: Path | None,
    thresholds: str = "static",
    labels: Path | None = None,
) -> Any:
    from modelkeep.monitor.report import render_html
    from modelkeep.monitor.runner import run_monitor

    settings = resolve_settings(ctx)
    result = run_monitor(
        model_uri,
        window,
        rules=None if rules is None else rules.read_text(encoding="utf-8"),
        tracking_uri=settings.resolved_tracking_uri(),
        settings=settings,
        thresholds=thresholds,
        labels=labels,
    )
    if report is not None:
        report.write_text(render_html(result.report), encoding="utf-8")
    return result


def _print_result(result: Any) -> None:
    drift = result.report.get("drift") or {}
    drifted = [c for c, d in (drift.get("columns") or {}).items() if d.get("drifted")]
    typer.echo(
        f"{result.model} v{result.version}: {result.rows} rows from "
        f"{format_time(result.window_start_ms)} to {format_time(result.window_end_ms)}; "
        f"dataset drift {'YES' if result.dataset_drift else 'no'} "
        f"(share {format_value(result.metrics.get('drift.share'))}); monitoring run "
        f"{result.run_id}"
    )
    if drifted:
        typer.echo(f"drifted columns: {', '.join(drifted)}")
    for alert in result.alerts:
        typer.echo(f"ALERT [{alert.get('severity')}] {alert.get('message')}")


@monitor_app.command("run")
def run(
    ctx: typer.Context,
    model_uri: UriArgument,
    window: WindowOption = "1h",
    rules: RulesOption = None,
    report: ReportOption = None,
    thresholds: ThresholdsOption = "static",
    labels: LabelsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate one window of the model's inference log (drift, quality, performance), store it
    as a monitoring run and fire the alert rules (--rules, else the model's stored rules)."""
    result = _run_once(ctx, model_uri, window, rules, report, thresholds, labels)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_result(result)


@monitor_app.command("watch")
def watch(
    ctx: typer.Context,
    model_uri: UriArgument,
    window: WindowOption = "1h",
    every: Annotated[
        float, typer.Option("--every", min=1.0, metavar="S", help="Seconds between runs.")
    ] = 300.0,
    times: Annotated[
        int | None, typer.Option("--times", min=1, help="Stop after this many runs.")
    ] = None,
    rules: RulesOption = None,
    report: ReportOption = None,
    thresholds: ThresholdsOption = "static",
    labels: LabelsOption = None,
) -> None:
    """Run the monitor on a schedule until interrupted (or --times runs)."""
    from modelkeep.exceptions import InvalidInputError

    done = 0
    while times is None or done < times:
        started = time.monotonic()
        try:
            _print_result(_run_once(ctx, model_uri, window, rules, report, thresholds, labels))
        except InvalidInputError as exc:
            if exc.field != "window":
                raise
            typer.echo(f"skipped: {exc.message}")  # an empty window: try again next time
        done += 1
        if times is None or done < times:
            time.sleep(max(0.0, every - (time.monotonic() - started)))


@alerts_app.command("list")
def list_alerts_command(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="Only this model's alerts.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most alerts shown.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Alerts fired by monitoring, newest first."""
    from modelkeep.monitor.alert_history import list_alerts

    with open_client(ctx) as client:
        found = list_alerts(client, model, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            format_time(a.get("fired_at_ms")),
            a.get("model", ""),
            a.get("rule", ""),
            a.get("severity", ""),
            format_value(a.get("value")),
            a.get("message", ""),
        )
        for a in found
    ]
    print_table("Alerts", ("fired", "model", "rule", "severity", "value", "message"), rows)


ModelArgument = Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")]


@rules_app.command("set")
def set_rules(
    ctx: typer.Context,
    model: ModelArgument,
    rules_file: Annotated[
        Path, typer.Argument(metavar="RULES_FILE", exists=True, dir_okay=False, help="YAML.")
    ],
) -> None:
    """Check RULES_FILE and store it with NAME: every monitoring pass of NAME then uses it."""
    from modelkeep.monitor.model_rules import store_alert_rules

    with open_client(ctx) as client:
        loaded = store_alert_rules(client, model, rules_file)
    names = ", ".join(rule.name for rule in loaded.rules)
    typer.echo(f"Stored {len(loaded.rules)} alert rule(s) with {model}: {names}")


@rules_app.command("show")
def show_rules(ctx: typer.Context, model: ModelArgument, as_json: JsonOption = False) -> None:
    """Print the alert rules stored with NAME (YAML)."""
    from modelkeep.monitor.model_rules import stored_alert_rules

    with open_client(ctx) as client:
        text = stored_alert_rules(client, model)
    if as_json:
        print_json({"model": model, "rules": text})
    elif text is None:
        typer.echo(f"{model} has no stored alert rules")
    else:
        typer.echo(text.rstrip("\n"))


@rules_app.command("clear")
def clear_rules(ctx: typer.Context, model: ModelArgument) -> None:
    """Forget the alert rules stored with NAME."""
    from modelkeep.monitor.model_rules import clear_alert_rules

    with open_client(ctx) as client:
        cleared = clear_alert_rules(client, model)
    typer.echo(f"Cleared the alert rules of {model}" if cleared else f"{model} had none")
