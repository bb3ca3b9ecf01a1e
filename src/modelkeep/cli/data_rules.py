"""``modelkeep data validate`` and ``modelkeep data suggest``: validation rules from the CLI.

Adds both commands to the ``data`` group of :mod:`modelkeep.cli.data`; importing this module is
what registers them. ``validate`` exits 1 when a rule fails, so a script or CI step can stop on
bad data; ``suggest`` writes rules that the given data passes, as a starting point to edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.data import DataPathArgument, TargetOption, app
from modelkeep.cli.output import print_json, stdout_console

__all__ = ["suggest_command", "validate_command"]


@app.command("validate")
def validate_command(
    path: DataPathArgument,
    rules: Annotated[
        Path,
        typer.Option("--rules", metavar="FILE", help="The rules YAML file to check against."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
    ] = False,
) -> None:
    """Check a table against validation rules; exit 1 when any rule fails."""
    from modelkeep.data.rules import RuleSet, validate

    report = validate(path, RuleSet.from_yaml(rules))
    if as_json:
        print_json(report.to_dict())
    elif report.passed:
        stdout_console().print(
            f"All {report.rules_checked} rules passed on {report.n_rows} rows.", markup=False
        )
    else:
        stdout_console().print(report.render())
    if not report.passed:
        raise typer.Exit(1)


@app.command("suggest")
def suggest_command(
    path: DataPathArgument,
    target: TargetOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the rules to FILE instead of printing them.",
        ),
    ] = None,
) -> None:
    """Suggest validation rules (YAML) that the table passes, to edit and validate against."""
    from modelkeep.data.profile import profile
    from modelkeep.data.rules import suggest_rules

    rules = suggest_rules(profile(path, target=target))
    text = rules.to_yaml()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"Wrote {len(rules)} rules to {output}", err=True)
