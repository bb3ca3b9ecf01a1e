"""``modelkeep compress MODEL_URI DATA_FILE --target COL``: smaller, faster variants of a model,
measured on DATA_FILE, the best one registered (see :mod:`modelkeep.compress`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.context import resolve_settings
from modelkeep.cli.output import format_bytes, format_value, print_json, print_table

__all__ = ["compress_command"]

_COLUMNS = (
    "variant",
    "runtime",
    "size",
    "1 row ms",
    "1000 rows ms",
    "metric",
    "drop",
    "fidelity",
    "ok",
    "speed-up",
    "chosen",
)


def compress_command(
    ctx: typer.Context,
    model_uri: Annotated[
        str,
        typer.Argument(metavar="MODEL_URI", help="models:/NAME@ALIAS or models:/NAME/VERSION."),
    ],
    data_file: Annotated[
        Path,
        typer.Argument(
            metavar="DATA_FILE",
            exists=True,
            dir_okay=False,
            help="Validation rows with the target (CSV, Parquet, JSON).",
        ),
    ],
    target: Annotated[str, typer.Option("--target", metavar="COL", help="Target column.")],
    max_metric_drop: Annotated[
        float,
        typer.Option(
            "--max-metric-drop", min=0.0, help="How much worse the metric may get (its units)."
        ),
    ] = 0.005,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            metavar="NAME",
            help="accuracy, roc_auc, rmse... (default: the model's primary, else accuracy/rmse).",
        ),
    ] = None,
    min_fidelity: Annotated[
        float,
        typer.Option(
            "--min-fidelity",
            min=0.0,
            max=1.0,
            help="Least agreement with the original (1: identical labels).",
        ),
    ] = 0.0,
    train_file: Annotated[
        Path | None,
        typer.Option(
            "--train-data",
            exists=True,
            dir_okay=False,
            help="Training rows for refits and distillation (default: half of DATA_FILE).",
        ),
    ] = None,
    families: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            metavar="FAMILY",
            help="Only these candidates (repeat): onnx, quantized, fewer_trees, "
            "limited_depth, distilled.",
        ),
    ] = None,
    calls: Annotated[
        int, typer.Option("--single-row-calls", min=1, help="Calls timed per single-row median.")
    ] = 200,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Measure and choose, register nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Build smaller/faster variants of MODEL_URI (ONNX, int8, fewer trees, shallower, distilled),
    measure them on DATA_FILE and register the fastest one within --max-metric-drop of the
    original as a new version linked to its parent."""
    from modelkeep.compress import compress

    settings = resolve_settings(ctx)
    result = compress(
        model_uri,
        data_file,
        target,
        max_metric_drop,
        metric=metric,
        register=not no_register,
        train_data=train_file,
        families=None if not families else ["original", *families],
        min_fidelity=min_fidelity,
        single_row_calls=calls,
        tracking_uri=settings.resolved_tracking_uri(),
        settings=settings,
    )
    if as_json:
        print_json(result.to_dict())
        return
    _print_result(result, no_register)


def _print_result(result: Any, no_register: bool) -> None:
    title = (
        f"Variants of {result.model or 'the model'}"
        + (f" v{result.parent_version}" if result.parent_version is not None else "")
        + f" ({result.metric} on {result.validation_rows} rows; "
        f"max drop {format_value(result.max_metric_drop)})"
    )
    print_table(title, _COLUMNS, [_cells(row) for row in result.variants.to_dict("records")])
    for name, reason in result.skipped.items():
        typer.echo(f"left out {name}: {reason}")
    typer.echo(f"chosen: {result.chosen} ({result.rule})")
    if result.version is not None:
        typer.echo(
            f"registered {result.model} version {result.version} "
            f"(compressed from version {result.parent_version})"
        )
    elif result.chosen == "original":
        typer.echo("nothing registered: no variant beats the original within the tolerance")
    elif no_register:
        typer.echo("nothing registered (--no-register)")


def _cells(row: dict[str, Any]) -> list[object]:
    return [
        row["variant"],
        row["runtime"],
        format_bytes(int(row["size_bytes"])),
        round(float(row["latency_1row_ms"]), 4),
        round(float(row["latency_1000rows_ms"]), 3),
        row["metric"],
        row["metric_drop"],
        row["fidelity"],
        "yes" if row["within_tolerance"] else "no",
        f"{row['speedup_1row']:.1f}x",
        "*" if row["chosen"] else "",
    ]
