"""Run routes over HTTP: lifecycle, batch logging, history, inputs, search."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient

from modelkeep.entities import DatasetInput, Metric, RunStatus
from modelkeep.store.sql import SqlStore

API = "/api/v1/runs"


def test_create_run_answers_201_with_a_running_run(client: TestClient, experiment_id: str) -> None:
    response = client.post(API, json={"experiment_id": experiment_id, "run_name": "first"})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["status"], body["experiment_id"]) == (
        "first",
        "RUNNING",
        experiment_id,
    )


def test_get_run(client: TestClient, run_id: str) -> None:
    assert client.get(f"{API}/{run_id}").json()["id"] == run_id


def test_update_run_answers_the_new_snapshot(client: TestClient, run_id: str) -> None:
    response = client.patch(f"{API}/{run_id}", json={"status": "FINISHED", "end_time": 123})
    assert (response.json()["status"], response.json()["end_time"]) == ("FINISHED", 123)


def test_update_run_accepts_lowercase_status(
    client: TestClient, sql_store: SqlStore, run_id: str
) -> None:
    client.patch(f"{API}/{run_id}", json={"status": "killed"})
    assert sql_store.get_run(run_id).status is RunStatus.KILLED


def test_delete_then_restore_run(client: TestClient, sql_store: SqlStore, run_id: str) -> None:
    assert client.delete(f"{API}/{run_id}").status_code == 204
    assert sql_store.get_run(run_id).lifecycle_stage == "deleted"
    assert client.post(f"{API}/{run_id}/restore").status_code == 204
    assert sql_store.get_run(run_id).lifecycle_stage == "active"


def test_log_batch_stores_everything(client: TestClient, sql_store: SqlStore, run_id: str) -> None:
    body = {
        "metrics": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 10}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "a"}],
    }
    assert client.post(f"{API}/{run_id}/batch", json=body).status_code == 204
    run = sql_store.get_run(run_id)
    assert (run.metrics, run.params, run.tags) == ({"loss": 0.5}, {"lr": "0.1"}, {"team": "a"})


def test_non_finite_metric_values_travel_as_strings(
    client: TestClient, sql_store: SqlStore, run_id: str
) -> None:
    values = ["NaN", "Infinity", "-Infinity"]
    metrics = [{"key": "m", "value": v, "step": i, "timestamp": 1} for i, v in enumerate(values)]
    client.post(f"{API}/{run_id}/batch", json={"metrics": metrics})
    stored = [m.value for m in sql_store.get_metric_history(run_id, "m")]
    assert math.isnan(stored[0]) and stored[1:] == [math.inf, -math.inf]


def test_metric_history_encodes_non_finite_values(
    client: TestClient, sql_store: SqlStore, run_id: str
) -> None:
    sql_store.log_batch(run_id, metrics=[Metric("a/b", math.nan, 0, 1), Metric("a/b", 2.5, 1, 1)])
    response = client.get(f"{API}/{run_id}/metrics/history", params={"key": "a/b"})
    assert [m["value"] for m in response.json()["metrics"]] == ["NaN", 2.5]


def test_run_snapshot_encodes_non_finite_latest_value(
    client: TestClient, sql_store: SqlStore, run_id: str
) -> None:
    sql_store.log_batch(run_id, metrics=[Metric("m", -math.inf, 0, 1)])
    assert client.get(f"{API}/{run_id}").json()["metrics"] == {"m": "-Infinity"}


def test_log_inputs_records_datasets(client: TestClient, sql_store: SqlStore, run_id: str) -> None:
    dataset = {
        "name": "train",
        "digest": "ab" * 32,
        "source": "data.csv",
        "schema": {"x": "int"},
        "num_rows": 3,
        "context": "training",
    }
    assert client.post(f"{API}/{run_id}/inputs", json={"datasets": [dataset]}).status_code == 204
    expected = DatasetInput("train", "ab" * 32, "data.csv", {"x": "int"}, 3, "training")
    assert sql_store.get_run(run_id).inputs == (expected,)


def test_search_filters_orders_and_pages(
    client: TestClient, sql_store: SqlStore, experiment_id: str
) -> None:
    for i in range(5):
        run = sql_store.create_run(experiment_id, run_name=f"r{i}")
        sql_store.log_metric(run.id, "acc", i / 10)
    body = {
        "experiment_ids": [experiment_id],
        "filter": "metrics.acc > 0.1",
        "order_by": ["metrics.acc DESC"],
        "max_results": 2,
    }
    first = client.post(f"{API}/search", json=body).json()
    second = client.post(f"{API}/search", json={**body, "page_token": first["next_page_token"]})
    names = [r["name"] for r in first["runs"] + second.json()["runs"]]
    assert names == ["r4", "r3", "r2"]


def test_malformed_filter_is_400_with_position(client: TestClient, experiment_id: str) -> None:
    body = {"experiment_ids": [experiment_id], "filter": "metrics.acc >"}
    error = client.post(f"{API}/search", json=body).json()["error"]
    assert error["code"] == "invalid_filter"
    assert isinstance(error["position"], int)


def test_immutable_param_change_is_409(client: TestClient, run_id: str) -> None:
    client.post(f"{API}/{run_id}/batch", json={"params": [{"key": "lr", "value": "0.1"}]})
    response = client.post(f"{API}/{run_id}/batch", json={"params": [{"key": "lr", "value": "1"}]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "immutable_param"


def test_unknown_run_is_404(client: TestClient, missing_run: str) -> None:
    response = client.get(f"{API}/{missing_run}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_batch_to_unknown_run_is_404(client: TestClient, missing_run: str) -> None:
    response = client.post(
        f"{API}/{missing_run}/batch", json={"tags": [{"key": "a", "value": "b"}]}
    )
    assert response.status_code == 404
