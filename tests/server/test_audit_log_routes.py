"""The audit log over HTTP: admin-only listing, and who the server records for each request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelkeep.entities import Role
from modelkeep.exceptions import PermissionDeniedError
from modelkeep.store.audit import ACTOR_HEADER, audit_context
from modelkeep.store.rest import RestStore
from modelkeep.store.sql import SqlStore

EVENTS = "/api/v1/audit-events"


def _create_experiment(client: TestClient, name: str, headers: dict[str, str]) -> int:
    return client.post("/api/v1/experiments", json={"name": name}, headers=headers).status_code


def test_admin_lists_what_a_writer_did_under_the_token_name(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore
) -> None:
    assert _create_experiment(auth_client, "by-writer", secrets.header(Role.WRITER)) == 201
    response = auth_client.get(EVENTS, headers=secrets.header(Role.ADMIN))
    assert response.status_code == 200
    newest = response.json()["events"][0]
    writer = next(t for t in sql_store.list_tokens() if t.name == "writer")
    assert (newest["actor"], newest["action"]) == ("writer", "create_experiment")
    assert newest["source"] == f"http:testclient token:writer/{writer.id[:8]}"


@pytest.mark.parametrize("role", [Role.READER, Role.WRITER])
def test_only_an_admin_may_list(auth_client: TestClient, secrets: Any, role: Role) -> None:
    assert auth_client.get(EVENTS, headers=secrets.header(role)).status_code == 403
    assert auth_client.get(EVENTS).status_code == 401


def test_with_auth_on_the_actor_header_is_ignored(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore
) -> None:
    headers = {**secrets.header(Role.WRITER), ACTOR_HEADER: "mallory"}
    assert _create_experiment(auth_client, "spoofed", headers) == 201
    assert [e.actor for e in sql_store.list_audit_events(action="create_experiment")] == ["writer"]


def test_with_auth_off_the_actor_header_names_the_actor(
    client: TestClient, sql_store: SqlStore
) -> None:
    assert _create_experiment(client, "a", {ACTOR_HEADER: "alice%20smith"}) == 201
    assert _create_experiment(client, "b", {}) == 201
    second, first = sql_store.list_audit_events()
    assert (first.actor, first.source) == ("alice smith", "http:testclient")
    assert second.actor == "anonymous"


def test_a_refused_request_records_nothing(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore
) -> None:
    before = sql_store.list_audit_events()
    assert _create_experiment(auth_client, "nope", secrets.header(Role.READER)) == 403
    assert _create_experiment(auth_client, "nope", {}) == 401
    assert sql_store.list_audit_events() == before


def test_rest_store_filters_through_the_server(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore
) -> None:
    writer = RestStore("http://testserver", token=secrets.writer, client=auth_client)
    admin = RestStore("http://testserver", token=secrets.admin, client=auth_client)
    run = writer.create_run(writer.create_experiment("e").id)
    with audit_context(actor="ignored-with-auth"):
        writer.log_metric(run.id, "loss", 0.5)
    found = admin.list_audit_events(target_prefix=f"run:{run.id}", actor="writer")
    assert [e.action for e in found] == ["log_batch", "create_run"]
    assert found == sql_store.list_audit_events(target_prefix=f"run:{run.id}")
    with pytest.raises(PermissionDeniedError, match="admin"):
        writer.list_audit_events()


def test_bad_query_values_are_400_naming_the_field(auth_client: TestClient, secrets: Any) -> None:
    admin = secrets.header(Role.ADMIN)
    response = auth_client.get(EVENTS, params={"max_results": 0}, headers=admin)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "max_results")
    response = auth_client.get(EVENTS, params={"since_ms": "soon"}, headers=admin)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "since_ms")
