"""The maintenance loop end to end on a real store and inference log: a champion trained with
``modelkeep.train``, served in-process, production traffic with covariate and concept shift
and its labels through ``/feedback``, a monitoring window; then policies that do nothing,
retrain and promote, refuse a worse or gated challenger, and resume after a stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from maint_support import aliases, build_world, policy
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.maintain.decisions import list_decisions
from modelkeep.maintain.policy import store_policy
from modelkeep.maintain.runner import evaluate_policy, run_policies
from modelkeep.tracking import Client


@pytest.fixture
def world(tmp_path: Path) -> Settings:
    return build_world(tmp_path)


def test_a_policy_whose_trigger_does_not_fire_records_none_once(world: Settings) -> None:
    quiet = policy(triggers=[{"kind": "drift_share", "above": 0.99}])

    first = run_policies(settings=world, policies=[quiet])
    again = run_policies(settings=world, policies=[quiet])

    assert [r.action for r in first] == ["none"]
    assert first[0].triggers[0]["fired"] is False
    assert again[0].run_id == first[0].run_id  # the same evidence is not evaluated twice
    assert aliases(world) == {"champion": 1}


def test_a_better_challenger_is_retrained_tested_and_promoted(world: Settings) -> None:
    [record] = run_policies(settings=world, policies=[policy()])

    assert record.action == "promoted", record.reason
    assert record.champion_version == 1 and record.challenger_version == 2
    evaluation = record.evaluation or {}
    assert evaluation["challenger"] > evaluation["champion"] + 0.1
    assert evaluation["mcnemar"]["p_value"] < 0.01
    assert all(g["passed"] for g in record.gates)
    assert {g["name"] for g in record.gates} >= {"improvement", "slices", "latency",
                                                 "signature", "integrity"}  # fmt: skip
    assert record.data["production_rows"] == 400 and record.data["holdout_rows"] == 120
    assert aliases(world) == {"champion": 2}
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        v2 = client.get_model_version("churn", 2)
        history = list_decisions(client, "churn")
    assert v2.tags["modelkeep.lineage.parent_version"] == "1"
    assert v2.tags["modelkeep.lineage.production_rows"] == "400"
    assert v2.tags["modelkeep.lineage.decision"] == record.run_id
    assert history[0].run_id == record.run_id and history[0].done


def test_a_failed_gate_leaves_the_aliases_unchanged(world: Settings) -> None:
    gated = policy(gates={"latency_p99_ms": 1e-6})

    [record] = run_policies(settings=world, policies=[gated])

    assert record.action == "rejected"
    latency = next(g for g in record.gates if g["name"] == "latency")
    assert not latency["passed"] and "latency" in record.reason
    assert aliases(world) == {"champion": 1}  # challenger alias withdrawn, champion untouched


def test_a_challenger_that_is_not_better_is_never_promoted(tmp_path: Path) -> None:
    settings = build_world(tmp_path, shifted_labels=False)  # production labels are coin flips

    [record] = run_policies(settings=settings, policies=[policy()])

    assert record.action == "rejected"
    improvement = next(g for g in record.gates if g["name"] == "improvement")
    assert not improvement["passed"]
    assert aliases(settings) == {"champion": 1}


def test_too_few_labeled_rows_skip_the_retrain(world: Settings) -> None:
    [record] = run_policies(settings=world, policies=[policy(retrain={"min_rows": 5000})])

    assert record.action == "skipped" and "5000" in record.reason
    assert record.challenger_version is None
    assert aliases(world) == {"champion": 1}


class _Stop(Exception):
    """Stands for the process being killed in the middle of an evaluation."""


def test_a_stopped_evaluation_resumes_without_retraining_again(world: Settings) -> None:
    chosen = policy()

    def stop_at_gates(line: str) -> None:
        if line.strip().startswith("gate"):
            raise _Stop

    with Client(world.resolved_tracking_uri(), settings=world) as client:
        with pytest.raises(_Stop):
            evaluate_policy(client, world, chosen, progress=stop_at_gates)
        [pending] = list_decisions(client, "churn")
    assert not pending.done and pending.challenger_version == 2

    [resumed] = run_policies(settings=world, policies=[chosen])
    [repeated] = run_policies(settings=world, policies=[chosen])

    assert resumed.run_id == pending.run_id and resumed.action == "promoted"
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        versions = client.search_model_versions("name = 'churn'")
    assert sorted(int(v.version) for v in versions) == [1, 2]  # no third training
    assert repeated.action in ("none", "promoted") and aliases(world) == {"champion": 2}


def test_cli_policy_set_show_run_and_history(
    world: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(world.home))
    store = ["--store", world.resolved_tracking_uri()]
    path = tmp_path / "policy.yaml"
    path.write_text(
        "model: churn\ntriggers: [{kind: manual}]\n"
        "retrain: {window: 1d, weight: 3, min_rows: 50}\n"
        "evaluation: {metric: accuracy, bootstrap: 300}\ngates: {latency_ratio: 50}\n"
    )
    runner = CliRunner()

    stored = runner.invoke(cli_app, [*store, "maintain", "policy", "set", str(path)])
    shown = runner.invoke(cli_app, [*store, "maintain", "policy", "show", "churn", "--json"])
    idle = runner.invoke(cli_app, [*store, "maintain", "run", "--json"])
    forced = runner.invoke(cli_app, [*store, "maintain", "run", "--manual", "--json"])
    listed = runner.invoke(cli_app, [*store, "maintain", "history", "churn", "--json"])
    table = runner.invoke(cli_app, [*store, "maintain", "history", "churn"])
    unknown = runner.invoke(cli_app, [*store, "maintain", "history", "nope"])

    assert stored.exit_code == 0, stored.output
    assert json.loads(shown.stdout)["policy"]["triggers"][0]["kind"] == "manual"
    assert [r["action"] for r in json.loads(idle.stdout)] == ["none"]
    assert [r["action"] for r in json.loads(forced.stdout)] == ["promoted"], forced.output
    assert [r["action"] for r in json.loads(listed.stdout)] == ["promoted", "none"]
    assert table.exit_code == 0 and "promoted" in table.stdout
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        assert store_policy(client, path).model == "churn"
