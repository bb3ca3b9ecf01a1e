"""Rollback by hand (recorded as a decision), decisions in the model card, and the watch
loop: monitoring + policies on a schedule, restarted without repeating an action."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from maint_support import aliases, build_world, policy
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain import list_decisions, rollback_champion, run_policies, watch_policies
from modelkeep.maintain.policy import policy_text, store_policy
from modelkeep.tracking import Client


@pytest.fixture
def world(tmp_path: Path) -> Settings:
    return build_world(tmp_path)


def test_rollback_by_hand_is_recorded_and_shown_in_the_card(
    world: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [promoted] = run_policies(settings=world, policies=[policy()])
    assert promoted.action == "promoted" and aliases(world) == {"champion": 2}

    with Client(world.resolved_tracking_uri(), settings=world) as client:
        change, record = rollback_champion(client, "churn", reason="v2 mislabels refunds",
                                           actor="alice")  # fmt: skip
        history = list_decisions(client, "churn")
        _, html = client.write_model_card("models:/churn/2", tmp_path / "cards")

    assert (change.previous_version, change.version) == (2, 1)
    assert aliases(world) == {"champion": 1}
    assert record.action == "rolled_back" and record.decided_by == "alice" and record.done
    assert [r.action for r in history] == ["rolled_back", "promoted"]
    card = html.read_text()
    assert "Maintenance decisions" in card and "promoted" in card and "rolled_back" in card
    assert "v2 mislabels refunds" in card

    monkeypatch.setenv("MODELKEEP_HOME", str(world.home))
    store = ["--store", world.resolved_tracking_uri()]
    again = CliRunner().invoke(cli_app, [*store, "models", "rollback", "churn", "--reason",
                                         "back to v2", "--json"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["version"] == 2 and aliases(world) == {"champion": 2}


def test_rollback_without_an_earlier_version_is_refused(world: Settings) -> None:
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        with pytest.raises(InvalidInputError) as caught:
            rollback_champion(client, "churn")
        decisions = list_decisions(client, "churn")
    assert caught.value.field == "alias"
    assert decisions == [] and aliases(world) == {"champion": 1}


def test_watch_monitors_acts_once_and_a_restart_repeats_nothing(world: Settings) -> None:
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        store_policy(client, policy_text(policy()))
    lines: list[str] = []

    first = watch_policies(settings=world, times=2, every_s=0.05, window="1h",
                           progress=lines.append)  # fmt: skip
    restarted = watch_policies(settings=world, times=1, every_s=0.05, window="1h")

    assert [r.action for r in first] == ["promoted", "none"]
    assert [r.action for r in restarted] == ["none"]
    assert restarted[0].run_id == first[1].run_id  # the same evidence: the same record
    with Client(world.resolved_tracking_uri(), settings=world) as client:
        versions = client.search_model_versions("name = 'churn'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert any("monitored 400 rows" in line for line in lines)
    assert any("not monitored this cycle" in line for line in lines)  # v2 has no traffic yet
