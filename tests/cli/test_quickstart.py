"""``modelkeep quickstart --fast --keep-serving`` end to end, run once for the module: every
step of the lifecycle is checked from the store, the inference log and the files it wrote,
not from its printed text alone."""

from __future__ import annotations

import _thread
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from modelkeep.cli.app import app
from modelkeep.cli.quickstart_report import SECTIONS
from modelkeep.cli.quickstart_steps import free_model_name
from modelkeep.config import Settings
from modelkeep.maintain.decisions import list_decisions
from modelkeep.monitor.alert_history import list_alerts
from modelkeep.serve.inference_log import read_inference_log
from modelkeep.tracking import Client
from modelkeep.tune.objective import TAG_ROLE, TAG_STUDY

MODEL = "quickstart-churn"


@dataclass(frozen=True)
class Run:
    """The one quickstart of this module: its CLI result, store and files."""

    result: Result
    home: Path
    store_uri: str
    summary: dict[str, Any]
    held: dict[str, Any]  # what /version said while --keep-serving held the server

    def client(self) -> Client:
        settings = Settings(home=self.home).model_copy(update={"tracking_uri": self.store_uri})
        return Client(self.store_uri, settings=settings)

    @property
    def folder(self) -> Path:
        return self.home / "quickstart" / MODEL


def _interrupt_when_held(folder: Path, done: threading.Event, held: dict[str, Any]) -> None:
    """Wait until ``--keep-serving`` holds the server, ask it for /version, then press Ctrl-C
    (a KeyboardInterrupt in the main thread, which the hold loop catches). Nothing is pressed
    when the command ends without holding."""
    marker = folder / "server.url"
    while not marker.exists():
        if done.wait(0.1):
            return
    url = marker.read_text().strip()
    answer = httpx.get(f"{url}/version", timeout=10)
    held.update(status=answer.status_code, body=answer.json(), url=url)
    _thread.interrupt_main()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home = tmp_path_factory.mktemp("quickstart") / "home"
    store_uri = f"sqlite:///{home / 'modelkeep.db'}"
    held: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as env:
        for name in ("MODELKEEP_TRACKING_URI", "MODELKEEP_TRACKING_TOKEN",
                     "MODELKEEP_ARTIFACT_ROOT", "MODELKEEP_EXPERIMENT_NAME"):  # fmt: skip
            env.delenv(name, raising=False)
        env.setenv("MODELKEEP_HOME", str(home))
        env.setenv("COLUMNS", "200")
        done = threading.Event()
        folder = home / "quickstart" / MODEL
        watcher = threading.Thread(target=_interrupt_when_held, args=(folder, done, held))
        watcher.start()
        try:
            result = CliRunner().invoke(
                app, ["--store", store_uri, "quickstart", "--fast", "--keep-serving"]
            )
        finally:
            done.set()
            watcher.join(timeout=30)
    assert result.exit_code == 0, result.output
    summary = json.loads((home / "quickstart" / MODEL / "summary.json").read_text())
    yield Run(result, home, store_uri, summary, held)


def test_profiling_and_validation_find_the_planted_defects(run: Run) -> None:
    problems = run.summary["data"]["problems"]
    kinds = {(p["source"], p["kind"], p["column"]) for p in problems}

    assert ("profile", "missing_values", "monthly_charges") in kinds
    assert ("profile", "duplicates", None) in kinds
    assert ("validation", "range", "data_usage_gb") in kinds  # the outlier column
    assert ("profile", "class_imbalance", "churned") in kinds
    assert all(p["fix"].startswith("cleaning.") for p in problems)


def test_the_champion_cleans_inside_its_pipeline(run: Run) -> None:
    with run.client() as client:
        v1 = client.get_model_version(MODEL, 1)
        params = client.get_run(v1.run_id).params
        tags = client.get_run(v1.run_id).tags

    assert params["cleaning.drop_duplicates"] == "True"
    assert params["cleaning.clip.method"] == "iqr"
    assert params["cleaning.imbalance"] == "class_weight"
    assert {"missing_values", "duplicates"} <= set(tags["modelkeep.data_problems"].split(","))


