"""``modelkeep quickstart``: the whole model lifecycle, for real, on the embedded store.

1. A churn table is generated (numpy, seeded; nothing downloaded) with missing values,
   repeated rows, an outlier column and a mild class imbalance; it is profiled and validated
   and the problems are shown; the training config's ``cleaning:`` section fixes them inside
   the model pipeline.
2. A small Optuna study (``modelkeep.tune``) tunes a random forest; its best model is
   registered as v1 of ``quickstart-churn``, aliased ``champion``, and its model card written.
3. The inference server starts on a free loopback port (the canary follows ``challenger``,
   pending until that alias exists); normal traffic, then traffic with covariate and concept
   drift, is sent, with the labels arriving later through ``/feedback``.
4. Monitoring finds the drift and the accuracy drop; the alerts go to the log and to a local
   webhook receiver.
5. The maintenance policy retrains on the original plus the recent labeled traffic, the
   challenger beats the champion on the paired test, passes the gates, goes through a 10% ->
   50% -> 100% canary while traffic keeps flowing, and is promoted; the server hot-reloads it.
   Every answer that is not a 200 is counted (there should be none).
6. One self-contained HTML report and ``summary.json`` are written under
   ``<home>/quickstart/<model>/``, and the CLI commands that show the same are printed.

Each run registers a model of its own: ``quickstart-churn``, then ``quickstart-churn-2``...
(:func:`~modelkeep.cli.quickstart_steps.free_model_name`), so re-running never touches earlier
runs or a user's models. ``--fast`` runs every step on less data (the test suite uses it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.context import resolve_settings, store_option_hint
from modelkeep.config import Settings
from modelkeep.exceptions import StoreUnavailableError

if TYPE_CHECKING:
    from modelkeep.cli.quickstart_serve import LiveServer, Traffic
    from modelkeep.cli.quickstart_steps import DataStep, MonitorStep, Sizes, TuneStep
    from modelkeep.tracking import Client

__all__ = ["QuickstartResult", "quickstart", "quickstart_session"]

Say = Callable[[str], None]


@dataclass
class QuickstartResult:
    """Everything one quickstart did (also written as ``summary.json``)."""

    model: str
    folder: str
    url: str = ""
    data: DataStep | None = None
    tuning: TuneStep | None = None
    requests: dict[str, int] = field(default_factory=dict)
    monitor_normal: MonitorStep | None = None
    monitor_drift: MonitorStep | None = None
    webhook: list[dict[str, Any]] = field(default_factory=list)
    log_alerts: list[str] = field(default_factory=list)
    decision: dict[str, Any] = field(default_factory=dict)
    champion_version: int | None = None
    served_version: str | None = None
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    report: str = ""


class StepProgress:
    """Rich progress on stderr: one line per step, with the step's own messages above."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.seconds: dict[str, float] = {}

    def say(self, line: str) -> None:
        """One message line (not Rich markup)."""
        self.progress.console.print(f"    {line}", markup=False, highlight=False)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A step: spinning while it runs, ticked (with its duration) when it is done,
        crossed when it fails."""
        task = self.progress.add_task(title, total=1)
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.progress.update(task, description=f"[red]✗[/red] {title}")
            raise
        self.seconds[title] = round(time.monotonic() - started, 2)
        self.progress.update(task, completed=1, description=f"[green]✓[/green] {title}")


class _LogRelay(logging.Handler):
    """Shows modelkeep's warnings (and every alert the log channel writes) as step messages,
    and keeps the alert lines."""

    def __init__(self, say: Say) -> None:
        super().__init__(logging.INFO)
        self._say = say
        self.alerts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.startswith("modelkeep.monitor.alerts"):
            self.alerts.append(f"{record.levelname}: {message}")
            self._say(f"log channel: {record.levelname} {message}")
        elif record.levelno >= logging.WARNING:
            self._say(f"{record.name}: {message}")


@contextmanager
def _relay_logs(say: Say) -> Iterator[_LogRelay]:
    logger = logging.getLogger("modelkeep")
    relay = _LogRelay(say)
    previous = logger.level
    logger.addHandler(relay)
    logger.setLevel(min(previous or logging.WARNING, logging.INFO))
    try:
        yield relay
    finally:
        logger.removeHandler(relay)
        logger.setLevel(previous)


@contextmanager
def _one_thread_per_kernel() -> Iterator[None]:
    """Limit OpenMP and BLAS to one thread in this thread while the quickstart runs.

    The server, the traffic and the training share this process (and a small machine): the
    monitor's gradient-boosting drift classifier, left to spin one OpenMP thread per core next
    to them, runs several times slower than on one thread.
    """
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime, so the limit reaches it
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        yield


@contextmanager
def quickstart_session(
    settings: Settings, sizes: Sizes, steps: StepProgress
) -> Iterator[QuickstartResult]:
    """Run steps 1-6; the server is still up inside the ``with`` block (``--keep-serving``).

    Raises:
        ModelkeepError: a step failed (its message says which).
    """
    from modelkeep.tracking import Client

    with (
        _one_thread_per_kernel(),
        Client(settings.resolved_tracking_uri(), settings=settings) as client,
        _relay_logs(steps.say) as relay,
        _run_steps(settings, client, sizes, steps, relay.alerts) as result,
    ):
        yield result


@contextmanager
def _run_steps(
    settings: Settings, client: Client, sizes: Sizes, steps: StepProgress, log_alerts: list[str]
) -> Iterator[QuickstartResult]:
    from modelkeep.cli.quickstart_serve import AlertReceiver, LiveServer, free_port
    from modelkeep.cli.quickstart_steps import free_model_name, serve_options

    name = free_model_name(client)
    folder = Path(settings.home) / "quickstart" / name
    folder.mkdir(parents=True, exist_ok=True)
    result = QuickstartResult(name, str(folder))
    started_ms = int(time.time() * 1000)
    _offline_steps(settings, client, sizes, steps, result)
    options = serve_options(settings, name, free_port(), sizes)
    with (
        AlertReceiver() as hook,
        LiveServer(options, settings) as server,
        _traffic(server) as traffic,
    ):
        result.url = server.url
        with steps.step("3/6 serve: normal traffic, then drifted traffic, labels later"):
            normal_end = _send_traffic(server, traffic, sizes, steps.say)
        with steps.step("4/6 monitor: drift, accuracy, alerts (log + webhook)"):
            _monitor(settings, client, result, sizes, (hook.url, normal_end), steps.say)
            result.webhook, result.log_alerts = hook.received, log_alerts
        with steps.step("5/6 maintain: retrain, paired test, gates, canary, promotion"):
            _maintain(settings, client, server, traffic, result, sizes, steps.say)
        with steps.step("6/6 report"):
            server.flush_log()
            _report(settings, traffic, result, started_ms, steps)
        yield result


def _offline_steps(
    settings: Settings, client: Client, sizes: Sizes, steps: StepProgress,
    result: QuickstartResult,
) -> None:  # fmt: skip
    """Steps 1 and 2: the data, and the tuned champion."""
    from modelkeep.cli.quickstart_steps import check_data, tune_champion

    folder = Path(result.folder)
    with steps.step("1/6 data: generate, profile, validate"):
        result.data = check_data(folder, sizes.train_rows)
        _say_problems(result.data, steps.say)
    with steps.step(f"2/6 tune ({sizes.trials} trials), register v1 as champion, model card"):
        result.tuning = tune_champion(settings, client, folder, result.data, result.model, sizes)
        _say_tuning(result.tuning, steps.say)


def _report(
    settings: Settings, traffic: Traffic, result: QuickstartResult, started_ms: int,
    steps: StepProgress,
) -> None:  # fmt: skip
    """Step 6: the realized accuracies, the counts, the HTML report and summary.json."""
    from modelkeep.cli.quickstart_report import write_report
    from modelkeep.cli.quickstart_steps import realized_accuracy, write_json

    folder = Path(result.folder)
    result.accuracy = realized_accuracy(settings, result.model, started_ms)
    result.failed_requests = traffic.counts.failed
    result.failures = list(traffic.counts.failures)
    result.requests = {"predictions": traffic.counts.predictions,
                       "feedback": traffic.counts.feedback}  # fmt: skip
    result.seconds = dict(steps.seconds)
    result.report = str(write_report(result, folder / "report.html"))
    write_json(folder / "summary.json", result)


@contextmanager
def _traffic(server: LiveServer) -> Iterator[Traffic]:
    from modelkeep.cli.quickstart_data import FEATURES, TARGET
    from modelkeep.cli.quickstart_serve import Traffic, TrafficCounts

    traffic = Traffic(server.url, TrafficCounts(), list(FEATURES), TARGET)
    try:
        yield traffic
    finally:
        traffic.close()


def _say_problems(data: DataStep, say: Say) -> None:
    say(f"{data.rows} rows x {data.columns} columns written to {data.path}")
    for problem in data.problems:
        say(f"{problem['source']} {problem['severity']}: {problem['message']}"
            f"  -> {problem['fix'] or 'reported'}")  # fmt: skip


def _say_tuning(tuning: TuneStep, say: Say) -> None:
    params = ", ".join(f"{k.removeprefix('model.params.')}={v}"
                       for k, v in tuning.best_params.items())  # fmt: skip
    test = tuning.test_metrics.get(f"test_{tuning.metric}", float("nan"))
    say(f"study {tuning.study}: {len(tuning.trials)} trials, best cv {tuning.metric} "
        f"{tuning.best_value:.3f} ({params}); test {tuning.metric} {test:.3f}")  # fmt: skip
    say(f"registered v{tuning.version}, alias champion; model card {tuning.card}")


def _send_traffic(server: LiveServer, traffic: Traffic, sizes: Sizes, say: Say) -> int:
    """Normal traffic, then drifted traffic (labels a few requests late); returns the time
    between the two, where the normal window ends."""
    from modelkeep.cli.quickstart_data import production_rows

    say(f"serving @champion at {server.url}; the canary waits for @challenger")
    normal = production_rows(sizes.normal_rows, 11, drifted=False)
    sent = traffic.send(normal, "normal", rows_per_request=10)
    server.flush_log()
    time.sleep(0.01)
    normal_end = int(time.time() * 1000)
    time.sleep(0.01)
    say(f"normal traffic: {len(normal)} rows in {sent} requests, labels through /feedback")
    drifted = production_rows(sizes.drift_rows, 12, drifted=True)
    sent = traffic.send(drifted, "drift", rows_per_request=10)
    server.flush_log()
    say(f"drifted traffic: {len(drifted)} rows in {sent} requests (charges up, new churn "
        f"concept), labels through /feedback")  # fmt: skip
    return normal_end


def _monitor(
    settings: Settings, client: Client, result: QuickstartResult, sizes: Sizes,
    hook: tuple[str, int], say: Say,
) -> None:  # fmt: skip
    from modelkeep.cli.quickstart_steps import alert_rules, monitor_window

    rules = alert_rules(hook[0])
    windows = (("normal", sizes.normal_rows, hook[1]), ("drifted", sizes.drift_rows, None))
    for label, rows, end_ms in windows:
        found = monitor_window(settings, client, result.model, rows, rules, end_ms=end_ms)
        accuracy = "n/a" if found.accuracy is None else f"{found.accuracy:.3f}"
        drifted = ", ".join(found.drifted_columns) or "none"
        say(f"{label} window ({found.rows} rows): drift share {found.drift_share:.2f} "
            f"(drifted: {drifted}), realized accuracy {accuracy}, "
            f"{len(found.alerts)} alert(s)")  # fmt: skip
        if label == "normal":
            result.monitor_normal = found
        else:
            result.monitor_drift = found


def _maintain(
    settings: Settings, client: Client, server: LiveServer, traffic: Traffic,
    result: QuickstartResult, sizes: Sizes, say: Say,
) -> None:  # fmt: skip
    from modelkeep.cli.quickstart_data import production_rows
    from modelkeep.cli.quickstart_serve import CanaryTraffic
    from modelkeep.cli.quickstart_steps import maintenance_policy
    from modelkeep.maintain.policy import policy_text
    from modelkeep.maintain.runner import run_policies

    policy = maintenance_policy(result.model, sizes)
    (Path(result.folder) / "policy.yaml").write_text(policy_text(policy), encoding="utf-8")
    canary = CanaryTraffic(traffic, server, lambda i: production_rows(50, 1000 + i, drifted=True))
    canary.start()
    try:
        [record] = run_policies(settings=settings, policies=[policy], server_url=server.url,
                                progress=say)  # fmt: skip
        result.decision = record.to_dict()
        new = str(record.challenger_version)
        if record.action == "promoted":
            reloaded = server.wait_for(lambda v: str(v["primary"]["version"]) == new, 120)
            say(f"server hot-reloaded v{new}" if reloaded else f"v{new} not served yet")
    finally:
        canary.stop()
    if canary.error is not None:
        raise StoreUnavailableError(f"the canary traffic stopped: {canary.error}") from None
    result.champion_version = int(client.get_registered_model(result.model).aliases["champion"])
    result.served_version = str(server.version()["primary"]["version"])
    after = production_rows(sizes.after_rows, 13, drifted=True)
    traffic.send(after, "after", rows_per_request=10)
    say(f"{record.action}: {record.reason}; {len(after)} more drifted rows scored by "
        f"v{result.served_version}")  # fmt: skip


def _hold(url: str, marker: Path) -> None:
    """Keep serving until Ctrl-C; ``marker`` holds the server's URL meanwhile."""
    try:
        marker.write_text(url + "\n", encoding="utf-8")
        typer.echo(f"\nThe inference server keeps serving at {url} (Ctrl-C stops it).")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("Stopped.")
    finally:
        marker.unlink(missing_ok=True)


def quickstart(
    ctx: typer.Context,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Less data, fewer trials, shorter canary steps (for tests)."),
    ] = False,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving",
            help="Leave the inference server up after the summary until Ctrl-C (its URL is in "
            "<home>/quickstart/<model>/server.url meanwhile).",
        ),
    ] = False,
) -> None:
    """Run the whole lifecycle: data, tuning, serving, drift, alert, retrain, canary, report."""
    from modelkeep.cli.quickstart_report import print_summary
    from modelkeep.cli.quickstart_steps import FAST, FULL

    settings = resolve_settings(ctx)
    steps = StepProgress()
    with steps.progress, quickstart_session(settings, FAST if fast else FULL, steps) as result:
        steps.progress.stop()
        print_summary(result, store_option_hint(ctx), Path(settings.home))
        if keep_serving:
            _hold(result.url, Path(result.folder) / "server.url")
