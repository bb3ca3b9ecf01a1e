"""Canary rollouts against a real inference server on loopback: a good challenger walks the
steps and is promoted while the server hot-reloads it without a failed request; a challenger
that fails on live traffic is rolled back with the champion untouched."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

from modelkeep.config import Settings
from modelkeep.maintain.policy import Policy, load_policy
from modelkeep.maintain.rollout import CANARY_WEIGHT_TAG, canary_rollout
from modelkeep.registry.flavors.pyfunc import PythonModel
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client


class Constant(PythonModel):
    """Predicts ``value``; with ``fragile`` it fails (a 500) on rows where x is negative."""

    def __init__(self, value: float, fragile: bool = False) -> None:
        self.value = value
        self.fragile = fragile

    def predict(self, data: Any) -> Any:
        if self.fragile and (data["x"] < 0).any():
            raise RuntimeError("the model broke on a negative x")
        return np.full(len(data), self.value)


def _register(client: Client, value: float, *, fragile: bool = False) -> int:
    run = client.create_run(client.get_or_create_experiment("canary").id)
    example = pd.DataFrame({"x": [1.0, 2.0]})
    info = client.log_model(run.id, Constant(value, fragile), "model", input_example=example)
    client.set_terminated(run.id)
    return int(client.register_model(info.uri, "m").version)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """``m``: v1 (champion, 0.0), v2 (1.0), v3 (2.0, fails on negative x)."""
    configured = Settings(home=tmp_path).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'modelkeep.db'}"}
    )
    with Client(configured.resolved_tracking_uri(), settings=configured) as client:
        client.set_alias("m", "champion", _register(client, 0.0))
        _register(client, 1.0)
        _register(client, 2.0, fragile=True)
    return configured


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    options = ServeOptions(
        "models:/m@champion", canary_uri="models:/m@challenger", canary_weight=0.0,
        runtime="native", allow_code=True, inference_log=False, poll_interval_s=0.05,
        port=port,
    )  # fmt: skip
    app = create_serving_app(options, settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)


class Traffic:
    """Requests in a background thread until stopped; every status is kept."""

    def __init__(self, url: str, xs: list[float]) -> None:
        self.statuses: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, xs), daemon=True)

    def _run(self, url: str, xs: list[float]) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            for n, x in enumerate(itertools.cycle(xs)):
                if self._stop.is_set():
                    return
                body = {"dataframe_split": {"columns": ["x"], "data": [[x]]}}
                answer = http.post("/invocations", json=body, headers={"x-request-id": f"r{n}"})
                self.statuses.append(
                    (answer.status_code, answer.headers.get("x-model-version", ""))
                )
                time.sleep(0.002)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _policy() -> Policy:
    return load_policy({
        "model": "m", "triggers": [{"kind": "manual"}],
        "rollout": {"mode": "canary", "steps": [0.5, 1.0], "min_requests": 25, "poll": 0.05,
                    "step_timeout": "30s", "max_error_rate": 0.02, "max_latency_ratio": 1000},
    })  # fmt: skip


def _described(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/version", timeout=10).json())


def test_a_good_canary_is_promoted_and_hot_reloaded_without_a_failed_request(
    settings: Settings, server: str
) -> None:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        client.set_alias("m", "challenger", 2)
        with Traffic(server, [1.0, 2.0, 3.0]) as traffic:
            result = canary_rollout(client, _policy(), 2, server_url=server,
                                    inference_root=settings.home / "inference")  # fmt: skip
            deadline = time.monotonic() + 30
            while _described(server)["variants"]["primary"]["version"] != "2":
                assert time.monotonic() < deadline, "the primary never reloaded v2"
                time.sleep(0.05)
            time.sleep(0.2)  # some requests answered by the reloaded primary
        model = client.get_registered_model("m")

    assert result.outcome == "promoted", result.reason
    assert [s["weight"] for s in result.steps] == [0.5, 1.0]
    assert all(s["passed"] and s["canary"]["requests"] >= 25 for s in result.steps)
    assert dict(model.aliases) == {"champion": 2}
    assert model.tags[CANARY_WEIGHT_TAG] == "0"
    assert traffic.statuses and all(status == 200 for status, _ in traffic.statuses)
    assert traffic.statuses[-1][1] == "2"


def test_a_canary_that_fails_live_is_rolled_back(settings: Settings, server: str) -> None:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        client.set_alias("m", "challenger", 3)
        with Traffic(server, [1.0, -1.0, 2.0]) as traffic:
            result = canary_rollout(client, _policy(), 3, server_url=server,
                                    inference_root=settings.home / "inference")  # fmt: skip
        model = client.get_registered_model("m")
    described = _described(server)

    assert result.outcome == "rolled_back"
    assert len(result.steps) == 1 and "error rate" in result.steps[0]["why"]
    assert result.steps[0]["canary"]["errors"] > 0
    assert dict(model.aliases) == {"champion": 1}  # champion untouched, challenger withdrawn
    assert model.tags[CANARY_WEIGHT_TAG] == "0"
    assert described["variants"]["primary"]["version"] == "1"
    failed_versions = {version for status, version in traffic.statuses if status != 200}
    assert failed_versions <= {"3", ""}  # only the canary failed


def test_a_canary_without_traffic_is_rolled_back_at_its_timeout(
    settings: Settings, server: str
) -> None:
    policy = load_policy({**_policy().model_dump(mode="json"),
                          "rollout": {**_policy().rollout.model_dump(mode="json"),
                                      "step_timeout": 1.0}})  # fmt: skip
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        client.set_alias("m", "challenger", 2)
        result = canary_rollout(client, policy, 2, server_url=server,
                                inference_root=settings.home / "inference")  # fmt: skip
        aliases = dict(client.get_registered_model("m").aliases)

    assert result.outcome == "rolled_back" and "only 0 canary requests" in result.reason
    assert aliases == {"champion": 1}
