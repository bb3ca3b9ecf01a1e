"""``run_monitor`` end to end: a model trained with ``modelkeep.train`` (which stores its
reference), served in-process, its inference log windowed and monitored, the monitoring run,
reports and alerts stored; ``modelkeep monitor run`` and ``modelkeep alerts list``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.alert_history import list_alerts
from modelkeep.monitor.runner import MONITORING_EXPERIMENT, run_monitor
from modelkeep.monitor.windows import parse_window
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client
from modelkeep.train import train

RULES = """
rules:
  - {name: drifting, metric: drift.share, condition: ">=", value: 0.02, severity: critical,
     cooldown: 1h, channels: [log]}
  - {name: quiet, metric: rows, condition: "<", value: 1, channels: [log]}
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monitor-home")


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


@pytest.fixture(scope="module")
def cancer(home: Path) -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(home / "cancer.csv", index=False)
    return frame


@pytest.fixture(scope="module")
def trained(settings: Settings, cancer: pd.DataFrame, home: Path) -> Any:
    import modelkeep as mk

    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        return train(
            {
                "task": "classification",
                "data": str(home / "cancer.csv"),
                "target": "target",
                "model": {"family": "random_forest", "params": {"n_estimators": 20}},
                "split": {"kind": "holdout", "test_size": 0.3},
                "register": {"name": "cancer", "alias": "champion"},
                "seed": 0,
            }
        )
    finally:
        mk.set_tracking_uri(None)


def _send(server: TestClient, rows: pd.DataFrame, prefix: str) -> list[str]:
    ids = []
    for index in range(len(rows)):
        body = {
            "dataframe_split": {
                "columns": list(rows.columns),
                "data": [rows.iloc[index].tolist()],
            }
        }
        answer = server.post(
            "/invocations", json=body, headers={"x-request-id": f"{prefix}-{index}"}
        )
        assert answer.status_code == 200, answer.text
        ids.append(f"{prefix}-{index}")
    return ids


@pytest.fixture(scope="module")
def served(settings: Settings, trained: Any, cancer: pd.DataFrame) -> Iterator[list[str]]:
    """300 requests, the 'mean radius' feature shifted up by three standard deviations, and
    labels for the first 100."""
    X = cancer.drop(columns=["target"])
    picked = np.random.default_rng(0).choice(len(X), 300)
    rows = X.iloc[picked].reset_index(drop=True)
    rows["mean radius"] = rows["mean radius"] + 3 * X["mean radius"].std()
    options = ServeOptions("models:/cancer@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as server:
        ids = _send(server, rows, "w")
        labels = cancer["target"].to_numpy()[picked]
        feedback = [{"request_id": i, "label": int(labels[k])} for k, i in enumerate(ids[:100])]
        assert server.post("/feedback", json=feedback).status_code == 200
    yield ids


def test_training_stores_the_reference_with_the_run(settings: Settings, trained: Any) -> None:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        reference = json.loads(client.artifacts.read_bytes(trained.run_id, "reference.json"))

    assert reference["task"] == "classification" and reference["classes"] == [0, 1]
    assert "mean radius" in reference["features"]["columns"]
    assert len(reference["calibration"]["labels"]) == reference["rows"]
    assert len(reference["sample"]["data"]) == reference["rows"]


def test_a_window_is_monitored_stored_and_alerted(settings: Settings, served: list[str]) -> None:
    result = run_monitor("models:/cancer@champion", "1h", rules=RULES, settings=settings)

    assert result.rows == 300 and result.version == "1"
    column = result.report["drift"]["columns"]["mean radius"]
    assert column["drifted"] and result.metrics["drift.column.mean radius.drifted"] == 1.0
    assert result.metrics["drift.share"] > 0
    assert 0.0 <= result.metrics["performance.accuracy"] <= 1.0  # 100 labels arrived
    assert "estimated.accuracy.value" in result.metrics
    assert [a["rule"] for a in result.alerts] == ["drifting"]
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        run = client.get_run(result.run_id)
        experiment = client.get_experiment(run.experiment_id)
        artifacts = {a.path for a in client.list_artifacts(result.run_id)}
        history = list_alerts(client, "cancer")
    assert experiment.name == MONITORING_EXPERIMENT
    assert run.metrics["drift.share"] == result.metrics["drift.share"]
    assert {"report.html", "report.json"} <= artifacts
    assert history[0]["rule"] == "drifting" and history[0]["run_id"] == result.run_id


def test_cooldown_keeps_a_second_window_quiet(settings: Settings, served: list[str]) -> None:
    first = run_monitor("models:/cancer@champion", "1h", rules=RULES, settings=settings)
    second = run_monitor("models:/cancer@champion", "1h", rules=RULES, settings=settings)

    assert not [a for a in second.alerts if a["rule"] == "drifting"]
    assert first.run_id != second.run_id


def test_count_windows_and_bad_windows(settings: Settings, served: list[str]) -> None:
    result = run_monitor("models:/cancer@champion", "50", settings=settings)
    learned = run_monitor("models:/cancer@champion", "50", settings=settings, thresholds="learned")

    assert result.rows == 50 and learned.rows == 50
    with pytest.raises(InvalidInputError) as caught:
        parse_window("soon")
    assert caught.value.field == "window"
    assert parse_window("15m").seconds == 900 and parse_window("5000rows").rows == 5000


def test_an_empty_window_and_a_model_without_reference(
    settings: Settings, served: list[str]
) -> None:
    with pytest.raises(InvalidInputError) as empty:
        run_monitor("models:/cancer@champion", "1h", end_ms=1_000, settings=settings)
    assert empty.value.field == "window"
    with pytest.raises(NotFoundError):
        run_monitor("models:/nothing@champion", "1h", settings=settings)


def test_cli_monitor_run_and_alerts_list(
    settings: Settings, served: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    runner = CliRunner()
    store = ["--store", settings.resolved_tracking_uri()]
    report = tmp_path / "report.html"

    ran = runner.invoke(
        cli_app,
        [*store, "monitor", "run", "models:/cancer@champion", "--window", "1h", "--json",
         "--report", str(report)],
    )  # fmt: skip
    listed = runner.invoke(cli_app, [*store, "alerts", "list", "--model", "cancer", "--json"])

    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["rows"] == 300
    assert report.read_text().lstrip().lower().startswith("<!doctype html>")
    assert listed.exit_code == 0, listed.output
    assert all(a["model"] == "cancer" for a in json.loads(listed.stdout))
