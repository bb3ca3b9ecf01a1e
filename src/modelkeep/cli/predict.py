"""``modelkeep predict MODEL_URI INPUT -o OUT``: score a whole file in chunks.

Unlike ``modelkeep models predict`` (one small file, read whole, CSV on stdout), this command
streams a CSV or Parquet file of any size through the model in bounded memory and writes a
Parquet or CSV file of predictions beside an id column (see :mod:`modelkeep.serve.batch`),
and reports the time, CPU, peak memory and estimated energy it used (no run is created).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.models_files import AllowCodeOption
from modelkeep.cli.output import print_json

__all__ = ["predict_command"]


def predict_command(
    ctx: typer.Context,
    model_uri: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI",
            help="models:/<name>/<version>, models:/<name>@<alias> or runs:/<run id>/<path>",
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Rows to score: .csv (also .csv.gz, .bz2, .xz, .zst) or .parquet.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Predictions file: .parquet or .csv (replaced when complete)."
        ),
    ],
    chunk_size: Annotated[
        int,
        typer.Option("--chunk-size", min=1, help="Rows per chunk; memory grows with it."),
    ] = 100_000,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            metavar="COLUMN",
            help="Input column copied to the output (default: a 0-based 'row' number).",
        ),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Also write one proba_<class> column per class.")
    ] = False,
    allow_code: AllowCodeOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Score a CSV or Parquet file chunk by chunk (bounded memory) and write predictions.

    Each chunk is checked against the model's signature; an error names its rows.
    """
    from modelkeep.serve.batch import score_file

    with open_client(ctx) as client:
        model = client.load_model(model_uri, allow_code=allow_code)
    summary = score_file(
        model,
        input_path,
        output,
        chunk_size=chunk_size,
        id_column=id_column,
        proba=proba,
        progress=not as_json and sys.stderr.isatty(),
    )
    if as_json:
        print_json(summary.to_dict())
        return
    typer.echo(
        f"Wrote {summary.rows:,} predictions to {summary.output} in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s, {summary.chunks} "
        f"chunk{'' if summary.chunks == 1 else 's'})"
    )
    if summary.energy is not None:
        use = summary.energy
        typer.echo(
            f"Used {use.cpu_seconds:.1f} CPU s, {use.peak_memory_mb:,.0f} MiB peak, "
            f"{use.energy_kwh:.2g} kWh, {use.co2_kg:.2g} kg CO2e ({use.method}, {use.country})"
        )
