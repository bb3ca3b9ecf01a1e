"""``modelkeep logs tail|export``: read the inference log that ``modelkeep serve`` writes.

The log lives under ``<home>/inference`` (``--home``, else ``MODELKEEP_HOME``, else
``./.modelkeep``); see :mod:`modelkeep.serve.inference_log`. pyarrow and pandas are imported
inside the commands, so ``modelkeep --help`` stays fast. Times are UTC: printed with a ``Z``,
and ``--since``/``--until`` without an offset are read as UTC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.output import print_json, print_table
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["logs_app", "parse_time"]

logs_app = typer.Typer(
    help="Inspect the inference log of served models: predictions and feedback.",
    no_args_is_help=True,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INPUT = "input."
_FORMATS = (".parquet", ".csv")

ModelArgument = Annotated[
    str,
    typer.Argument(metavar="MODEL", help="Registered model name (the run id for runs:/ URIs)."),
]
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        metavar="DIR",
        file_okay=False,
        help="Store root whose inference/ folder to read (default: MODELKEEP_HOME or "
        "./.modelkeep).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _root(home: Path | None) -> Path:
    return (home if home is not None else Settings().home) / "inference"


def parse_time(text: str, field: str) -> int:
    """Epoch milliseconds of an ISO 8601 time; no offset means UTC.

    Raises:
        InvalidInputError: ``text`` is not an ISO 8601 date or time (``field`` names the
            option).
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{field} {text!r} is not an ISO 8601 time, e.g. 2026-11-27T13:00 (UTC) or "
            "2026-11-27T14:00+01:00",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Table rows as JSON-ready dicts shaped like an InferenceRecord (inputs nested)."""
    import pyarrow as pa

    stamps = table.column("timestamp").cast(pa.int64()).to_pylist()
    rows = []
    for stamp, row in zip(stamps, table.drop_columns(["timestamp"]).to_pylist(), strict=True):
        inputs = {k[len(_INPUT) :]: v for k, v in row.items() if k.startswith(_INPUT)}
        plain = {k: v for k, v in row.items() if not k.startswith(_INPUT)}
        rows.append(
            {
                "request_id": plain.pop("request_id"),
                "timestamp": _iso(stamp),
                "timestamp_ms": stamp,
                **plain,
                "inputs": inputs,
            }
        )
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={_compact(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_compact(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


@logs_app.command("tail")
def tail_command(
    model: ModelArgument,
    lines: Annotated[
        int, typer.Option("-n", "--lines", min=1, metavar="N", help="How many rows.")
    ] = 20,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Show the latest predictions of MODEL, oldest first."""
    from modelkeep.serve.inference_read import tail_inference_table

    rows = _rows(tail_inference_table(_root(home), model, lines))
    if as_json:
        print_json(rows)
        return
    columns = ("time (UTC)", "request_id", "version", "variant", "prediction", "proba", "ms")
    cells = [
        (
            row["timestamp"].replace("T", " ").removesuffix("Z"),
            row["request_id"],
            row["version"],
            row["variant"],
            _compact(row["prediction"]),
            _compact(row["proba"]),
            row["latency_ms"],
            _compact(row["inputs"]),
        )
        for row in rows
    ]
    print_table(None, (*columns, "inputs"), cells, keep_whole=("request_id",), empty="No rows.")


def _write_frame(frame: pd.DataFrame, output: Path) -> None:
    """Write ``frame`` as Parquet or CSV (by suffix) atomically: temporary file, rename."""
    import orjson

    temporary = output.with_name(f".{output.name}.tmp")
    try:
        if output.suffix.lower() == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            # CSV has no lists: probabilities become JSON text, e.g. "[0.2,0.8]".
            texts: list[Any] = [
                None if value is None else orjson.dumps(list(map(float, value))).decode()
                for value in frame["proba"]
            ]
            frame = frame.assign(proba=texts)
            frame.to_csv(temporary, index=False)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


@logs_app.command("export")
def export_command(
    model: ModelArgument,
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", metavar="OUT", dir_okay=False, help="A .parquet or .csv file."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO", help="Only rows at or after this time (UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="ISO", help="Only rows before this time (UTC)."),
    ] = None,
    with_feedback: Annotated[
        bool,
        typer.Option(
            "--with-feedback", help="Add a label column: the latest feedback per request id."
        ),
    ] = False,
    home: HomeOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of a sentence.")
    ] = False,
) -> None:
    """Export the predictions of MODEL (optionally joined with feedback) to Parquet or CSV."""
    from modelkeep.serve.inference_read import join_feedback, read_inference_log

    if output.suffix.lower() not in _FORMATS:
        raise InvalidInputError(
            f"--output {output} must end in .parquet or .csv", field="--output"
        )
    since_ms = None if since is None else parse_time(since, "--since")
    until_ms = None if until is None else parse_time(until, "--until")
    read = join_feedback if with_feedback else read_inference_log
    frame = read(_root(home), model, since_ms=since_ms, until_ms=until_ms)
    _write_frame(frame, output)
    if as_json:
        print_json({"model": model, "rows": len(frame), "output": str(output)})
    else:
        typer.echo(f"Wrote {len(frame)} rows of {model} to {output}")
