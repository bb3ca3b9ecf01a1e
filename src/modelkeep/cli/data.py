"""``modelkeep data profile``: column statistics, class balance and problems of a table.

This module owns the ``data`` group (:data:`app`); ``modelkeep.cli.data_rules`` adds
``validate`` and ``suggest`` to it. pandas and scikit-learn are imported inside the command,
so ``modelkeep --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.output import print_json, stdout_console

__all__ = ["DataPathArgument", "TargetOption", "app"]

app = typer.Typer(help="Profile and validate tabular data.", no_args_is_help=True)

DataPathArgument = Annotated[
    Path,
    typer.Argument(metavar="PATH", help="A .csv, .tsv, .parquet or .json file."),
]
TargetOption = Annotated[
    str | None,
    typer.Option("--target", metavar="COL", help="The target column."),
]


@app.command("profile")
def profile_command(
    path: DataPathArgument,
    target: TargetOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the profile as JSON instead of tables.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Also write a self-contained HTML report."),
    ] = None,
    bins: Annotated[
        int, typer.Option("--bins", min=1, metavar="N", help="Histogram bins per numeric column.")
    ] = 10,
) -> None:
    """Profile a table: statistics per column, the target's class balance, and problems."""
    from modelkeep.data.profile import profile
    from modelkeep.data.profile_render import problems_table

    result = profile(path, target=target, bins=bins)
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")
    if as_json:
        print_json(result.to_dict())
    else:
        console = stdout_console()
        console.print(result.render())
        if result.problems:
            console.print(problems_table(result.problems))
    if html is not None:
        # On stderr, so that --json output stays parseable.
        typer.echo(f"Wrote {html}", err=True)
