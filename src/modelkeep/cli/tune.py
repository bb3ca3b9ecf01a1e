"""``modelkeep tune CONFIG``: a hyperparameter study, each trial a child run, the best refit.

Several ``modelkeep tune CONFIG --study NAME`` commands pointed at one PostgreSQL store (or
one SQLite file on one machine) share the study; ``--jobs N`` starts N worker processes here.
Ctrl-C stops this worker; ``--resume`` continues the study later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.context import resolve_settings, store_option_hint
from modelkeep.cli.output import print_error, print_json, print_table

if TYPE_CHECKING:
    from modelkeep.tune import TuneResult

__all__ = ["tune"]


def tune(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Argument(
            metavar="CONFIG", help="Training config (YAML) with a tune: section (space...)."
        ),
    ],
    study: Annotated[
        str | None,
        typer.Option(
            "--study",
            metavar="NAME",
            help="Study name; workers given the same name share the study. Default: "
            "tune.study, else a new '<experiment>-<date>-<time>-<hex>'.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the named study (it must exist)."),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", min=1, max=256, metavar="N", help="Worker processes on this machine."
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", min=1, metavar="N", help="The study's total number of trials."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.001, metavar="S", help="Seconds this worker keeps starting trials."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            metavar="URL",
            help="Optuna RDB storage for the study (Optuna's tables); default: modelkeep's "
            "journal in the store's database (required for http stores).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result (best params, value, runs...) as JSON."),
    ] = False,
) -> None:
    """Tune hyperparameters as CONFIG's tune: section says; refit and log the best model."""
    from modelkeep.tune import load_tune_config
    from modelkeep.tune import tune as run_study
    from modelkeep.tune.runner import default_study_name

    overrides: dict[str, Any] = {"study": study, "storage": storage, "jobs": jobs}
    overrides.update(n_trials=n_trials, timeout=timeout)
    checked = load_tune_config(
        config, overrides={k: v for k, v in overrides.items() if v is not None}
    )
    name = checked.settings.study or default_study_name(checked)
    uri = resolve_settings(ctx).resolved_tracking_uri()
    try:
        result = run_study(checked, resume=resume, study=name, tracking_uri=uri)
    except KeyboardInterrupt:
        print_error(
            f"Interrupted. Continue it with: modelkeep {store_option_hint(ctx)}tune {config} "
            f"--study {name} --resume"
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json(result.to_dict())
        return
    register = checked.train.register
    _print_result(ctx, result, register.name if register is not None else None)


def _print_result(ctx: typer.Context, result: TuneResult, model_name: str | None) -> None:
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(result.states.items()))
    rows = [(name, value) for name, value in sorted(result.best_params.items())]
    print_table(
        f"Study {result.study_name}: best trial {result.best_trial}, value "
        f"{result.best_value:.6g}",
        ("param", "value"),
        rows,
    )
    typer.echo(f"\nTrials: {result.n_trials} in the study ({states}); {result.trials_run} here")
    typer.echo(f"Parent run: {result.run_id}")
    if result.model_uri is None:
        typer.echo("Refit: done by another worker of this study (or tune.refit is false)")
    else:
        tests = "  ".join(
            f"{name}={value:.6g}"
            for name, value in sorted(result.metrics.items())
            if name.startswith("test_")
        )
        typer.echo(f"Refit: run {result.refit_run_id}, model {result.model_uri}")
        typer.echo(f"Test: {tests}")
    if model_name is not None and result.version is not None:
        typer.echo(f"Registered: models:/{model_name}/{result.version}")
    typer.echo(f"Inspect it: modelkeep {store_option_hint(ctx)}runs show {result.run_id}")
