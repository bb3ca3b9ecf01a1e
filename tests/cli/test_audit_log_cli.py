"""``modelkeep audit log``: the audit log from the command line (JSON and table, filters).

Run through a root app that holds only the ``audit`` group, as the lead registers it in
``modelkeep.cli.app``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner, Result

import modelkeep.cli.audit_log  # noqa: F401 - adds `log` to the audit group
from modelkeep.cli.app import ModelkeepGroup
from modelkeep.cli.audit import app as audit_app
from modelkeep.store.audit import audit_context
from modelkeep.store.sql import SqlStore

root = typer.Typer(cls=ModelkeepGroup)
root.add_typer(audit_app, name="audit")


@pytest.fixture
def audit_log(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlStore]:
    monkeypatch.setenv("MODELKEEP_TRACKING_URI", store_uri)
    store = SqlStore(store_uri)
    with audit_context(actor="alice"):
        run = store.create_run(store.create_experiment("churn").id)
        store.log_metric(run.id, "loss", 0.5)
    with audit_context(actor="bob"):
        store.create_model_version("churn", f"runs:/{run.id}/model", "a" * 64, run_id=run.id)
        store.set_model_alias("churn", "champion", 1, reason="first")
    yield store
    store.close()


def _log(*args: str) -> Result:
    return CliRunner().invoke(root, ["audit", "log", *args])


def test_json_lists_events_newest_first_with_parsed_detail(audit_log: SqlStore) -> None:
    result = _log("--json")
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    assert [e["action"] for e in events] == [
        "set_model_alias",
        "create_model_version",
        "log_batch",
        "create_run",
        "create_experiment",
    ]
    assert events[0]["detail"] == {"version": 1, "reason": "first"}
    assert events[0]["target"] == "model:churn@champion"
    assert [e["id"] for e in events] == [e.id for e in audit_log.list_audit_events()]


def test_filters_narrow_the_listing(audit_log: SqlStore) -> None:
    by_bob = json.loads(_log("--actor", "bob", "--json").stdout)
    assert {e["actor"] for e in by_bob} == {"bob"} and len(by_bob) == 2
    on_versions = json.loads(_log("--target", "model:churn/", "--json").stdout)
    assert [e["target"] for e in on_versions] == ["model:churn/1"]
    batches = json.loads(_log("--action", "log_batch", "--json").stdout)
    assert [e["actor"] for e in batches] == ["alice"]
    assert len(json.loads(_log("--limit", "2", "--json").stdout)) == 2


def test_since_keeps_later_events_only(audit_log: SqlStore) -> None:
    assert json.loads(_log("--since", "2000-01-01", "--json").stdout) != []
    result = _log("--since", "2999-01-01T00:00")
    assert result.exit_code == 0
    assert "No audit events." in result.stdout


def test_table_shows_who_did_what(audit_log: SqlStore) -> None:
    result = _log("--action", "set_model_alias")
    assert result.exit_code == 0, result.output
    assert "bob" in result.stdout and "model:churn@champion" in result.stdout


def test_bad_since_is_a_one_line_error(audit_log: SqlStore) -> None:
    result = _log("--since", "yesterday")
    assert result.exit_code == 1
    assert "--since 'yesterday' is not an ISO 8601 time" in result.stderr
