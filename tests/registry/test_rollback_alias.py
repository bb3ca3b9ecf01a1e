"""``Client.rollback_alias`` and ``modelkeep models rollback`` on SQLite and over REST."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelkeep.cli.app import app
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.store import BaseStore
from modelkeep.tracking import Client


@pytest.fixture(params=["sqlite_store", "rest_store"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    store: BaseStore = request.getfixturevalue(request.param)
    yield Client(store=store, settings=Settings(home=tmp_path / "home"))


def _versions(client: Client, name: str, count: int) -> None:
    for number in range(1, count + 1):
        client.store.create_model_version(name, "runs:/0/model", f"{number:064x}")


def _alias_moves(client: Client, name: str, *versions: int) -> None:
    for version in versions:
        client.set_alias(name, "champion", version, reason=f"to {version}")


def test_rollback_points_the_alias_at_the_previous_version(client: Client) -> None:
    _versions(client, "churn", 3)
    _alias_moves(client, "churn", 1, 2, 3)

    change = client.rollback_alias("churn")

    assert (change.version, change.previous_version) == (2, 3)
    assert client.store.get_model_version_by_alias("churn", "champion").version == 2
    last = client.store.list_alias_history("churn", "champion")[-1]
    assert (last.version, last.previous_version, last.reason) == (2, 3, "rollback")


def test_rollback_records_the_reason_given_and_works_on_any_alias(client: Client) -> None:
    _versions(client, "churn", 2)
    client.set_alias("churn", "staging", 1)
    client.set_alias("churn", "staging", 2)
    client.set_alias("churn", "champion", 2)

    change = client.rollback_alias("churn", "staging", reason="p99 too high", actor="ops")

    assert (change.alias, change.version, change.reason, change.actor) == (
        "staging",
        1,
        "p99 too high",
        "ops",
    )
    assert client.store.get_model_version_by_alias("churn", "champion").version == 2


def test_a_second_rollback_returns_to_the_version_rolled_back_from(client: Client) -> None:
    _versions(client, "churn", 2)
    _alias_moves(client, "churn", 1, 2)

    first = client.rollback_alias("churn")
    second = client.rollback_alias("churn")

    assert (first.version, second.version) == (1, 2)


def test_repeated_moves_to_the_current_version_are_skipped(client: Client) -> None:
    _versions(client, "churn", 2)
    _alias_moves(client, "churn", 1, 2, 2, 2)

    assert client.rollback_alias("churn").version == 1


def test_rollback_skips_removals_and_deleted_versions(client: Client) -> None:
    _versions(client, "churn", 3)
    _alias_moves(client, "churn", 1, 2)
    client.delete_alias("churn", "champion", reason="incident")
    _alias_moves(client, "churn", 3)
    client.store.delete_model_version("churn", 2)

    assert client.rollback_alias("churn").version == 1


def test_an_alias_with_no_earlier_version_cannot_be_rolled_back(client: Client) -> None:
    _versions(client, "churn", 2)
    _alias_moves(client, "churn", 2)

    with pytest.raises(InvalidInputError) as caught:
        client.rollback_alias("churn")

    assert caught.value.field == "alias"
    assert "no earlier version" in caught.value.message
    assert client.store.get_model_version_by_alias("churn", "champion").version == 2


def test_an_alias_that_is_not_set_cannot_be_rolled_back(client: Client) -> None:
    _versions(client, "churn", 2)
    _alias_moves(client, "churn", 1, 2)
    client.delete_alias("churn", "champion")

    with pytest.raises(NotFoundError) as unset:
        client.rollback_alias("churn")
    with pytest.raises(NotFoundError):
        client.rollback_alias("no-such-model")

    assert unset.value.field == "alias"


# ---- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("MODELKEEP_TRACKING_URI", "MODELKEEP_TRACKING_TOKEN", "MODELKEEP_ARTIFACT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELKEEP_HOME", str(tmp_path / "home"))
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    with Client(uri, settings=Settings(home=tmp_path / "home")) as client:
        _versions(client, "churn", 2)
        _alias_moves(client, "churn", 1, 2)
    yield uri


def test_cli_rollback_prints_the_move(cli_store: str) -> None:
    result = CliRunner().invoke(app, ["--store", cli_store, "models", "rollback", "churn"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "churn@champion -> version 1 (was version 2)"


def test_cli_rollback_json_with_alias_and_reason(cli_store: str) -> None:
    args = ["models", "rollback", "churn", "--alias", "champion", "--reason", "drift", "--json"]
    result = CliRunner().invoke(app, ["--store", cli_store, *args])

    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)
    assert (change["version"], change["previous_version"], change["reason"]) == (1, 2, "drift")


def test_cli_rollback_without_history_is_a_clean_error(cli_store: str) -> None:
    args = ["--store", cli_store, "models", "rollback", "churn", "--alias", "staging"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1
    assert "staging" in result.stderr and "Traceback" not in result.output
