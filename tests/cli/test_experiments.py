from __future__ import annotations

import json

from cli_support import Invoke


def test_create_then_list_json_shows_the_experiment_and_its_tags(cli: Invoke) -> None:
    created = cli("experiments", "create", "churn", "--tag", "team=a", "--tag", "x=y=z")
    assert created.exit_code == 0, created.output
    listed = cli("experiments", "list", "--json")
    assert listed.exit_code == 0
    [exp] = json.loads(listed.stdout)
    assert exp["name"] == "churn"
    assert exp["tags"] == {"team": "a", "x": "y=z"}
    assert exp["lifecycle_stage"] == "active"


def test_list_table_shows_names(cli: Invoke) -> None:
    cli("experiments", "create", "churn")
    result = cli("experiments", "list")
    assert result.exit_code == 0
    assert "churn" in result.stdout


def test_delete_by_name_moves_it_to_the_deleted_view(cli: Invoke) -> None:
    cli("experiments", "create", "churn")
    deleted = cli("experiments", "delete", "churn")
    assert deleted.exit_code == 0, deleted.output
    active = json.loads(cli("experiments", "list", "--json").stdout)
    gone = json.loads(cli("experiments", "list", "--view", "deleted", "--json").stdout)
    assert active == []
    assert [e["name"] for e in gone] == ["churn"]


def test_delete_by_id(cli: Invoke) -> None:
    cli("experiments", "create", "churn")
    [exp] = json.loads(cli("experiments", "list", "--json").stdout)
    assert cli("experiments", "delete", exp["id"]).exit_code == 0
    all_view = json.loads(cli("experiments", "list", "--view", "all", "--json").stdout)
    assert [e["lifecycle_stage"] for e in all_view] == ["deleted"]


def test_delete_unknown_experiment_is_a_one_line_error(cli: Invoke) -> None:
    result = cli("experiments", "delete", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Experiment 'nope' does not exist"


def test_duplicate_name_is_an_error(cli: Invoke) -> None:
    cli("experiments", "create", "churn")
    result = cli("experiments", "create", "churn")
    assert result.exit_code == 1
    assert "Error: An experiment named 'churn' already exists" in result.stderr


def test_malformed_tag_is_a_usage_error(cli: Invoke) -> None:
    result = cli("experiments", "create", "churn", "--tag", "novalue")
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.stderr
