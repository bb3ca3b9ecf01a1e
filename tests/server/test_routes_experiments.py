"""Experiment routes over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from modelkeep.store.sql import SqlStore

API = "/api/v1/experiments"


def test_create_experiment_answers_201_with_the_experiment(client: TestClient) -> None:
    response = client.post(API, json={"name": "churn", "tags": {"team": "a"}})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["tags"], body["lifecycle_stage"]) == (
        "churn",
        {"team": "a"},
        "active",
    )


def test_get_experiment_by_id(client: TestClient, experiment_id: str) -> None:
    response = client.get(f"{API}/{experiment_id}")
    assert response.status_code == 200
    assert response.json()["id"] == experiment_id


def test_get_experiment_by_name(client: TestClient, experiment_id: str) -> None:
    response = client.get(f"{API}/by-name", params={"name": "server-tests"})
    assert response.json()["id"] == experiment_id


def test_get_experiment_by_unknown_name_is_404(client: TestClient) -> None:
    response = client.get(f"{API}/by-name", params={"name": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_experiments_in_views(client: TestClient, sql_store: SqlStore) -> None:
    kept = sql_store.create_experiment("kept")
    gone = sql_store.create_experiment("gone")
    sql_store.delete_experiment(gone.id)
    names = {
        view: [e["name"] for e in client.get(API, params={"view": view}).json()["experiments"]]
        for view in ("active", "deleted", "all")
    }
    assert names == {"active": [kept.name], "deleted": ["gone"], "all": ["gone", "kept"]}


def test_unknown_view_is_400_naming_view(client: TestClient) -> None:
    response = client.get(API, params={"view": "sideways"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "view"


def test_delete_then_restore_experiment(
    client: TestClient, sql_store: SqlStore, experiment_id: str
) -> None:
    assert client.delete(f"{API}/{experiment_id}").status_code == 204
    assert sql_store.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.post(f"{API}/{experiment_id}/restore").status_code == 204
    assert sql_store.get_experiment(experiment_id).lifecycle_stage == "active"


def test_set_experiment_tag(client: TestClient, sql_store: SqlStore, experiment_id: str) -> None:
    response = client.post(f"{API}/{experiment_id}/tags", json={"key": "k", "value": "v"})
    assert response.status_code == 204
    assert sql_store.get_experiment(experiment_id).tags == {"k": "v"}


def test_duplicate_experiment_name_is_409(client: TestClient, experiment_id: str) -> None:
    response = client.post(API, json={"name": "server-tests"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"


def test_unknown_experiment_is_404(client: TestClient) -> None:
    assert client.get(f"{API}/999999").status_code == 404
