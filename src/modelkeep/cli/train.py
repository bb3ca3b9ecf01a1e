"""``modelkeep train CONFIG``: train, evaluate, log and register a model from a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.context import resolve_settings, store_option_hint
from modelkeep.cli.output import print_json, print_table

__all__ = ["train"]


def train(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Argument(
            metavar="CONFIG", help="Training config (YAML): task, data, target, model..."
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the run id, metrics, model URI and version as JSON."),
    ] = False,
) -> None:
    """Train a model as CONFIG describes; the run records params, metrics, plots and model."""
    import modelkeep as mk
    from modelkeep.tracking import fluent
    from modelkeep.train import load_train_config
    from modelkeep.train import train as train_model

    checked = load_train_config(config)
    uri = resolve_settings(ctx).resolved_tracking_uri()
    mk.set_tracking_uri(uri)
    try:
        result = train_model(checked)
    finally:
        # Close the fluent API's cached store so a caller in the same process starts clean.
        fluent.reset()
        mk.set_tracking_uri(None)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "metrics": result.metrics,
                "model_uri": result.model_uri,
                "version": result.version,
            }
        )
        return
    rows = sorted(result.metrics.items())
    print_table(f"Run {result.run_id}", ("metric", "value"), rows)
    typer.echo(f"\nModel: {result.model_uri}")
    if checked.register is not None and result.version is not None:
        registered = f"models:/{checked.register.name}/{result.version}"
        alias = f" (alias {checked.register.alias!r})" if checked.register.alias else ""
        typer.echo(f"Registered: {registered}{alias}")
    typer.echo(f"Inspect it: modelkeep {store_option_hint(ctx)}runs show {result.run_id}")
