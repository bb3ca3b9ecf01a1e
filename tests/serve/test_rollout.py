"""Rollout against a real uvicorn server on loopback: hot reload under continuous traffic,
canary share and stickiness, shadow failures hidden from callers."""

from __future__ import annotations

import math
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from serve_support import (
    cancer,
    client_for,
    live_server,
    register_forest,
    register_regressor,
    settings_for,
    split_body,
)
from starlette.testclient import TestClient

from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.rollout import canary_share, choose_canary


def _row_body() -> dict[str, Any]:
    X, _ = cancer()
    return split_body(X.iloc[[0]])


def test_hot_reload_through_three_alias_moves_loses_no_request(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "hot", seed=0)
        for seed in (1, 2, 3):
            register_forest(client, "hot", seed=seed, alias=None)
    options = ServeOptions("models:/hot@champion", runtime="native", poll_interval_s=0.1)
    body = _row_body()
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    with live_server(options, settings) as url:

        def traffic() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                while not stop.is_set():
                    answer = http.post("/invocations", json=body)
                    seen.append((answer.status_code, answer.headers.get("x-model-version", "")))

        workers = [threading.Thread(target=traffic) for _ in range(4)]
        for worker in workers:
            worker.start()
        with client_for(settings) as client:
            for version in (2, 3, 4):
                time.sleep(0.5)
                client.set_alias("hot", "champion", version)
                _wait_for_version(url, str(version))
        time.sleep(0.3)
        stop.set()
        for worker in workers:
            worker.join()

    assert seen and all(status == 200 for status, _ in seen)
    versions = [version for _, version in seen]
    assert set(versions) == {"1", "2", "3", "4"}
    assert versions[-1] == "4"


def _wait_for_version(url: str, version: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/ready").json()["versions"] == [version]:
            return
        time.sleep(0.05)
    raise AssertionError(f"version {version} never served")


def test_a_version_that_cannot_load_leaves_the_old_one_serving(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "keep", seed=0)
        version, _ = register_forest(client, "keep", seed=1, alias=None)
    options = ServeOptions("models:/keep@champion", runtime="native", poll_interval_s=0.1)
    with live_server(options, settings) as url:
        with client_for(settings) as client:
            tampered = _tamper(client, "keep", version)
            client.set_alias("keep", "champion", version)
        time.sleep(1.0)
        answer = httpx.post(f"{url}/invocations", json=_row_body())
        metrics = httpx.get(f"{url}/metrics").text

    assert tampered
    assert answer.status_code == 200 and answer.headers["x-model-version"] == "1"
    assert 'modelkeep_serve_reloads_total{result="failed",variant="primary"} 1.0' in metrics


def _tamper(client: Any, name: str, version: int) -> bool:
    """Flip one byte of the stored blob of ``name``/``version``'s model file (blobs are
    content-addressed: ``<root>/.../<digest[:2]>/<digest[2:]>``): loading it must then fail
    the integrity check."""
    record = client.get_model_version(name, version)
    artifact = client.store.get_artifact(record.run_id, "model/model.skops")
    root = client.settings.resolved_artifact_root()
    for path in root.rglob(artifact.digest[2:]):
        if path.parent.name == artifact.digest[:2]:
            data = bytearray(path.read_bytes())
            data[-1] ^= 0xFF
            path.chmod(0o644)
            path.write_bytes(bytes(data))
            return True
    return False


def test_canary_share_is_within_binomial_tolerance_and_sticky(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "main", seed=0)
        register_forest(client, "main", seed=1, alias="challenger")
    options = ServeOptions(
        "models:/main@champion",
        runtime="native",
        canary_uri="models:/main@challenger",
        canary_weight=0.3,
        inference_log=False,
    )
    body = _row_body()
    n, weight = 2000, 0.3
    with TestClient(create_serving_app(options, settings)) as server:
        variants = [
            server.post(
                "/invocations", json=body, headers={"x-request-id": uuid.uuid4().hex}
            ).headers["x-model-variant"]
            for _ in range(n)
        ]
        sticky = {
            server.post("/invocations", json=body, headers={"x-request-id": "same-key"}).headers[
                "x-model-version"
            ]
            for _ in range(20)
        }

    share = variants.count("canary") / n
    assert abs(share - weight) < 4 * math.sqrt(weight * (1 - weight) / n)
    assert len(sticky) == 1
    assert choose_canary("same-key", 0.3) == (canary_share("same-key") < 0.3)


def test_shadow_failures_never_reach_the_caller(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        _, forest = register_forest(client, "front", seed=0)
        register_regressor(client, "shadowed")  # takes columns a, b: every copy fails
    options = ServeOptions(
        "models:/front@champion", runtime="native", shadow_uri="models:/shadowed@champion"
    )
    X, _ = cancer()
    with TestClient(create_serving_app(options, settings)) as server:
        answers = [server.post("/invocations", json=split_body(X.iloc[[i]])) for i in range(10)]
        time.sleep(0.2)
        metrics = server.get("/metrics").text

    assert [a.status_code for a in answers] == [200] * 10
    assert [a.json()["predictions"][0] for a in answers] == forest.predict(X.iloc[:10]).tolist()
    assert "modelkeep_serve_shadow_errors_total 10.0" in metrics


def test_a_working_shadow_is_logged_not_returned(tmp_path: Path) -> None:
    from modelkeep.serve.inference_log import read_inference_log

    settings = settings_for(tmp_path / "home")
    with client_for(settings) as client:
        register_forest(client, "lead", seed=0)
        register_forest(client, "lead", seed=5, alias="next")
    options = ServeOptions(
        "models:/lead@champion", runtime="native", shadow_uri="models:/lead@next"
    )
    with TestClient(create_serving_app(options, settings)) as server:
        answer = server.post("/invocations", json=_row_body(), headers={"x-request-id": "s1"})
        time.sleep(0.2)
        server.app.state.serving.log.flush()  # type: ignore[attr-defined]
    logged = read_inference_log(settings.home / "inference", "lead")

    assert answer.headers["x-model-version"] == "1"
    rows = logged[logged["request_id"] == "s1"]
    assert sorted(zip(rows["variant"], rows["version"], strict=True)) == [
        ("primary", "1"),
        ("shadow", "2"),
    ]


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_canary_weight_bounds(weight: float) -> None:
    assert choose_canary("k", weight) is (weight == 1.0)
    assert choose_canary(None, weight) is (weight == 1.0)
    assert isinstance(pd.Series([canary_share(str(i)) for i in range(100)]).mean(), float)
