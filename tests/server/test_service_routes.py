"""/health, /metrics (per-app Prometheus registry) and the OpenAPI docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.server import create_app
from modelkeep.store.sql import SqlStore


def test_health_answers_ok(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_metrics_count_requests_by_route_template_and_status(
    client: TestClient, missing_run: str
) -> None:
    client.get(f"/api/v1/runs/{missing_run}")
    text = client.get("/metrics").text
    line = 'modelkeep_http_requests_total{method="GET",route="/api/v1/runs/{run_id}",status="404"}'
    assert f"{line} 1.0" in text


def test_metrics_never_label_by_raw_path(client: TestClient, missing_run: str) -> None:
    client.get(f"/api/v1/runs/{missing_run}")
    client.get("/no/such/place")
    text = client.get("/metrics").text
    assert missing_run not in text and "/no/such/place" not in text


def test_metrics_have_a_latency_histogram(client: TestClient) -> None:
    client.get("/health")
    text = client.get("/metrics").text
    assert (
        'modelkeep_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/health"}'
        in text
    )


def test_metrics_count_answers_of_the_body_guard(client: TestClient) -> None:
    client.post("/api/v1/experiments", content=b"x", headers={"Content-Type": "text/plain"})
    text = client.get("/metrics").text
    assert 'route="/api/v1/experiments",status="415"} 1.0' in text


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_each_app_has_its_own_registry(
    client: TestClient, sql_store: SqlStore, blobs: LocalArtifactStore
) -> None:
    client.get("/health")
    with TestClient(create_app(Settings(), sql_store, blobs)) as other:
        assert 'route="/health"' not in other.get("/metrics").text


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/runs/{run_id}/batch" in paths and "/api/v1/runs/search" in paths


def test_openapi_keeps_internal_docs_routes_out(client: TestClient) -> None:
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


def test_two_apps_can_be_built_in_one_process(app: FastAPI, settings: Settings) -> None:
    assert create_app(settings, app.state.store, app.state.blobs) is not app


def test_openapi_documents_400_not_422(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/api/v1/runs"]["post"]["responses"]
    assert "400" in responses and "422" not in responses
