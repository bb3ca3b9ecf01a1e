"""``modelkeep explain MODEL_URI ROWS``: why the model answered what it did.

Without ``--importance``: per-row attributions of the rows in ROWS (see
:func:`modelkeep.explain.explain`), printed as each row's largest contributions, written whole
with ``--output`` (``.csv``: one column per input column plus ``base_value``, ``output`` and
``explained_class``; ``.json``: the explanation's JSON). With ``--importance --target COL``:
permutation importance and mean |SHAP| on ROWS as validation data (see
:func:`modelkeep.explain.importance`), stored with the model's run unless ``--no-store``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.context import resolve_settings
from modelkeep.cli.models_files import AllowCodeOption
from modelkeep.cli.output import format_value, print_json, print_table
from modelkeep.exceptions import InvalidInputError

__all__ = ["explain_command"]

_SHOWN_ROWS = 20
_TOP_COLUMNS = 3


def explain_command(
    ctx: typer.Context,
    model_uri: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI",
            help="models:/<name>/<version>, models:/<name>@<alias> or runs:/<run id>/<path>",
        ),
    ],
    rows_file: Annotated[
        Path,
        typer.Argument(
            metavar="ROWS_FILE",
            help="Rows to explain (.csv, .tsv, .parquet, .json); with --importance, "
            "validation rows including the target column.",
        ),
    ],
    background: Annotated[
        Path | None,
        typer.Option(
            "--background",
            metavar="FILE",
            help="Background rows (default: the training run's reference sample, else ROWS).",
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option("--method", help="auto, tree, linear or kernel."),
    ] = "auto",
    nsamples: Annotated[
        int | None,
        typer.Option("--nsamples", min=1, help="KernelSHAP coalitions per row."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the result: .csv or .json."),
    ] = None,
    with_importance: Annotated[
        bool,
        typer.Option(
            "--importance", help="Global importance on ROWS instead of per-row attributions."
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COLUMN", help="Target column (with --importance)."),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Shuffles per column (--importance).")
    ] = 5,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Score to permute (default: accuracy or r2)."),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store/--no-store", help="Store the importance with the model's run."),
    ] = True,
    allow_code: AllowCodeOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Explain a model's predictions for ROWS, or (--importance) its global importance."""
    _check_output(output)
    settings = resolve_settings(ctx)
    if with_importance:
        if target is None:
            raise InvalidInputError("--importance needs --target COLUMN", field="target")
        _importance(model_uri, rows_file, target, repeats, metric, store, allow_code,
                    nsamples, output, as_json, settings)  # fmt: skip
        return
    from modelkeep.explain import explain

    result = explain(
        model_uri,
        rows_file,
        background=background,
        method=method,
        nsamples=nsamples,
        allow_code=allow_code,
        settings=settings,
    )
    if output is not None:
        _write(output, result.to_dict(), result.to_frame())
    if as_json:
        print_json(result.to_dict())
        return
    _print_explanation(result, output)


def _importance(
    model_uri: str,
    rows_file: Path,
    target: str,
    repeats: int,
    metric: str | None,
    store: bool,
    allow_code: bool,
    nsamples: int | None,
    output: Path | None,
    as_json: bool,
    settings: Any,
) -> None:
    from modelkeep.explain import importance

    result = importance(
        model_uri, rows_file, target, metric=metric, n_repeats=repeats, store=store,
        allow_code=allow_code, nsamples=nsamples, settings=settings,
    )  # fmt: skip
    if output is not None:
        _write(output, result.to_dict(), result.table)
    if as_json:
        print_json(result.to_dict())
        return
    print_table(
        f"Importance ({result.metric}, baseline {result.baseline_score:.4g}, "
        f"{result.n_repeats} repeats, {result.rows} rows)",
        ["feature", "importance", "std", "mean |SHAP|"],
        _importance_rows(result.table),
    )
    where = f" (stored with run {result.run_id})" if result.run_id else ""
    typer.echo(f"SHAP: {json.dumps(result.shap)}{where}")


def _importance_rows(table: Any) -> list[list[Any]]:
    rows = []
    for row in table.to_dict("records"):
        shap_value = row["mean_abs_shap"]
        shown = None if math.isnan(shap_value) else shap_value
        rows.append([row["feature"], row["importance_mean"], row["importance_std"], shown])
    return rows


def _print_explanation(result: Any, output: Path | None) -> None:
    frame = result.attributions
    rows = []
    for index in range(min(len(frame), _SHOWN_ROWS)):
        values = frame.iloc[index]
        top = values.abs().sort_values(ascending=False).index[:_TOP_COLUMNS]
        parts = ", ".join(f"{name} {values[name]:+.4g}" for name in top)
        label = result.explained_class[index] if result.explained_class else None
        rows.append(
            [index, label, float(result.base_values[index]), float(result.outputs[index]), parts]
        )
    print_table(
        f"Attributions ({result.method}, {result.output_space})",
        ["row", "class", "base", "output", "largest contributions"],
        rows,
    )
    if len(frame) > _SHOWN_ROWS:
        typer.echo(f"... {len(frame) - _SHOWN_ROWS} more rows (use --output or --json)")
    typer.echo(f"additivity error: {format_value(result.additivity_error)}")
    if output is not None:
        typer.echo(f"Wrote {len(frame)} rows to {output}")


def _check_output(output: Path | None) -> None:
    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise InvalidInputError("--output: a .csv or .json file", field="output")


def _write(output: Path, data: dict[str, Any], frame: Any) -> None:
    if output.suffix.lower() == ".json":
        output.write_text(json.dumps(data, indent=2, allow_nan=False), encoding="utf-8")
    else:
        frame.to_csv(output, index=False)
