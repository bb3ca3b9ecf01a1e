"""``modelkeep audit security``: package checks of a model version (see
:mod:`modelkeep.audit.security`), added to the ``modelkeep audit`` group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelkeep.cli.audit import JsonOption, UriArgument, app
from modelkeep.cli.context import resolve_settings
from modelkeep.cli.output import print_json, print_table

if TYPE_CHECKING:
    from modelkeep.audit.security import SecurityReport

__all__ = ["security"]


@app.command("security")
def security(
    ctx: typer.Context,
    model_uri: UriArgument,
    allow_code: Annotated[
        bool,
        typer.Option(
            "--allow-code",
            help="Accept pickles whose globals do not run commands or code (pickle flavors).",
        ),
    ] = False,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store audit/security.json on the run.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Security checks of a model package: integrity, signature, unsafe serialisation
    (pickle globals), pinned requirements. Exits 1 when a check fails; stores the report
    as audit/security.json on the version's run. Nothing in the package is loaded."""
    from modelkeep.audit.security import security_audit

    settings = resolve_settings(ctx)
    report = security_audit(
        model_uri,
        tracking_uri=settings.resolved_tracking_uri(),
        settings=settings,
        allow_code=allow_code,
        record=not no_record,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_security(report)
    if not report.passed:
        raise typer.Exit(1)


def _print_security(report: SecurityReport) -> None:
    rows = [
        (check.name, "passed" if check.passed else "FAILED", check.severity, check.detail)
        for check in report.checks
    ]
    print_table(
        f"Security audit of {report.model_uri}", ["check", "result", "severity", "detail"], rows
    )
    failed = [check.name for check in report.checks if not check.passed]
    if failed:
        typer.echo(f"FAILED: {', '.join(failed)}")
    else:
        typer.echo("PASSED: every check")
