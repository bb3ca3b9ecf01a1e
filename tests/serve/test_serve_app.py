"""The inference server in-process (Starlette's TestClient runs its lifespan): scoring formats
end to end, validation and size errors, operational routes, v2, feedback, the inference log,
auth, and micro-batching of concurrent requests."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serve_support import cancer, client_for, register_forest, settings_for, split_body
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.serve.app import create_serving_app, open_routes
from modelkeep.serve.inference_log import join_feedback, read_inference_log
from modelkeep.serve.options import ServeOptions
from modelkeep.server.auth import create_api_token


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-home")


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return settings_for(home)


@pytest.fixture(scope="module")
def forest(settings: Settings) -> Any:
    with client_for(settings) as client:
        _, model = register_forest(client, "m")
    return model


@pytest.fixture
def server(settings: Settings, forest: Any) -> Iterator[TestClient]:
    options = ServeOptions("models:/m@champion", runtime="native", max_body_bytes=64 * 1024)
    with TestClient(create_serving_app(options, settings)) as client:
        yield client


def _rows(n: int, start: int = 0) -> pd.DataFrame:
    X, _ = cancer()
    return X.iloc[start : start + n]


def test_dataframe_split_gives_the_models_predictions(server: TestClient, forest: Any) -> None:
    rows = _rows(3)

    answer = server.post("/invocations", json=split_body(rows))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": forest.predict(rows).tolist()}
    assert answer.headers["x-model-version"] == "1"
    assert answer.headers["x-model-variant"] == "primary"
    assert len(answer.headers["x-request-id"]) >= 16


def test_proba_by_query_and_by_params(server: TestClient, forest: Any) -> None:
    rows = _rows(2)
    expected = forest.predict_proba(rows)

    by_query = server.post("/invocations?output=proba", json=split_body(rows)).json()
    by_params = server.post(
        "/invocations", json={**split_body(rows), "params": {"output": "proba"}}
    ).json()

    np.testing.assert_allclose(by_query["predictions"], expected)
    assert by_params == by_query


def test_records_csv_and_parquet_agree(server: TestClient, forest: Any) -> None:
    rows = _rows(4, start=10)
    expected = {"predictions": forest.predict(rows).tolist()}
    parquet = io.BytesIO()
    rows.to_parquet(parquet)

    records = server.post(
        "/invocations", json={"dataframe_records": rows.to_dict(orient="records")}
    )
    csv = server.post(
        "/invocations",
        content=rows.to_csv(index=False).encode(),
        headers={"content-type": "text/csv"},
    )
    pq = server.post(
        "/invocations",
        content=parquet.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )

    assert records.json() == csv.json() == pq.json() == expected


def test_a_wrong_column_is_a_400_naming_it(server: TestClient) -> None:
    body = split_body(_rows(1))
    body["dataframe_split"]["data"][0][3] = "not a number"
    column = body["dataframe_split"]["columns"][3]

    answer = server.post("/invocations", json=body)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert column in error["message"] and error["code"] == "input_schema_mismatch"


def test_a_missing_column_is_a_400(server: TestClient) -> None:
    rows = _rows(1).drop(columns=["mean radius"])

    answer = server.post("/invocations", json=split_body(rows))

    assert answer.status_code == 400
    assert "mean radius" in answer.json()["error"]["message"]


def test_size_and_media_type_errors(server: TestClient) -> None:
    big = server.post("/invocations", json=split_body(_rows(569)))
    text = server.post("/invocations", content=b"hello", headers={"content-type": "text/plain"})
    broken = server.post(
        "/invocations", content=b"{", headers={"content-type": "application/json"}
    )

    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert text.status_code == 415 and text.json()["error"]["field"] == "content-type"
    assert broken.status_code == 400


def test_unknown_routes_and_methods_answer_json(server: TestClient) -> None:
    missing = server.get("/nope")
    wrong_method = server.get("/invocations")

    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405


def test_operational_routes(server: TestClient) -> None:
    server.post("/invocations", json=split_body(_rows(1)))

    version = server.get("/version").json()["primary"]
    metrics = server.get("/metrics").text

    assert server.get("/health").json() == {"status": "ok"}
    assert server.get("/ready").json() == {"ready": True, "versions": ["1"]}
    assert (version["model"], version["version"], version["runtime"]) == ("m", "1", "native")
    assert len(version["root_digest"]) == 64
    assert 'modelkeep_serve_requests_total{route="/invocations",status="200"}' in metrics
    assert 'modelkeep_serve_model_info{digest="' in metrics
    assert "modelkeep_serve_batch_rows_bucket" in metrics
    assert "modelkeep_serve_inference_log_backlog" in metrics


def test_v2_metadata_and_infer(server: TestClient, forest: Any) -> None:
    rows = _rows(2)
    columns = [
        {"name": str(c), "shape": [2], "datatype": "FP64", "data": rows[c].tolist()}
        for c in rows.columns
    ]

    meta = server.get("/v2/models/m").json()
    answer = server.post("/v2/models/m/infer", json={"id": "r1", "inputs": columns})
    versioned = server.post("/v2/models/m/versions/1/infer", json={"inputs": columns})

    assert meta["name"] == "m" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == [str(c) for c in rows.columns]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("m", "1", "r1")
    assert body["outputs"][0]["data"] == forest.predict(rows).tolist()
    assert versioned.json()["outputs"] == body["outputs"]


def test_v2_one_2d_tensor_in_signature_order(server: TestClient, forest: Any) -> None:
    rows = _rows(3)
    tensor = {
        "name": "input-0",
        "shape": [3, rows.shape[1]],
        "datatype": "FP32",
        "data": rows.to_numpy().ravel().tolist(),
    }

    answer = server.post("/v2/models/m/infer", json={"inputs": [tensor]})

    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == forest.predict(rows.astype("float32")).tolist()


def test_v2_unknown_model_or_version_is_404(server: TestClient) -> None:
    other = server.get("/v2/models/other")
    version = server.post("/v2/models/m/versions/9/infer", json={"inputs": []})

    assert other.status_code == 404 and "error" in other.json()
    assert version.status_code == 404 and isinstance(version.json()["error"], str)
    assert server.get("/v2").json()["name"] == "modelkeep"
    assert server.get("/v2/health/ready").json() == {"ready": True}


def test_every_prediction_is_logged_and_feedback_joins(settings: Settings, forest: Any) -> None:
    options = ServeOptions("models:/m@champion", runtime="native")
    rows = _rows(3, start=40)
    with TestClient(create_serving_app(options, settings)) as server:
        ids = []
        for index in range(3):
            answer = server.post(
                "/invocations",
                json=split_body(rows.iloc[[index]]),
                headers={"x-request-id": f"log-{index}"},
            )
            ids.append(answer.headers["x-request-id"])
        feedback = server.post(
            "/feedback",
            json=[{"request_id": "log-0", "label": 1}, {"request_id": "log-2", "label": 0}],
        )
        assert feedback.json() == {"recorded": 2}
        server.app.state.serving.log.flush()  # type: ignore[attr-defined]
        root = settings.home / "inference"
        logged = read_inference_log(root, "m")
        joined = join_feedback(root, "m")

    mine = logged[logged["request_id"].isin(ids)].sort_values("request_id")
    assert list(mine["request_id"]) == ids
    assert mine["prediction"].tolist() == forest.predict(rows).tolist()
    assert mine["input.mean radius"].tolist() == rows["mean radius"].tolist()
    assert set(mine["version"]) == {"1"} and set(mine["variant"]) == {"primary"}
    labels = joined.set_index("request_id").loc[ids, "label"].tolist()
    assert labels[0] == 1 and labels[2] == 0 and pd.isna(labels[1])


def test_bad_feedback_is_a_400(server: TestClient) -> None:
    for body in ([], {"label": 1}, {"request_id": "x"}, {"request_id": "x", "label": [1]}):
        answer = server.post("/feedback", json=body)
        assert answer.status_code == 400, body


def test_concurrent_requests_are_batched_and_each_gets_its_rows(
    server: TestClient, forest: Any
) -> None:
    X, _ = cancer()
    expected = forest.predict(X.iloc[:64])

    def ask(index: int) -> Any:
        return server.post("/invocations", json=split_body(X.iloc[[index]])).json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(64)))

    assert [a["predictions"][0] for a in answers] == expected.tolist()


def test_one_bad_request_does_not_fail_its_batch(server: TestClient, forest: Any) -> None:
    X, _ = cancer()

    def ask(index: int) -> int:
        body = split_body(X.iloc[[index]])
        if index % 4 == 0:
            body["dataframe_split"]["data"][0][0] = "bad"
        return server.post("/invocations", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(ask, range(32)))

    assert codes == [400 if i % 4 == 0 else 200 for i in range(32)]


@pytest.fixture
def secured(settings: Settings, forest: Any) -> Iterator[tuple[TestClient, str, str]]:
    with client_for(settings) as client:
        _, reader = create_api_token(client.store, f"r-{id(client)}", Role.READER)
        _, writer = create_api_token(client.store, f"w-{id(client)}", Role.WRITER)
    options = ServeOptions("models:/m@champion", runtime="native", auth=True)
    with TestClient(create_serving_app(options, settings)) as server:
        yield server, reader, writer


def test_auth_closes_every_route_but_the_probes(secured: tuple[TestClient, str, str]) -> None:
    server, _, _ = secured
    paths = {route.path: route.methods or set() for route in server.app.routes}  # type: ignore[attr-defined]

    for path, methods in paths.items():
        concrete = path.replace("{name}", "m").replace("{version}", "1")
        method = "POST" if "POST" in methods else "GET"
        answer = server.request(method, concrete, json={})
        if path in open_routes:
            assert answer.status_code == 200, path
        else:
            assert answer.status_code == 401, (path, answer.status_code)


def test_tokens_and_roles(secured: tuple[TestClient, str, str]) -> None:
    server, reader, writer = secured
    body = split_body(_rows(1))

    def bearer(secret: str) -> dict[str, str]:
        return {"authorization": f"Bearer {secret}"}

    assert server.post("/invocations", json=body, headers=bearer(reader)).status_code == 200
    assert server.post("/invocations", json=body, headers=bearer("nope")).status_code == 401
    feedback = {"request_id": "a", "label": 1}
    assert server.post("/feedback", json=feedback, headers=bearer(reader)).status_code == 403
    assert server.post("/feedback", json=feedback, headers=bearer(writer)).status_code == 200


def test_a_model_that_does_not_exist_fails_at_start(settings: Settings) -> None:
    from modelkeep.exceptions import NotFoundError

    options = ServeOptions("models:/nothing@champion")
    with pytest.raises(NotFoundError), TestClient(create_serving_app(options, settings)) as app:
        app.get("/health")  # never reached: the model fails to load at start-up


def test_options_are_checked() -> None:
    from modelkeep.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError) as caught:
        ServeOptions("models:/m@champion", runtime="gpu")
    assert caught.value.field == "runtime"
    with pytest.raises(InvalidInputError) as caught:
        ServeOptions("nonsense")
    assert caught.value.field == "model_uri"
    assert json.loads(json.dumps(ServeOptions("models:/m/1").to_dict()))["model_uri"]


def test_a_runs_uri_is_served_with_the_run_as_its_name(settings: Settings, forest: Any) -> None:
    with client_for(settings) as client:
        version = client.get_model_version("m", 1)
    options = ServeOptions(f"runs:/{version.run_id}/model", runtime="native")
    rows = _rows(2)

    with TestClient(create_serving_app(options, settings)) as server:
        answer = server.post("/invocations", json=split_body(rows))
        described = server.get("/version").json()["primary"]

    assert answer.json() == {"predictions": forest.predict(rows).tolist()}
    assert (described["model"], described["version"]) == (version.run_id, "")
