"""The quickstart's HTML report and the summary it prints.

:func:`write_report` writes one self-contained page (inline CSS and SVG, no script, no URL:
it opens without a network) with a section per part of the story: ``data-problems``,
``training``, ``drift`` (the monitoring run's own report embedded through ``<iframe
srcdoc>``), ``alerts``, ``decision`` and ``performance``. :func:`print_summary` prints the
summary table and the CLI commands that show the same information from the store.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from modelkeep.cli.output import print_table

if TYPE_CHECKING:
    from modelkeep.cli.quickstart import QuickstartResult
    from modelkeep.cli.quickstart_steps import MonitorStep

__all__ = ["SECTIONS", "before_after", "cli_commands", "print_summary", "write_report"]

SECTIONS = ("data-problems", "training", "drift", "alerts", "decision", "performance")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'"
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:auto;padding:24px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;
margin:18px 0}
h1{margin:8px 0}h2{margin-top:0}table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff3;vertical-align:top}
th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.lead{color:#555}pre{background:#f0f2f5;padding:8px;overflow:auto;font-size:13px}
iframe{width:100%;height:560px;border:1px solid #dde1e7;border-radius:6px}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "NO"}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape('-' if value is None else str(value))}</td>"


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _pre(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, indent=1, default=str)
    return f"<pre>{escape(text)}</pre>"


def _bars(items: Sequence[tuple[str, float]]) -> str:
    """A horizontal bar chart (inline SVG) of values in [0, 1]."""
    height = 28 * len(items) + 8
    rows = []
    for index, (label, value) in enumerate(items):
        y = 8 + 28 * index
        width = max(0.0, min(1.0, value)) * 420
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="13">{escape(label)}</text>'
            f'<rect x="250" y="{y}" width="{width:.1f}" height="20" fill="#4c78a8"/>'
            f'<text x="{256 + width:.1f}" y="{y + 15}" font-size="13">{value:.3f}</text>'
        )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="740" height="{height}" '
            f'role="img">{"".join(rows)}</svg>')  # fmt: skip


def _data_section(result: QuickstartResult) -> str:
    data = result.data
    assert data is not None
    rows = [(p["source"], p["severity"], p["kind"], p["column"], p["message"], p["fix"])
            for p in data.problems]  # fmt: skip
    balance = ", ".join(f"class {k}: {v:.1%}" for k, v in data.class_balance.items())
    return _section(
        "data-problems", "1. Data problems",
        _p(f"Generated table {data.path}: {data.rows} rows, {data.columns} columns ({balance})."),
        _table(("found by", "severity", "kind", "column", "problem", "fixed by"), rows),
        _p("The training config's cleaning section fixes them inside the model pipeline, "
           "so serving cleans requests exactly as training cleaned the table:"),
        _pre(data.cleaning),
    )  # fmt: skip


def _training_section(result: QuickstartResult) -> str:
    tuning = result.tuning
    assert tuning is not None
    names = sorted({k for t in tuning.trials for k in t["params"]})
    scores = sorted({k for t in tuning.trials for k in t["scores"]})
    rows = [(t["trial"], t["state"], *(t["params"].get(n) for n in names),
             *(t["scores"].get(s) for s in scores)) for t in tuning.trials]  # fmt: skip
    return _section(
        "training", "2. Training and tuning",
        _p(f"Optuna study {tuning.study} ({len(tuning.trials)} trials, 3-fold stratified "
           f"cross-validation): best cv {tuning.metric} {tuning.best_value:.4f}."),
        _table(("trial", "state", *names, *scores), rows),
        "<h3>Best parameters</h3>", _pre(tuning.best_params),
        "<h3>Test metrics of the refit best model</h3>",
        _table(("metric", "value"), sorted(tuning.test_metrics.items())),
        _p(f"Registered as models:/{result.model}/{tuning.version}, alias champion. "
           f"Model card: {tuning.card}"),
    )  # fmt: skip


def _window_row(label: str, window: MonitorStep | None) -> tuple[Any, ...]:
    if window is None:
        return (label, None, None, None, None, None)
    return (label, window.rows, window.drift_share, ", ".join(window.drifted_columns) or "-",
            window.accuracy, len(window.alerts))  # fmt: skip


def _drift_section(result: QuickstartResult) -> str:
    rows = [_window_row("normal traffic", result.monitor_normal),
            _window_row("drifted traffic", result.monitor_drift)]  # fmt: skip
    embedded = ""
    if result.monitor_drift is not None:
        srcdoc = escape(result.monitor_drift.report_html, quote=True)
        embedded = (
            f"<h3>Monitoring report of the drifted window (run "
            f"{escape(result.monitor_drift.run_id)})</h3>"
            f'<iframe sandbox="" title="monitoring report" srcdoc="{srcdoc}"></iframe>'
        )
    return _section(
        "drift", "3. Drift",
        _p("Two monitoring windows of the champion's answers: the normal traffic and the "
           "drifted traffic (covariate shift in charges, plan and tenure; a new churn concept)."),
        _table(("window", "rows", "drift share", "drifted columns", "realized accuracy",
                "alerts"), rows),
        embedded,
    )  # fmt: skip


def _alerts_section(result: QuickstartResult) -> str:
    alerts = (result.monitor_drift.alerts if result.monitor_drift else []) + (
        result.monitor_normal.alerts if result.monitor_normal else []
    )
    rows = [(a["rule"], a["severity"], a["metric"], a["value"], a["message"],
             ", ".join(f"{k}: {v}" for k, v in (a.get("delivery") or {}).items()))
            for a in alerts]  # fmt: skip
    return _section(
        "alerts", "4. Alerts",
        _table(("rule", "severity", "metric", "value", "message", "delivery"), rows),
        _p(f"The local webhook receiver got {len(result.webhook)} alert(s); the log channel "
           f"wrote {len(result.log_alerts)} line(s):"),
        _pre("\n".join(result.log_alerts) or "(none)"),
        "<h3>First webhook body received</h3>",
        _pre(result.webhook[0] if result.webhook else "(none)"),
    )  # fmt: skip


def _evaluation_parts(evaluation: dict[str, Any]) -> list[str]:
    if not evaluation:
        return [_p("No evaluation was reached.")]
    mcnemar = evaluation.get("mcnemar") or {}
    boot = evaluation.get("bootstrap") or {}
    rows = [("champion", evaluation.get("champion")),
            ("challenger", evaluation.get("challenger")),
            ("improvement", evaluation.get("improvement")),
            ("McNemar b (champion right only)", mcnemar.get("b")),
            ("McNemar c (challenger right only)", mcnemar.get("c")),
            ("McNemar p-value", mcnemar.get("p_value")),
            ("bootstrap difference", boot.get("diff")),
            ("bootstrap interval", f"[{boot.get('lower', 0):.4f}, {boot.get('upper', 0):.4f}]"),
            ("bootstrap p-value", boot.get("p_value"))]  # fmt: skip
    slices = [(s["column"], s["value"], s["rows"], s["champion"], s["challenger"], s["change"])
              for s in evaluation.get("slices") or []]  # fmt: skip
    return [
        _p(f"{evaluation.get('metric')} of both models on {evaluation.get('rows')} holdout rows "
           "of recent labeled traffic that neither trained on:"),
        _table(("measure", "value"), rows), "<h3>Per slice</h3>",
        _table(("column", "value", "rows", "champion", "challenger", "change"), slices),
    ]  # fmt: skip


def _canary_rows(steps: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for step in steps:
        canary, primary = step.get("canary") or {}, step.get("primary") or {}
        realized = step.get("realized") or {}
        seen = ", ".join(f"{k} {realized[k]:.3f}" for k in ("primary", "canary") if k in realized)
        rows.append((f"{step['weight']:.0%}", canary.get("requests"), canary.get("errors"),
                     canary.get("p99_ms"), primary.get("requests"), primary.get("p99_ms"),
                     seen or "-", bool(step.get("passed")), step.get("why")))  # fmt: skip
    return rows


def _decision_section(result: QuickstartResult) -> str:
    record = result.decision
    triggers = [(t.get("kind"), bool(t.get("fired")), t.get("observed"), t.get("threshold"),
                 t.get("detail")) for t in record.get("triggers") or []]  # fmt: skip
    gates = [(g["name"], bool(g["passed"]), g["detail"]) for g in record.get("gates") or []]
    return _section(
        "decision", "5. Decision record",
        _p(f"Maintenance run {record.get('run_id')}: action {record.get('action')} "
           f"(v{record.get('champion_version')} -> v{record.get('challenger_version')}): "
           f"{record.get('reason')}"),
        "<h3>Triggers</h3>",
        _table(("trigger", "fired", "observed", "threshold", "detail"), triggers),
        "<h3>Refreshed data</h3>", _pre(record.get("data") or {}),
        "<h3>Evaluation</h3>", *_evaluation_parts(record.get("evaluation") or {}),
        "<h3>Gates</h3>", _table(("gate", "passed", "detail"), gates),
        "<h3>Canary steps</h3>",
        _table(("weight", "canary requests", "canary errors", "canary p99 ms",
                "primary requests", "primary p99 ms", "realized accuracy", "passed", "why"),
               _canary_rows(record.get("rollout") or [])),
    )  # fmt: skip


def before_after(result: QuickstartResult) -> tuple[float | None, float | None]:
    """Realized accuracy of v1 on the drifted traffic, and of the promoted version on the
    drifted traffic sent after the promotion."""

    def accuracy(phase: str, version: object) -> float | None:
        found = [a for a in result.accuracy if (a["phase"], a["version"]) == (phase, str(version))]
        return float(found[0]["accuracy"]) if found else None

    return accuracy("drift", 1), accuracy("after", result.champion_version)


def _performance_section(result: QuickstartResult) -> str:
    before, after = before_after(result)
    bars = [("v1 on drifted traffic", before or 0.0),
            (f"v{result.champion_version} after promotion", after or 0.0)]  # fmt: skip
    rows = [(a["phase"], a["version"], a["variant"], a["rows"], a["accuracy"])
            for a in result.accuracy]  # fmt: skip
    return _section(
        "performance", "6. Before and after",
        _p("Realized accuracy from the inference log joined with the labels sent to /feedback."),
        _bars(bars),
        _table(("traffic phase", "version", "variant", "labeled rows", "accuracy"), rows),
        _p(f"Requests that did not get a 200 during the whole run: {result.failed_requests} "
           f"(of {sum(result.requests.values())} requests to /invocations and /feedback)."),
    )  # fmt: skip


def write_report(result: QuickstartResult, path: Path) -> Path:
    """Write the report page to ``path`` and return it."""
    body = [
        _data_section(result), _training_section(result), _drift_section(result),
        _alerts_section(result), _decision_section(result), _performance_section(result),
        _section("commands", "The same information from the CLI",
                 _pre("\n".join(cli_commands(result, "", Path(result.folder).parents[1])))),
    ]  # fmt: skip
    page = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>modelkeep quickstart: {escape(result.model)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>modelkeep quickstart: {escape(result.model)}</h1>",
        _p(f"The whole lifecycle on the store under {Path(result.folder).parent.parent}: data, "
           "tuning, serving, drift, alert, retraining, canary and promotion."),
        *body, "</main></body></html>",
    ]  # fmt: skip
    path.write_text("\n".join(page) + "\n", encoding="utf-8")
    return path


def cli_commands(result: QuickstartResult, store: str, home: Path | None) -> list[str]:
    """The commands that show each step's results from the store and the files."""
    name, folder = result.model, shlex.quote(result.folder)
    data = shlex.quote(result.data.path) if result.data else "DATA"
    logs_home = f" --home {shlex.quote(str(home))}" if home is not None else ""
    window = result.monitor_drift.rows if result.monitor_drift else 500
    return [
        f"modelkeep data profile {data} --target churned",
        f"modelkeep data validate {data} --rules {folder}/rules.yaml",
        f"modelkeep {store}runs search --experiment quickstart --order-by "
        f'"metrics.cv_accuracy_mean DESC"',
        f"modelkeep {store}models show {name}",
        f"modelkeep {store}models card models:/{name}@champion --output {folder}",
        f"modelkeep logs tail {name}{logs_home}",
        f"modelkeep {store}monitor run models:/{name}@champion --window {window}",
        f"modelkeep {store}alerts list --model {name}",
        f"modelkeep {store}maintain history {name}",
        f"modelkeep {store}serve models:/{name}@champion",
    ]


