"""Rate limits and query budgets of the inference server: 429 with Retry-After and a JSON error
naming the limit, per client (token with auth, else the connection's address)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from serve_support import cancer, client_for, register_forest, settings_for, split_body
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.exceptions import InvalidInputError
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.server.auth import create_api_token


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("guard-limits"))
    with client_for(settings) as client:
        register_forest(client, "m")
    return settings


@pytest.fixture(scope="module")
def tokens(settings: Settings) -> dict[str, str]:
    with client_for(settings) as client:
        return {
            name: create_api_token(client.store, name, role)[1]
            for name, role in (("alice", Role.READER), ("bob", Role.READER))
        }


def _serve(settings: Settings, **options: Any) -> TestClient:
    served = ServeOptions("models:/m@champion", runtime="native", inference_log=False, **options)
    return TestClient(create_serving_app(served, settings))


def _body(n: int = 1) -> dict[str, Any]:
    X, _ = cancer()
    return split_body(X.head(n))


def _v2_body(n: int = 1) -> dict[str, Any]:
    X, _ = cancer()
    rows = X.head(n)
    inputs = [
        {"name": str(c), "shape": [n], "datatype": "FP64", "data": rows[c].tolist()}
        for c in rows.columns
    ]
    return {"inputs": inputs}


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    with _serve(settings, rate_limit=0.001, burst=2) as client:
        yield client


def test_requests_past_the_burst_get_429_with_retry_after(limited: TestClient) -> None:
    answers = [limited.post("/invocations", json=_body()) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["field"] == "rate_limit"
    assert error["limit"] == {"name": "rate_limit", "requests_per_second": 0.001, "burst": 2}
    assert "rate limit" in error["message"]


def test_the_v2_route_shares_the_bucket_and_answers_in_v2_shape(limited: TestClient) -> None:
    first = limited.post("/invocations", json=_body())
    second = limited.post("/v2/models/m/infer", json=_v2_body())
    third = limited.post("/v2/models/m/infer", json=_v2_body())

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    body = third.json()
    assert body["field"] == "rate_limit"
    assert "rate limit" in body["error"]
    assert int(third.headers["retry-after"]) >= 1


def test_health_and_version_are_not_rate_limited(limited: TestClient) -> None:
    for _ in range(3):
        limited.post("/invocations", json=_body())

    assert limited.get("/health").status_code == 200
    assert limited.get("/version").status_code == 200


def test_each_token_has_its_own_bucket(settings: Settings, tokens: dict[str, str]) -> None:
    def auth(name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {tokens[name]}"}

    with _serve(settings, auth=True, rate_limit=0.001, burst=1) as server:
        alice = [server.post("/invocations", json=_body(), headers=auth("alice")) for _ in "12"]
        bob = server.post("/invocations", json=_body(), headers=auth("bob"))

    assert [a.status_code for a in alice] == [200, 429]
    assert bob.status_code == 200


def test_forwarded_for_headers_do_not_make_a_new_client(settings: Settings) -> None:
    with _serve(settings, rate_limit=0.001, burst=1) as server:
        first = server.post("/invocations", json=_body())
        spoofed = server.post(
            "/invocations", json=_body(), headers={"x-forwarded-for": "203.0.113.9"}
        )

    assert (first.status_code, spoofed.status_code) == (200, 429)


def test_query_budget_counts_rows_and_refuses_past_it(settings: Settings) -> None:
    with _serve(settings, query_budget=5) as server:
        three = server.post("/invocations", json=_body(3))
        too_many = server.post("/invocations", json=_body(3))
        two = server.post("/invocations", json=_body(2))
        one_more = server.post("/v2/models/m/infer", json=_v2_body(1))

    assert (three.status_code, too_many.status_code, two.status_code) == (200, 429, 200)
    error = too_many.json()["error"]
    assert error["code"] == "query_budget_exhausted"
    assert error["field"] == "query_budget"
    assert error["limit"]["rows"] == 5 and error["limit"]["used"] == 3
    assert int(too_many.headers["retry-after"]) > 80_000  # the day's window, not seconds
    assert one_more.status_code == 429
    assert one_more.json()["field"] == "query_budget"


def test_guard_route_reports_the_limits(settings: Settings) -> None:
    with _serve(settings, rate_limit=2.5, query_budget=100) as server:
        described = server.get("/guard").json()

    assert described["rate_limit"] == 2.5
    assert described["burst"] == 3
    assert described["query_budget"] == 100
    assert described["extraction"]["enabled"] is False


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rate_limit": 0.0}, "rate_limit"),
        ({"burst": 3}, "burst"),
        ({"rate_limit": 1.0, "burst": 0}, "burst"),
        ({"query_budget": 0}, "query_budget"),
        ({"query_budget_window_s": 0.0}, "query_budget_window_s"),
        ({"round_probabilities": 16}, "round_probabilities"),
        ({"extraction_threshold": 1.0}, "extraction_threshold"),
    ],
)
def test_bad_guard_options_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ServeOptions("models:/m@champion", **options)

    assert caught.value.field == field


def test_guard_options_survive_the_worker_round_trip() -> None:
    options = ServeOptions(
        "models:/m@champion", rate_limit=3.0, burst=4, labels_only=True, detect_extraction=True
    )

    assert ServeOptions(**options.to_dict()) == options
