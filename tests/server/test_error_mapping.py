"""Every kind of bad input answers 4xx in the one JSON error format, never 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    ImmutableParamError,
    InvalidFilterError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
)
from modelkeep.server.errors import status_for

EXPERIMENTS = "/api/v1/experiments"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInputError("x"), 400),
        (InvalidFilterError("x"), 400),
        (UnsafePathError("x"), 400),
        (NotFoundError("x"), 404),
        (AlreadyExistsError("x"), 409),
        (ConflictError("x"), 409),
        (ImmutableParamError("x"), 409),
        (AuthenticationError("x"), 401),
        (PermissionDeniedError("x"), 403),
        (PayloadTooLargeError("x"), 413),
        (StoreError("x"), 503),
        (StoreUnavailableError("x"), 503),
        (ModelkeepError("x"), 500),
    ],
)
def test_each_error_class_has_its_status(error: ModelkeepError, status: int) -> None:
    assert status_for(error) == status


def test_malformed_json_is_400_naming_the_body(client: TestClient) -> None:
    response = client.post(
        EXPERIMENTS, content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["field"]) == (400, "invalid_input", "body")


def test_deeply_nested_json_is_400(client: TestClient) -> None:
    depth = 30_000
    body = b"[" * depth + b"]" * depth
    response = client.post(EXPERIMENTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_wrong_type_is_400_naming_the_dotted_field(client: TestClient, run_id: str) -> None:
    body = {"metrics": [{"key": "a", "value": 1}, {"key": "b", "value": "high"}]}
    error = client.post(f"/api/v1/runs/{run_id}/batch", json=body).json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "metrics.value")
    assert "metrics.1.value" in error["message"]


def test_missing_field_is_400_naming_it(client: TestClient) -> None:
    error = client.post(EXPERIMENTS, json={"tags": {}}).json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "name")


def test_unknown_field_is_400(client: TestClient) -> None:
    response = client.post(EXPERIMENTS, json={"name": "x", "nmae": "typo"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "nmae"


def test_body_of_wrong_json_shape_is_400(client: TestClient) -> None:
    assert client.post(EXPERIMENTS, json=["name"]).status_code == 400


def test_invalid_value_from_the_store_is_400_naming_it(client: TestClient) -> None:
    error = client.post(EXPERIMENTS, json={"name": ""}).json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"]


def test_out_of_range_integer_is_400(client: TestClient, run_id: str) -> None:
    body = {"metrics": [{"key": "a", "value": 1.0, "step": 10**30}]}
    assert client.post(f"/api/v1/runs/{run_id}/batch", json=body).status_code == 400


def test_oversized_json_body_is_413(client: TestClient, settings: Settings) -> None:
    body = {"name": "x" * settings.max_json_bytes}
    response = client.post(EXPERIMENTS, json=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_oversized_json_body_without_length_is_413(client: TestClient, settings: Settings) -> None:
    chunks = iter([b'{"name": "', b"x" * settings.max_json_bytes, b'"}'])
    response = client.post(
        EXPERIMENTS, content=chunks, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_oversized_json_body_changes_nothing(client: TestClient, settings: Settings) -> None:
    client.post(EXPERIMENTS, json={"name": "x" * settings.max_json_bytes})
    assert client.get(EXPERIMENTS).json()["experiments"] == []


def test_non_json_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        EXPERIMENTS, content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_body_without_content_type_is_415(client: TestClient) -> None:
    response = client.post(EXPERIMENTS, content=b'{"name": "x"}')
    assert response.status_code == 415


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        EXPERIMENTS,
        content=b'{"name": "x"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_unknown_route_is_404_in_the_error_format(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_the_error_format(client: TestClient) -> None:
    response = client.put(EXPERIMENTS, json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_trailing_slash_is_not_redirected(client: TestClient) -> None:
    assert client.get(f"{EXPERIMENTS}/", follow_redirects=False).status_code == 404