def _summary_rows(result: QuickstartResult) -> list[tuple[str, str]]:
    data, tuning, drift = result.data, result.tuning, result.monitor_drift
    record = result.decision
    evaluation = record.get("evaluation") or {}
    p_value = (evaluation.get("mcnemar") or {}).get("p_value")
    steps = " -> ".join(f"{s['weight']:.0%}" for s in record.get("rollout") or [])
    before, after = before_after(result)
    return [
        ("1 data", f"{data.rows if data else 0} rows; {len(data.problems) if data else 0} "
                   "problems found; the config's cleaning: fixes them in the pipeline"),
        ("2 tuning", f"{len(tuning.trials) if tuning else 0} trials; best cv accuracy "
                     f"{tuning.best_value if tuning else float('nan'):.3f}; v1 champion"),
        ("3 serving", f"{result.url}: {result.requests.get('predictions', 0)} requests, "
                      f"{result.requests.get('feedback', 0)} label posts"),
        ("4 monitoring", f"drift share {drift.drift_share if drift else 0:.2f}, accuracy "
                         f"{_num(drift.accuracy if drift else None)}; "
                         f"{len(drift.alerts) if drift else 0} alerts, "
                         f"{len(result.webhook)} received by the webhook"),
        ("5 maintenance", f"{record.get('action')}: v{record.get('challenger_version')} "
                          f"({_num(evaluation.get('champion'))} -> "
                          f"{_num(evaluation.get('challenger'))} on the holdout, McNemar p "
                          f"{_num(p_value)}); canary {steps or '-'}; serving "
                          f"v{result.served_version}"),
        ("6 result", f"accuracy on drifted traffic {_num(before)} (v1) -> {_num(after)} "
                     f"(v{result.champion_version}); failed requests {result.failed_requests}"),
    ]  # fmt: skip


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3g}"


def print_summary(result: QuickstartResult, store: str, home: Path) -> None:
    """The problems found, the summary table, where the report is, and the commands that
    show the same."""
    if result.data is not None:
        rows = [(p["severity"], p["kind"], p["column"], p["message"], p["fix"])
                for p in result.data.problems]  # fmt: skip
        print_table("Data problems found", ("severity", "kind", "column", "problem", "fixed by"),
                    rows)  # fmt: skip
        typer.echo("")
    print_table(f"Quickstart summary: {result.model}", ("step", "result"),
                _summary_rows(result))  # fmt: skip
    if result.decision.get("action") != "promoted":
        typer.echo(f"\nThe challenger was not promoted: {result.decision.get('reason')}")
    typer.echo(f"\nFailed requests: {result.failed_requests}")
    for failure in result.failures[:5]:
        typer.echo(f"  {failure}")
    typer.echo(f"Report: {result.report}")
    typer.echo(f"Summary (JSON): {Path(result.folder) / 'summary.json'}")
    typer.echo("\nThe same information from the CLI:")
    for command in cli_commands(result, store, home):
        typer.echo(f"  {command}")
