"""Adversarial review of issue 5 (model serving), run against the real thing.

Each test drives the server in-process (Starlette's TestClient over ``create_serving_app``), a
real uvicorn server on loopback (``serve_support.live_server``) or ``modelkeep`` itself in a
subprocess. Each test pins behaviour checked and found right, or a bug the review found (all
13 fixed).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_support import (
    cancer,
    client_for,
    free_port,
    live_server,
    register_forest,
    register_regressor,
    settings_for,
    split_body,
)
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.serve.app import create_serving_app, open_routes
from modelkeep.serve.inference_log import join_feedback, read_inference_log
from modelkeep.serve.options import ServeOptions
from modelkeep.server.auth import create_api_token

# ---- shared fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(tmp_path_factory.mktemp("review5"))


@pytest.fixture(scope="module")
def forest(settings: Settings) -> Any:
    """``m`` version 1 (alias champion): a 5-tree forest, which the ONNX fast path serves."""
    with client_for(settings) as client:
        _, model = register_forest(client, "m")
    return model


@pytest.fixture(scope="module")
def server(settings: Settings, forest: Any) -> Iterator[TestClient]:
    options = ServeOptions("models:/m@champion", runtime="native", max_body_bytes=64 * 1024)
    with TestClient(create_serving_app(options, settings)) as client:
        yield client


def _v2_body(rows: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    inputs = [
        {"name": str(c), "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
        for c in rows.columns
    ]
    return {**extra, "inputs": inputs}


def _flush(client: TestClient) -> None:
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def _modelkeep(*args: str) -> list[str]:
    return [sys.executable, "-c", "from modelkeep.cli.app import main; main()", *args]


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("modelkeep serve did not become ready")


# ---- malformed input: always a 4xx that names the field ------------------------------------


def _mutations(base: bytes, rng: random.Random, count: int) -> list[bytes]:
    tokens = [b"null", b"[", b"{", b"NaN", b'"', b",", b"-", b"\xff", b"]]", b"true", b"{}"]
    out = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 20)]
            else:
                data[at:at] = rng.choice(tokens)
        out.append(bytes(data))
    return out


# A mutated digit can make a float32 overflow inside scikit-learn: a RuntimeWarning that
# pytest's filterwarnings=error (process-wide, so in the server's thread too) would turn into
# an exception; production servers only warn, so that is not counted against the server here.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_malformed_bodies_on_every_post_route_never_get_a_500(server: TestClient) -> None:
    X, _ = cancer()
    rows = X.iloc[:2]
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    bases = [
        ("/invocations", "application/json", json.dumps(split_body(rows)).encode()),
        ("/invocations", "text/csv", rows.to_csv(index=False).encode()),
        ("/invocations", "application/vnd.apache.parquet", parquet.getvalue()),
        ("/v2/models/m/infer", "application/json", json.dumps(_v2_body(rows)).encode()),
        ("/feedback", "application/json", b'[{"request_id": "a", "label": 1}]'),
    ]
    rng = random.Random(5)
    statuses = []
    for path, content_type, base in bases:
        for body in _mutations(base, rng, 120):
            answer = server.post(path, content=body, headers={"content-type": content_type})
            statuses.append(answer.status_code)
            assert answer.status_code < 500, (path, body[:120], answer.text)
            if answer.status_code >= 400:
                assert "error" in answer.json()
    assert sum(400 <= s < 500 for s in statuses) > 300  # the walk did reach the error paths


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1]]}}, "dataframe_split.columns"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1], None]}}, "dataframe_split.data[1]"),
        ({"dataframe_records": [{"a": {"b": 1}}]}, "dataframe_records[0].a"),
        ({"instances": [[[1, 2]]]}, "instances[0][0]"),
        ({"inputs": {"a": [1, 2], "b": 3}}, "inputs.b"),
        ({"inputs": [1], "instances": [1]}, "body"),
        ({"inputs": [1], "params": [1]}, "params"),
        ({"inputs": [1], "params": {"output": "logits"}}, "params.output"),
        ([1, 2], "body"),
    ],
)
def test_json_errors_are_400s_naming_the_field(server: TestClient, body: Any, field: str) -> None:
    answer = server.post("/invocations", json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field


def _tensor(**overrides: Any) -> dict[str, Any]:
    return {"name": "x", "shape": [1], "datatype": "FP32", "data": [1], **overrides}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [_tensor(shape=[2])]}, "inputs[0].data"),
        ({"inputs": [_tensor(shape=[1, 1, 3], data=[1, 2, 3])]}, "inputs[0].shape"),
        ({"inputs": [_tensor(datatype="INT8", data=[300])]}, "inputs[0].data[0]"),
        ({"inputs": [_tensor(datatype="FP8")]}, "inputs[0].datatype"),
        ({"id": 5, "inputs": [_tensor()]}, "id"),
        ({"outputs": [{"name": "logits"}], "inputs": [_tensor()]}, "outputs[0].name"),
    ],
)
def test_v2_errors_are_protocol_shaped_400s(server: TestClient, body: Any, field: str) -> None:
    answer = server.post("/v2/models/m/infer", json=body)

    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "field"} and answer.json()["field"] == field


def test_wrong_media_types_are_415(server: TestClient) -> None:
    X, _ = cancer()
    body = json.dumps(split_body(X.iloc[:1])).encode()
    for content_type in ("text/plain", "application/xml", "application/json; charset=latin-1"):
        answer = server.post("/invocations", content=body, headers={"content-type": content_type})
        assert answer.status_code == 415, content_type
        assert answer.json()["error"]["field"] == "content-type"
    assert server.post("/invocations", content=body).status_code == 415  # no Content-Type


def test_bodies_over_the_limit_are_refused_before_they_end(
    settings: Settings, forest: Any
) -> None:
    options = ServeOptions("models:/m@champion", runtime="native", max_body_bytes=64 * 1024)
    answers = []
    with live_server(options, settings) as url:
        port = int(url.rsplit(":", 1)[1])
        for path in ("/invocations", "/v2/models/m/infer", "/feedback"):
            # Chunked: 96 KiB sent of a body that never ends; the answer must come anyway.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n".encode()
                )
                for _ in range(6):
                    sock.sendall(b"4000\r\n" + b"[" * 0x4000 + b"\r\n")
                answers.append(sock.recv(4096).split(b"\r\n")[0])
            # Declared: a gigabyte announced, nothing sent.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Content-Length: 1000000000\r\n\r\n".encode()
                )
                answers.append(sock.recv(4096).split(b"\r\n")[0])

    assert all(b" 413 " in line for line in answers), answers


@pytest.fixture(scope="module")
def live_url(settings: Settings, forest: Any) -> Iterator[str]:
    with live_server(ServeOptions("models:/m@champion", runtime="native"), settings) as url:
        yield url


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("日本-1", id="non-latin-1"),
        pytest.param("line\nbreak", id="control-character"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_any_v2_request_id_gets_an_answer_not_a_500(live_url: str, request_id: str) -> None:
    X, _ = cancer()

    body = json.dumps(_v2_body(X.iloc[:1], id=request_id)).encode()  # ASCII, \u escapes

    answer = httpx.post(
        f"{live_url}/v2/models/m/infer",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )

    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert answer.json()["id"] == request_id
    else:
        assert answer.json()["field"] in ("id", "body")  # a lone surrogate: not text


# ---- auth -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(settings: Settings, forest: Any) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with client_for(settings) as client:
        _, reader = create_api_token(client.store, "review-reader", Role.READER)
        _, writer = create_api_token(client.store, "review-writer", Role.WRITER)
        revoked_token, revoked = create_api_token(client.store, "review-revoked", Role.ADMIN)
        client.store.revoke_token(revoked_token.id)
    options = ServeOptions("models:/m@champion", runtime="native", auth=True)
    with TestClient(create_serving_app(options, settings)) as client:
        yield client, {"reader": reader, "writer": writer, "revoked": revoked}


def test_no_route_answers_without_a_token_but_the_probes(
    secured: tuple[TestClient, dict[str, str]],
) -> None:
    server, secrets = secured
    revoked = {"authorization": f"Bearer {secrets['revoked']}"}
    for route in server.app.routes:  # type: ignore[attr-defined]
        path = route.path.replace("{name}", "m").replace("{version}", "1")
        for method in sorted(route.methods or ()):
            anonymous = server.request(method, path, content=b"{}")
            with_revoked = server.request(method, path, content=b"{}", headers=revoked)
            if route.path in open_routes:
                assert anonymous.status_code == 200, (method, path)
            else:
                assert anonymous.status_code == 401, (method, path, anonymous.status_code)
                assert with_revoked.status_code == 401, (method, path)


def test_reader_scores_but_may_not_send_feedback(
    secured: tuple[TestClient, dict[str, str]],
) -> None:
    server, secrets = secured
    X, _ = cancer()

    def bearer(role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {secrets[role]}"}

    scored = server.post("/invocations", json=split_body(X.iloc[:1]), headers=bearer("reader"))
    refused = server.post(
        "/feedback", json={"request_id": "r", "label": 1}, headers=bearer("reader")
    )
    recorded = server.post(
        "/feedback", json={"request_id": "r", "label": 1}, headers=bearer("writer")
    )

    assert scored.status_code == 200
    assert refused.status_code == 403 and recorded.status_code == 200


def test_401_names_the_bearer_scheme(secured: tuple[TestClient, dict[str, str]]) -> None:
    server, _ = secured

    answer = server.post("/invocations", json={"inputs": [1]})

    assert answer.status_code == 401
    assert answer.headers.get("www-authenticate", "").lower().startswith("bearer")


# ---- micro-batching and the inference log under concurrency ------------------------------------


def test_concurrent_mixed_requests_get_their_own_rows_and_each_row_is_logged(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        _, model = register_regressor(client, "reg")
    rng = np.random.default_rng(11)
    requests = []
    for index in range(240):
        rows = pd.DataFrame(rng.normal(size=(1 + index % 4, 2)), columns=["a", "b"])
        requests.append((f"q{index}", rows, model.predict(rows)))
    options = ServeOptions("models:/reg@champion", max_batch_size=16, max_batch_delay_ms=5)

    def ask(url: str, item: tuple[str, pd.DataFrame, Any]) -> tuple[int, list[float]]:
        request_id, rows, _ = item
        index = int(request_id[1:])
        shown = rows[["b", "a"]] if index % 3 == 0 else rows  # another column order
        body = (
            {"dataframe_records": shown.to_dict(orient="records")}
            if index % 5 == 0
            else split_body(shown)
        )
        answer = httpx.post(
            f"{url}/invocations", json=body, headers={"x-request-id": request_id}, timeout=30
        )
        return answer.status_code, answer.json()["predictions"]

    with live_server(options, settings) as url:
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(lambda item: ask(url, item), requests))
    logged = read_inference_log(settings.home / "inference", "reg").set_index("request_id")

    for (status, predictions), (_, _, expected) in zip(answers, requests, strict=True):
        assert status == 200
        np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-5)
    expected_ids = []
    for request_id, rows, expected in requests:
        ids = [request_id] if len(rows) == 1 else [f"{request_id}/{i}" for i in range(len(rows))]
        expected_ids += ids
        mine = logged.loc[ids]
        assert mine["input.a"].tolist() == rows["a"].tolist()
        assert mine["input.b"].tolist() == rows["b"].tolist()
        np.testing.assert_allclose(mine["prediction"], expected, rtol=1e-5, atol=1e-5)
    assert sorted(logged.index) == sorted(expected_ids)  # one row per row served, no more


def test_onnx_fast_path_matches_native_on_real_requests_with_missing_values(
    settings: Settings, forest: Any
) -> None:
    X, _ = cancer()
    rng = np.random.default_rng(3)
    rows = X.sample(150, random_state=1).reset_index(drop=True)
    rows = (rows * rng.uniform(0.7, 1.3, rows.shape)).mask(rng.random(rows.shape) < 0.15)
    data = json.loads(rows.to_json(orient="values"))  # NaN as null, as clients send it
    columns = list(X.columns)
    body = {"dataframe_split": {"columns": columns, "data": data}}
    options = ServeOptions("models:/m@champion", runtime="auto")
    with TestClient(create_serving_app(options, settings)) as client:
        runtime = client.get("/version").json()["primary"]["runtime"]
        labels = client.post("/invocations", json=body).json()["predictions"]
        proba = client.post("/invocations?output=proba", json=body).json()["predictions"]
        one_by_one = [
            client.post(
                "/invocations?output=proba",
                json={"dataframe_split": {"columns": columns, "data": [row]}},
            ).json()["predictions"][0]
            for row in data[:40]
        ]

    assert runtime == "onnx"
    assert labels == forest.predict(rows).tolist()
    np.testing.assert_allclose(proba, forest.predict_proba(rows), atol=1e-5)
    np.testing.assert_allclose(one_by_one, forest.predict_proba(rows.iloc[:40]), atol=1e-5)


def test_metrics_hold_what_the_issue_lists(server: TestClient) -> None:
    X, _ = cancer()
    server.post("/invocations", json=split_body(X.iloc[:3]))
    server.post("/invocations", json={"inputs": {"nope": [1]}})
    server.post("/v2/models/m/infer", json=_v2_body(X.iloc[:1]))
    digest = server.get("/version").json()["primary"]["root_digest"]

    families = {
        family.name: family
        for family in text_string_to_metric_families(server.get("/metrics").text)
    }

    def samples(name: str) -> list[Any]:
        return [s for f in families.values() for s in f.samples if s.name == name]

    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in samples("modelkeep_serve_requests_total")
    }
    assert requests[("/invocations", "200")] >= 1 and requests[("/invocations", "400")] >= 1
    assert requests[("/v2/models/{name}/infer", "200")] >= 1
    buckets = [
        s
        for s in samples("modelkeep_serve_request_duration_seconds_bucket")
        if s.labels["route"] == "/invocations"
    ]
    assert len(buckets) > 5
    assert samples("modelkeep_serve_batch_rows_count")[0].value >= 2
    info = samples("modelkeep_serve_model_info")
    assert [
        (s.labels["name"], s.labels["version"], s.labels["digest"], s.value) for s in info
    ] == [("m", "1", digest, 1.0)]
    assert samples("modelkeep_serve_inference_log_backlog")


def test_a_client_that_goes_away_mid_body_is_not_a_server_error(
    settings: Settings, forest: Any
) -> None:
    options = ServeOptions("models:/m@champion", runtime="native")
    with live_server(options, settings) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: 5000\r\n\r\n" + b"{" * 100
            )
            time.sleep(0.2)
        deadline = time.monotonic() + 5  # until the server has seen the disconnect
        metrics = httpx.get(f"{url}/metrics").text
        while 'requests_total{route="/invocations"' not in metrics:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
            metrics = httpx.get(f"{url}/metrics").text

    assert 'route="/invocations",status="500"' not in metrics


# ---- rollout: hot reload, canary, shadow -----------------------------------------------------


def test_versioned_v2_infer_racing_a_hot_reload_is_not_a_500(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "hot")
        register_forest(client, "hot", seed=1, alias=None)
    X, _ = cancer()
    body = json.dumps(_v2_body(X.iloc[:1])).encode()
    sent, finish = threading.Event(), threading.Event()
    answer: dict[str, int] = {}

    def slow_body() -> Iterator[bytes]:
        yield body[:20]
        sent.set()
        finish.wait(30)
        yield body[20:]

    options = ServeOptions("models:/hot@champion", runtime="native", poll_interval_s=0.05)
    with live_server(options, settings) as url:

        def call() -> None:
            response = httpx.post(
                f"{url}/v2/models/hot/versions/1/infer",
                content=slow_body(),
                headers={"content-type": "application/json"},
                timeout=30,
            )
            answer["status"] = response.status_code

        caller = threading.Thread(target=call)
        caller.start()
        assert sent.wait(10)
        with client_for(settings) as client:
            client.set_alias("hot", "champion", 2)
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/version").json()["primary"]["version"] != "2":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        finish.set()
        caller.join(30)

    assert answer["status"] in (200, 404)


def test_a_canary_version_that_cannot_load_leaves_the_old_canary_serving(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "pair")
        register_forest(client, "pair", seed=1, alias="challenger")
        broken, _ = register_forest(client, "pair", seed=2, alias=None)
        record = client.get_model_version("pair", broken)
        artifact = client.store.get_artifact(record.run_id, "model/model.skops")
        blobs = [
            p
            for p in client.settings.resolved_artifact_root().rglob(artifact.digest[2:])
            if p.parent.name == artifact.digest[:2]
        ]
    assert blobs
    data = bytearray(blobs[0].read_bytes())
    data[-1] ^= 0xFF
    blobs[0].chmod(0o644)
    blobs[0].write_bytes(bytes(data))
    options = ServeOptions(
        "models:/pair@champion",
        runtime="native",
        canary_uri="models:/pair@challenger",
        canary_weight=1.0,
        poll_interval_s=0.05,
    )
    X, _ = cancer()
    with live_server(options, settings) as url:
        with client_for(settings) as client:
            client.set_alias("pair", "challenger", broken)
        deadline = time.monotonic() + 20
        failed = 'modelkeep_serve_reloads_total{result="failed",variant="canary"} 1.0'
        while failed not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = httpx.post(f"{url}/invocations", json=split_body(X.iloc[:1]))

    assert answer.status_code == 200
    assert answer.headers["x-model-variant"] == "canary"
    assert answer.headers["x-model-version"] == "2"


def test_v2_requests_are_copied_to_the_shadow_too(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "lead")
        register_forest(client, "lead", seed=5, alias="next")
    X, _ = cancer()
    options = ServeOptions(
        "models:/lead@champion", runtime="native", shadow_uri="models:/lead@next"
    )
    with TestClient(create_serving_app(options, settings)) as client:
        answer = client.post("/v2/models/lead/infer", json=_v2_body(X.iloc[:1], id="v2-shadow"))
    logged = read_inference_log(settings.home / "inference", "lead")  # shutdown wrote it all

    assert answer.status_code == 200
    mine = logged[logged["request_id"] == "v2-shadow"]
    assert sorted(mine["variant"]) == ["primary", "shadow"]


def test_feedback_joins_requests_a_canary_of_another_model_answered(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "churn")
        register_forest(client, "churn-next", seed=3)
    X, _ = cancer()
    options = ServeOptions(
        "models:/churn@champion",
        runtime="native",
        canary_uri="models:/churn-next@champion",
        canary_weight=1.0,
    )
    with TestClient(create_serving_app(options, settings)) as client:
        scored = client.post(
            "/invocations", json=split_body(X.iloc[:1]), headers={"x-request-id": "c1"}
        )
        client.post("/feedback", json={"request_id": "c1", "label": 1})
        _flush(client)
    joined = join_feedback(settings.home / "inference", "churn-next").set_index("request_id")

    assert scored.headers["x-model-variant"] == "canary"
    assert joined.loc["c1", "label"] == 1


# ---- inference log -----------------------------------------------------------------------------


def test_every_logged_classifier_prediction_has_its_probabilities(
    server: TestClient, forest: Any
) -> None:
    X, _ = cancer()

    server.post("/invocations", json=split_body(X.iloc[[7]]), headers={"x-request-id": "p-1"})
    _flush(server)
    logged = read_inference_log(server.app.state.serving.settings.home / "inference", "m")  # type: ignore[attr-defined]

    row = logged[logged["request_id"] == "p-1"].iloc[0]
    assert row["proba"] is not None
    np.testing.assert_allclose(list(row["proba"]), forest.predict_proba(X.iloc[[7]])[0])


def test_one_unencodable_request_does_not_cost_other_requests_their_log_rows(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "poison")
    X, _ = cancer()
    poisoned = json.dumps(_v2_body(X.iloc[:1], id="\ud800")).encode()  # ASCII \ud800 escape
    options = ServeOptions("models:/poison@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as client:
        for index in range(3):
            client.post(
                "/invocations",
                json=split_body(X.iloc[[index]]),
                headers={"x-request-id": f"good-{index}"},
            )
        client.post(
            "/v2/models/poison/infer",
            content=poisoned,
            headers={"content-type": "application/json"},
        )
        _flush(client)
    root = settings.home / "inference"
    logged = read_inference_log(root, "poison") if (root / "predictions").exists() else None

    assert logged is not None
    assert {"good-0", "good-1", "good-2"} <= set(logged["request_id"])


@pytest.mark.parametrize(
    "first_value",
    [pytest.param(18, id="integral-json-number"), pytest.param(None, id="missing-value")],
)
def test_log_stays_readable_by_pandas_and_polars_when_json_number_types_vary(
    tmp_path: Path, first_value: Any
) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "typed")
    X, _ = cancer()
    first = split_body(X.iloc[[0]])
    first["dataframe_split"]["data"][0][0] = first_value
    options = ServeOptions("models:/typed@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as client:
        for body in (first, split_body(X.iloc[[1]])):
            assert client.post("/invocations", json=body).status_code == 200
            _flush(client)  # one file per request, as with traffic spread over time
    folder = settings.home / "inference" / "predictions"

    by_pandas = pd.read_parquet(folder)["input.mean radius"].tolist()
    by_polars = pl.read_parquet(f"{folder}/**/*.parquet", hive_partitioning=True)
    assert len(by_pandas) == 2 and X.iloc[1, 0] in by_pandas
    assert by_polars.height == 2


def test_odd_model_names_round_trip_through_routes_log_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home")
    name = "churn %41 é~x."
    with client_for(settings) as client:
        register_forest(client, name)
    X, _ = cancer()
    options = ServeOptions(f"models:/{name}@champion", runtime="native")
    with live_server(options, settings) as url:
        meta = httpx.get(f"{url}/v2/models/{quote(name, safe='')}")
        v2 = httpx.post(
            f"{url}/v2/models/{quote(name, safe='')}/infer", json=_v2_body(X.iloc[:1], id="n-2")
        )
        mlflow = httpx.post(
            f"{url}/invocations", json=split_body(X.iloc[:1]), headers={"x-request-id": "n-1"}
        )
    direct = pd.read_parquet(settings.home / "inference" / "predictions")
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    tail = CliRunner().invoke(cli_app, ["logs", "tail", name, "--json"])

    assert meta.status_code == 200 and meta.json()["name"] == name
    assert v2.status_code == 200 and mlflow.status_code == 200
    assert set(direct["model"].astype(str)) == {name}
    assert tail.exit_code == 0, tail.output
    assert sorted(row["request_id"] for row in json.loads(tail.stdout)) == ["n-1", "n-2"]


# ---- payload formats -----------------------------------------------------------------------


def test_csv_body_reads_the_signatures_text_columns_as_text(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {"zip": rng.choice(["007", "010", "123"], 200), "age": rng.uniform(18, 80, 200)}
    )
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["zip"]), remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(train, (train["zip"] == "007").astype(int))
    with client_for(settings) as client:
        run = client.create_run(client.get_or_create_experiment("e").id)
        info = client.log_model(run.id, pipeline, "model", input_example=train.head(5))
        client.set_terminated(run.id)
        client.set_alias("zips", "champion", client.register_model(info.uri, "zips").version)
    rows = pd.DataFrame({"zip": ["007", "010"], "age": [30.0, 40.0]})
    options = ServeOptions("models:/zips@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as client:
        as_json = client.post("/invocations", json=split_body(rows))
        as_csv = client.post(
            "/invocations",
            content=rows.to_csv(index=False).encode(),
            headers={"content-type": "text/csv"},
        )

    assert as_json.status_code == 200
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json() == as_json.json() == {"predictions": pipeline.predict(rows).tolist()}


# ---- modelkeep predict -------------------------------------------------------------------


def _predict(settings: Settings, *args: str) -> Any:
    store = settings.resolved_tracking_uri()
    return CliRunner().invoke(cli_app, ["--store", store, "predict", "models:/m/1", *args])


def test_predict_gives_the_same_file_whatever_the_chunk_size(
    settings: Settings, forest: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    X, _ = cancer()
    rows = X.iloc[:103].assign(account=np.arange(103) * 3)
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    outputs = []
    for size in ("1", "10", "1000"):
        output = tmp_path / f"out-{size}.parquet"
        result = _predict(
            settings,
            *(str(source), "-o", str(output), "--chunk-size", size),
            *("--id-column", "account", "--proba"),
        )
        assert result.exit_code == 0, result.output
        outputs.append(pd.read_parquet(output))

    features = rows.drop(columns="account")
    for output in outputs:
        pd.testing.assert_frame_equal(output, outputs[0])
    # CSV ids are copied as the file spells them (text), whatever each chunk holds.
    assert outputs[0]["account"].tolist() == rows["account"].astype(str).tolist()
    assert outputs[0]["prediction"].tolist() == forest.predict(features).tolist()
    np.testing.assert_allclose(outputs[0]["proba_1"], forest.predict_proba(features)[:, 1])


def test_predict_failure_leaves_an_existing_output_untouched(
    settings: Settings, forest: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    X, _ = cancer()
    rows = X.iloc[:50].astype(object)
    rows.iloc[37, 2] = "oops"
    source, output = tmp_path / "rows.csv", tmp_path / "out.parquet"
    rows.to_csv(source, index=False)
    output.write_bytes(b"previous")

    result = _predict(settings, str(source), "-o", str(output), "--chunk-size", "10")

    assert result.exit_code == 1
    assert "rows 30-39" in result.output and "Traceback" not in result.output
    assert output.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_predict_copies_text_ids_through_unchanged(
    settings: Settings, forest: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    X, _ = cancer()
    ids = [f"{i:03d}" for i in range(10)] + [f"A{i}" for i in range(10)]
    source, output = tmp_path / "rows.csv", tmp_path / "out.parquet"
    X.iloc[:20].assign(account=ids).to_csv(source, index=False)

    result = _predict(
        settings, str(source), "-o", str(output), "--chunk-size", "7", "--id-column", "account"
    )

    assert result.exit_code == 0, result.output
    assert pq.read_table(output).column("account").to_pylist() == ids


# ---- modelkeep serve as a process --------------------------------------------------------------


def _serve_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "MODELKEEP_HOME": str(settings.home)}


def test_serve_refuses_a_public_bind_without_auth_in_one_line(settings: Settings) -> None:
    store = settings.resolved_tracking_uri()
    done = subprocess.run(
        _modelkeep("--store", store, "serve", "models:/m@champion", "--host", "0.0.0.0"),
        env=_serve_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "0.0.0.0" in lines[0]


def test_serve_of_an_unknown_model_is_one_error_line(settings: Settings) -> None:
    store = settings.resolved_tracking_uri()
    done = subprocess.run(
        _modelkeep("--store", store, "serve", "models:/nope@champion", "--port", str(free_port())),
        env=_serve_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nope" in lines[0]


def test_serve_on_a_busy_port_is_one_error_line(settings: Settings, forest: Any) -> None:
    store = settings.resolved_tracking_uri()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            _modelkeep("--store", store, "serve", "models:/m@champion", "--port", str(port)),
            env=_serve_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(port) in lines[0]


def test_ctrl_c_flushes_every_prediction_to_the_log(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "stop")
    X, _ = cancer()
    port = free_port()
    process = subprocess.Popen(
        _modelkeep(
            *("--store", settings.resolved_tracking_uri(), "serve", "models:/stop@champion"),
            *("--port", str(port), "--runtime", "native"),
        ),
        env=_serve_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        with httpx.Client(base_url=url, timeout=10) as http:
            for index in range(40):
                answer = http.post(
                    "/invocations",
                    json=split_body(X.iloc[[index]]),
                    headers={"x-request-id": f"s{index}"},
                )
                assert answer.status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr.decode()
    logged = read_inference_log(settings.home / "inference", "stop")
    assert sorted(logged["request_id"]) == sorted(f"s{i}" for i in range(40))
