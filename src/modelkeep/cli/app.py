"""The ``modelkeep`` command: the root Typer app and the one place errors are reported.

Every :class:`~modelkeep.exceptions.ModelkeepError` a command raises (a malformed filter, an
unknown run, an unsafe artifact path, an unreachable store...), and every ``OSError`` on a file
the user named, becomes one red ``Error: ...`` line on stderr and exit code 1; usage errors
keep Click's exit code 2. Heavy modules (pandas, FastAPI, uvicorn) are imported inside the
commands that need them, so ``modelkeep --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import modelkeep
from modelkeep.cli import (
    artifacts,
    audit,
    audit_log,  # noqa: F401 - adds `log` to `audit`
    audit_security,  # noqa: F401 - adds `security` to `audit`
    compress,
    data,
    data_rules,  # noqa: F401 - adds validate/suggest to `data`
    db,
    experiments,
    explain,
    keys,
    logs,
    maintain,
    models,
    models_files,  # noqa: F401 - adds card/sign/verify/export/import to `models`
    monitor,
    predict,
    quickstart,
    runs,
    serve,
    server,
    tokens,
    train,
    tune,
)
from modelkeep.cli.context import CliState
from modelkeep.cli.output import print_error
from modelkeep.exceptions import ModelkeepError

__all__ = ["app", "main"]


class ModelkeepGroup(TyperGroup):
    """The root group: turns library errors into a message and exit code 1, once for all."""

    # ``ctx`` is Any: the base class's Context type is Click's or Typer's vendored copy,
    # depending on the Typer version.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ModelkeepError as exc:
            print_error(exc.message)
            raise typer.Exit(1) from None
        except OSError as exc:  # a file the user named cannot be read or written
            where = f": {exc.filename}" if exc.filename else ""
            print_error(f"{exc.strerror or exc}{where}")
            raise typer.Exit(1) from None


app = typer.Typer(
    name="modelkeep",
    cls=ModelkeepGroup,
    help="Track, register and serve machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(tokens.app, name="token")
app.add_typer(db.app, name="db")
app.add_typer(data.app, name="data")
app.add_typer(monitor.monitor_app, name="monitor")
app.add_typer(monitor.alerts_app, name="alerts")
app.add_typer(logs.logs_app, name="logs")
app.add_typer(maintain.app, name="maintain")
app.command("server")(server.server)
app.command("quickstart")(quickstart.quickstart)
app.command("train")(train.train)
app.command("tune")(tune.tune)
app.command("predict")(predict.predict_command)
app.command("serve")(serve.serve)
app.command("explain")(explain.explain_command)
app.command("compress")(compress.compress_command)
app.add_typer(audit.app, name="audit")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"modelkeep {modelkeep.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="MODELKEEP_TRACKING_URI",
            metavar="URI",
            help="Tracking store: sqlite:///file.db, postgresql+psycopg://..., or "
            "http(s)://host:port. Default: SQLite under MODELKEEP_HOME (./.modelkeep).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the modelkeep version and exit.",
        ),
    ] = False,
) -> None:
    """Track, compare and serve machine-learning experiments."""
    # Compared by name: recent Typer versions vendor Click, so the enum class varies.
    source = ctx.get_parameter_source("store")
    typed = source is not None and source.name == "COMMANDLINE"
    ctx.obj = CliState(store_uri=store or None, store_given_on_command_line=typed)


def main() -> None:
    """Console-script entry point (``modelkeep``)."""
    app(prog_name="modelkeep")


if __name__ == "__main__":
    main()