def test_a_tuning_study_chose_v1_which_became_champion(run: Run) -> None:
    study = run.summary["tuning"]["study"]
    with run.client() as client:
        experiment = client.get_experiment_by_name("quickstart")
        assert experiment is not None
        runs = client.search_runs([experiment.id], f"tags.`{TAG_STUDY}` = '{study}'")
        history = client.store.list_alias_history(MODEL)
    trials = [r for r in runs if r.tags.get(TAG_ROLE) == "trial"]

    assert len(trials) >= 2
    assert {r.status.value for r in trials} == {"FINISHED"}
    first = next(h for h in history if h.alias == "champion")
    assert first.version == 1 and first.previous_version is None
    assert Path(run.summary["tuning"]["card"]).is_file()


def test_monitoring_alerts_reach_the_log_and_the_webhook(run: Run) -> None:
    with run.client() as client:
        alerts = list_alerts(client, MODEL)

    assert {a["rule"] for a in alerts} == {"data-drift", "accuracy-drop"}
    assert all(a["delivery"] == {"log": "sent", "local-hook": "sent"} for a in alerts)
    assert {body["rule"] for body in run.summary["webhook"]} == {"data-drift", "accuracy-drop"}
    assert len(run.summary["log_alerts"]) == 2
    assert run.summary["monitor_normal"]["alerts"] == []  # normal traffic alerts nobody
    assert "monthly_charges" in run.summary["monitor_drift"]["drifted_columns"]


def test_the_policy_retrained_tested_and_promoted_through_the_canary(run: Run) -> None:
    with run.client() as client:
        [record] = list_decisions(client, MODEL)
        aliases = dict(client.get_registered_model(MODEL).aliases)
        v2 = client.get_model_version(MODEL, 2)

    evaluation = record.evaluation or {}
    assert record.action == "promoted", record.reason
    assert [t["fired"] for t in record.triggers] == [True, True]
    assert evaluation["challenger"] > evaluation["champion"]
    assert evaluation["mcnemar"]["p_value"] < 0.05
    assert record.gates and all(g["passed"] for g in record.gates)
    assert [(s["weight"], s["passed"]) for s in record.rollout] == [
        (0.1, True), (0.5, True), (1.0, True)
    ]  # fmt: skip
    assert all(s["canary"]["requests"] >= 10 for s in record.rollout)
    assert aliases == {"champion": 2}
    assert v2.tags["modelkeep.lineage.parent_version"] == "1"


def test_the_server_hot_reloaded_v2_without_a_failed_request(run: Run) -> None:
    log = read_inference_log(run.home / "inference", MODEL)
    after = log[log["request_id"].str.startswith("after-")]
    canary = log[log["variant"] == "canary"]

    assert run.summary["failed_requests"] == 0
    assert run.summary["served_version"] == "2"
    assert set(after["version"]) == {"2"} and len(after) == 200
    assert set(canary["version"]) == {"2"} and len(canary) > 0
    before, after_accuracy = (
        next(a["accuracy"] for a in run.summary["accuracy"] if (a["phase"], a["version"]) == key)
        for key in (("drift", "1"), ("after", "2"))
    )
    assert after_accuracy > before + 0.2


def test_keep_serving_leaves_the_server_up_until_ctrl_c(run: Run) -> None:
    assert run.held["status"] == 200
    assert run.held["body"]["primary"]["version"] == "2"
    assert f"keeps serving at {run.held['url']}" in run.result.stdout
    assert "Stopped." in run.result.stdout
    assert not (run.folder / "server.url").exists()


def test_the_report_has_every_section_and_needs_no_network(run: Run) -> None:
    page = (run.folder / "report.html").read_text()

    assert all(f'<section id="{name}">' in page for name in SECTIONS)
    assert "<iframe" in page and "srcdoc=" in page
    assert "<script" not in page
    assert 'src="http' not in page and 'href="http' not in page
    assert "McNemar" in page and "canary" in page


def test_the_summary_says_where_to_look(run: Run) -> None:
    out = run.result.stdout

    assert f"Report: {run.folder / 'report.html'}" in out
    assert "Failed requests: 0" in out
    assert f"modelkeep --store {run.store_uri} maintain history {MODEL}" in out
    assert f"modelkeep --store {run.store_uri} alerts list --model {MODEL}" in out


def test_a_second_quickstart_gets_a_model_of_its_own(run: Run) -> None:
    with run.client() as client:
        assert free_model_name(client) == f"{MODEL}-2"
