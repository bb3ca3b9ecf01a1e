"""``modelkeep audit privacy|pii``: membership inference and personal-data audits.

``app`` is the ``modelkeep audit`` group; other audit commands are added to it from their own
modules (``@app.command(...)`` after importing it from here).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelkeep.cli.context import resolve_settings
from modelkeep.cli.output import print_error, print_json, print_table

if TYPE_CHECKING:
    from modelkeep.audit import PiiReport, PrivacyReport

__all__ = ["app"]

app = typer.Typer(
    help="Audit models and data: membership inference (privacy), personal data (PII).",
    no_args_is_help=True,
)

UriArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL_URI", help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/ID/PATH."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.command("privacy")
def privacy(
    ctx: typer.Context,
    model_uri: UriArgument,
    members: Annotated[
        Path,
        typer.Option(
            "--members", exists=True, dir_okay=False, help="Rows the model was trained on."
        ),
    ],
    non_members: Annotated[
        Path,
        typer.Option(
            "--non-members",
            exists=True,
            dir_okay=False,
            help="Rows from the same distribution the model never saw.",
        ),
    ],
    target: Annotated[str, typer.Option("--target", help="The label column.")],
    reference_models: Annotated[
        int,
        typer.Option(
            "--reference-models", help="Reference models for the LiRA attack (0: loss only)."
        ),
    ] = 4,
    max_auc: Annotated[float, typer.Option("--max-auc", help="Highest AUC that passes.")] = 0.6,
    max_advantage: Annotated[
        float, typer.Option("--max-advantage", help="Highest membership advantage that passes.")
    ] = 0.1,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Resamples behind each 95% interval.")
    ] = 200,
    allow_code: Annotated[
        bool, typer.Option("--allow-code", help="Trust pickled code when loading the model.")
    ] = False,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store audit/privacy.json on the run.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Membership inference audit: can an attacker tell the training rows from others?
    Stores the report as audit/privacy.json on the version's run (the "privacy" gate)."""
    from modelkeep.audit import privacy_audit

    settings = resolve_settings(ctx)
    report = privacy_audit(
        model_uri,
        members,
        non_members,
        target,
        reference_models=reference_models,
        max_auc=max_auc,
        max_advantage=max_advantage,
        bootstrap=bootstrap,
        record=not no_record,
        allow_code=allow_code,
        tracking_uri=settings.resolved_tracking_uri(),
        settings=settings,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_privacy(report)


def _interval(value: float, bounds: tuple[float, float]) -> str:
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def _print_privacy(report: PrivacyReport) -> None:
    rows = [
        (
            name,
            _interval(a.auc, a.ci["auc"]),
            _interval(a.tpr_at_1pct_fpr, a.ci["tpr_at_1pct_fpr"]),
            _interval(a.tpr_at_01pct_fpr, a.ci["tpr_at_01pct_fpr"]),
            _interval(a.advantage, a.ci["advantage"]),
        )
        for name, a in report.attacks.items()
    ]
    columns = ["attack", "AUC", "TPR@1%FPR", "TPR@0.1%FPR", "advantage"]
    print_table("Membership inference (95% intervals)", columns, rows)
    typer.echo(
        f"{report.n_members} members, {report.n_non_members} non-members evaluated; "
        f"{report.reference_models} reference models on {report.n_reference_rows} other rows"
    )
    verdict = "PASSED" if report.passed else "FAILED"
    typer.echo(
        f"{verdict}: worst AUC {report.auc:.3f} (max {report.max_auc:g}), worst advantage "
        f"{report.advantage:.3f} (max {report.max_advantage:g}); highest AUC from "
        f"{report.worst_attack}"
    )
    for note in report.notes:
        typer.echo(f"note: {note}")


@app.command("pii")
def pii(
    data_file: Annotated[
        Path,
        typer.Argument(
            metavar="DATA_FILE", exists=True, dir_okay=False, help="CSV/TSV/Parquet/JSON table."
        ),
    ],
    as_json: JsonOption = False,
    block: Annotated[
        bool, typer.Option("--block", help="Exit with code 1 when any personal data is found.")
    ] = False,
    sample_rows: Annotated[
        int, typer.Option("--sample-rows", help="Rows scanned (a random sample).")
    ] = 1000,
    min_share: Annotated[
        float,
        typer.Option("--min-share", help="Least share of a column's values that must match."),
    ] = 0.2,
) -> None:
    """Find columns that look like personal data: emails, phone numbers, card numbers,
    national IDs, IP addresses, people's names. Examples are shown masked."""
    from modelkeep.audit import scan_pii

    report = scan_pii(data_file, sample_rows=sample_rows, min_share=min_share)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_pii(report, data_file)
    if block and report.found:
        print_error(f"personal data found in {data_file.name}: {', '.join(report.columns)}")
        raise typer.Exit(1)


def _print_pii(report: PiiReport, data_file: Path) -> None:
    rows = [
        (f.column, f.kind, f"{f.share:.0%}", ", ".join(f.examples), f.detail)
        for f in report.findings
    ]
    scanned = (
        f"{len(report.columns_scanned)} text/integer columns, "
        f"{report.sampled_rows} of {report.rows} rows scanned"
    )
    if not rows:
        typer.echo(f"{data_file.name}: no personal data found ({scanned})")
        return
    columns = ["column", "kind", "share", "examples", "detail"]
    print_table(f"Personal data in {data_file.name}", columns, rows)
    typer.echo(scanned)
