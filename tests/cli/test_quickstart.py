from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import Invoke
from typer.testing import CliRunner

from modelkeep.cli.app import app
from modelkeep.tracking import Client


def test_quickstart_creates_one_finished_run_per_learning_rate(
    cli: Invoke, client: Client
) -> None:
    result = cli("quickstart", "--runs", "3", "--steps", "5")
    assert result.exit_code == 0, result.output
    exp = client.get_experiment_by_name("quickstart")
    assert exp is not None
    runs = client.search_runs([exp.id])
    assert len(runs) == 3
    assert {run.status.value for run in runs} == {"FINISHED"}
    assert sorted(run.params["learning_rate"] for run in runs) == ["0.01", "0.1", "1.0"]


def test_quickstart_logs_per_step_metrics_datasets_and_artifacts(
    cli: Invoke, client: Client
) -> None:
    cli("quickstart", "--runs", "1", "--steps", "7")
    [run] = client.search_runs([e.id for e in client.list_experiments()])
    assert [m.step for m in client.get_metric_history(run.id, "accuracy")] == list(range(7))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(run.metrics)
    assert {(d.name, d.context) for d in run.inputs} == {
        ("train", "training"),
        ("validation", "validation"),
    }
    paths = [record.path for record in client.list_artifacts(run.id)]
    assert {"model/MODEL.json", "model/model.skops", "report.txt"} <= set(paths)


def test_quickstart_registers_the_best_model_and_loads_it_by_alias(
    cli: Invoke, client: Client
) -> None:
    result = cli("quickstart", "--runs", "3", "--steps", "10")
    assert result.exit_code == 0, result.output
    champion = client.store.get_model_version_by_alias("quickstart-logreg", "champion")
    runs = client.search_runs([e.id for e in client.list_experiments()])
    best = max(runs, key=lambda r: r.metrics["val_accuracy"])
    [champion_run] = [r for r in runs if r.id == champion.run_id]
    assert champion_run.metrics["val_accuracy"] == best.metrics["val_accuracy"]
    tracked = f"(tracked: {best.metrics['val_accuracy']:.3f})"
    assert f"accuracy {best.metrics['val_accuracy']:.3f} {tracked}" in result.stdout
    history = client.store.list_alias_history("quickstart-logreg")
    assert "best validation accuracy" in history[-1].reason


def test_quickstart_summary_is_best_first_and_shows_the_follow_up_commands(
    cli: Invoke, store_uri: str
) -> None:
    result = cli("quickstart", "--runs", "3", "--steps", "10")
    searched = cli(
        "runs",
        "search",
        "--experiment",
        "quickstart",
        "--order-by",
        "metrics.accuracy DESC",
        "--json",
    )
    best = json.loads(searched.stdout)["runs"][0]["id"]
    assert result.stdout.index(best) < result.stdout.index("Look at the result")
    assert f"modelkeep --store {store_uri} runs show {best}" in result.stdout
    assert f"modelkeep --store {store_uri} artifacts list {best}" in result.stdout
    assert '--order-by "metrics.accuracy DESC"' in result.stdout


def test_quickstart_artifacts_can_be_downloaded(tmp_path: Path, store_uri: str) -> None:
    # The store comes from the environment here, as for a user with MODELKEEP_TRACKING_URI.
    runner = CliRunner(env={"MODELKEEP_TRACKING_URI": store_uri})
    assert runner.invoke(app, ["quickstart", "--runs", "1", "--steps", "3"]).exit_code == 0
    [run] = json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout)
    dest = tmp_path / "out"
    got = runner.invoke(app, ["artifacts", "get", run["id"], "model", "--dest", str(dest)])
    assert got.exit_code == 0, got.output
    manifest = json.loads((dest / "model" / "MODEL.json").read_text())
    assert manifest["flavor"] == "sklearn"
    assert [c["name"] for c in manifest["signature"]["inputs"]] == ["x0", "x1", "x2", "x3"]


def test_quickstart_rejects_zero_runs(cli: Invoke) -> None:
    assert cli("quickstart", "--runs", "0").exit_code == 2


def test_quickstart_serves_the_champion_over_http_and_logs_each_prediction(
    cli: Invoke, tmp_path: Path
) -> None:
    from modelkeep.serve.inference_log import read_inference_log

    result = cli("quickstart", "--runs", "2", "--steps", "10")

    assert result.exit_code == 0, result.output
    loaded = re.search(r"it scores validation accuracy (\d\.\d+)", result.stdout)
    served = re.search(
        r"Served models:/quickstart-logreg@champion \(version (\d+), (onnx|native) runtime\) "
        r"over HTTP: (\d+) one-row requests, validation accuracy (\d\.\d+); (\d+) predictions",
        result.stdout,
    )
    assert loaded is not None and served is not None, result.stdout
    assert served.group(4) == loaded.group(1)  # the same model answers the same over HTTP
    requests, logged = int(served.group(3)), int(served.group(5))
    assert requests == logged > 0
    log = read_inference_log(tmp_path / "home" / "inference", "quickstart-logreg")
    assert len(log) == requests and set(log["variant"]) == {"primary"}
    assert "serve models:/quickstart-logreg@champion" in result.stdout
