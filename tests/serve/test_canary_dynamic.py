"""A canary that follows an alias (pending, loaded, moved, removed), the canary weight tag,
and the per-variant counts of ``GET /version``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from serve_support import client_for, live_server, settings_for
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.exceptions import NotFoundError, StoreUnavailableError
from modelkeep.registry.flavors.pyfunc import PythonModel
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.deployment import load_deployment
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.rollout import (
    CANARY_WEIGHT_TAG,
    AliasWatcher,
    CanaryWeight,
    Follow,
    Slot,
    choose_canary,
)
from modelkeep.serve.runner import check_models_load
from modelkeep.tracking import Client


class Constant(PythonModel):
    """Predicts ``value`` for every row; fails (a 500) on rows where ``x`` is negative when
    ``fragile``."""

    def __init__(self, value: float, fragile: bool = False) -> None:
        self.value = value
        self.fragile = fragile

    def predict(self, data: Any) -> Any:
        if self.fragile and (data["x"] < 0).any():
            raise RuntimeError("the model broke on a negative x")
        return np.full(len(data), self.value)


def _register(client: Client, name: str, value: float, *, fragile: bool = False) -> int:
    experiment = client.get_or_create_experiment("canary-tests")
    run = client.create_run(experiment.id)
    example = pd.DataFrame({"x": [1.0, 2.0]})
    info = client.log_model(run.id, Constant(value, fragile), "model", input_example=example)
    client.set_terminated(run.id)
    return int(client.register_model(info.uri, name).version)


def _options(canary: str, **extra: Any) -> ServeOptions:
    settings: dict[str, Any] = {
        "runtime": "native",
        "allow_code": True,
        "inference_log": False,
        "poll_interval_s": 0.05,
        **extra,
    }
    return ServeOptions("models:/m@champion", canary_uri=canary, **settings)


def _body(x: float) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["x"], "data": [[x]]}}


def _wait(read: Callable[[], dict[str, Any]], ok: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ok(read()):
            return
        time.sleep(0.05)
    raise AssertionError(f"never reached; last: {read()}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A store with ``m`` v1 (0.0, champion), v2 (1.0) and v3 (2.0, fails on negative x)."""
    configured = settings_for(tmp_path / "home")
    with client_for(configured) as client:
        client.set_alias("m", "champion", _register(client, "m", 0.0))
        _register(client, "m", 1.0)
        _register(client, "m", 2.0, fragile=True)
    return configured


def test_canary_waits_for_its_alias_then_follows_it_until_it_is_deleted(
    settings: Settings,
) -> None:
    options = _options("models:/m@challenger", canary_weight=1.0)
    with live_server(options, settings) as url, httpx.Client(base_url=url) as http:

        def canary() -> dict[str, Any]:
            return dict(http.get("/version").json()["variants"]["canary"])

        pending = canary()
        before = http.post("/invocations", json=_body(1.0))
        with client_for(settings) as client:
            client.set_alias("m", "challenger", 2)
            _wait(canary, lambda c: c["version"] == "2")
            on_two = [http.post("/invocations", json=_body(1.0)) for _ in range(3)]
            counted = canary()
            client.set_alias("m", "challenger", 3)
            _wait(canary, lambda c: c["version"] == "3")
            moved = canary()
            on_three = http.post("/invocations", json=_body(1.0))
            client.delete_alias("m", "challenger")
            _wait(canary, lambda c: c["pending"])
            after = http.post("/invocations", json=_body(1.0))
            described = http.get("/version").json()

    assert (pending["pending"], pending["version"], pending["weight"]) == (True, None, 0.0)
    assert before.status_code == 200 and before.headers["x-model-variant"] == "primary"
    assert [r.headers["x-model-version"] for r in on_two] == ["2", "2", "2"]
    assert {r.headers["x-model-variant"] for r in on_two} == {"canary"}
    assert (counted["requests"], counted["weight"], counted["pending"]) == (3, 1.0, False)
    assert (moved["requests"], moved["errors"]) == (0, 0)  # counts restart with the version
    assert on_three.headers["x-model-version"] == "3"
    assert after.status_code == 200 and after.headers["x-model-variant"] == "primary"
    assert "canary" not in described and described["primary"]["version"] == "1"
    assert described["variants"]["primary"]["weight"] == 1.0


def test_version_counts_requests_errors_and_rejections_per_variant(settings: Settings) -> None:
    options = _options("models:/m/3", canary_weight=0.5)
    keys = [f"key-{i}" for i in range(40)]
    to_canary = [k for k in keys if choose_canary(k, 0.5)]
    with TestClient(create_serving_app(options, settings)) as server:
        answers = {
            k: server.post("/invocations", json=_body(-1.0), headers={"x-routing-key": k})
            for k in keys
        }
        for key in keys[:10]:  # no column x: refused before the model is called
            bad = {"dataframe_split": {"columns": ["y"], "data": [[1.0]]}}
            server.post("/invocations", json=bad, headers={"x-routing-key": key})
        for key in keys[:10]:
            server.post("/invocations", json=_body(1.0), headers={"x-routing-key": key})
        variants = server.get("/version").json()["variants"]
        metrics = server.get("/metrics").text

    primary, canary = variants["primary"], variants["canary"]
    rejected_on_canary = len([k for k in keys[:10] if k in to_canary])
    assert 0 < len(to_canary) < len(keys)
    assert {k for k, a in answers.items() if a.status_code == 500} == set(to_canary)
    assert {answers[k].headers.get("x-model-variant") for k in keys if k not in to_canary} == {
        "primary"
    }
    assert (canary["version"], canary["weight"], canary["weight_source"]) == ("3", 0.5, "option")
    assert canary["requests"] == len(to_canary) + 2 * rejected_on_canary
    assert canary["errors"] == len(to_canary)
    assert canary["rejected"] == rejected_on_canary
    assert primary["requests"] == len(keys) - len(to_canary) + 2 * (10 - rejected_on_canary)
    assert (primary["errors"], primary["rejected"]) == (0, 10 - rejected_on_canary)
    assert primary["weight"] == 0.5
    assert primary["p50_ms"] is not None and primary["p99_ms"] >= primary["p50_ms"]
    assert canary["p50_ms"] is not None  # its successful answers of positive x
    line = 'modelkeep_serve_variant_requests_total{outcome="error",variant="canary",version="3"}'
    assert f"{line} {float(len(to_canary))}" in metrics


def test_weight_tag_overrides_the_option_and_bad_values_are_ignored(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    options = _options("models:/m/2", canary_weight=0.0)
    caplog.set_level(logging.WARNING, logger="modelkeep.serve")
    with (
        TestClient(create_serving_app(options, settings)) as server,
        client_for(settings) as client,
    ):

        def canary() -> dict[str, Any]:
            return dict(server.get("/version").json()["variants"]["canary"])

        untagged = server.post("/invocations", json=_body(1.0))
        client.store.set_registered_model_tag("m", CANARY_WEIGHT_TAG, "1")
        _wait(canary, lambda c: c["weight"] == 1.0)
        tagged = server.post("/invocations", json=_body(1.0))
        client.store.set_registered_model_tag("m", CANARY_WEIGHT_TAG, "lots")
        _wait(canary, lambda c: c["weight_source"] == "option")
        time.sleep(0.3)  # several more polls read the same bad value
        bad = server.post("/invocations", json=_body(1.0))
        client.store.set_registered_model_tag("m", CANARY_WEIGHT_TAG, "0.25")
        _wait(canary, lambda c: c["weight"] == 0.25)
        quarter = canary()
        client.store.delete_registered_model_tag("m", CANARY_WEIGHT_TAG)
        _wait(canary, lambda c: c["weight_source"] == "option")

    assert untagged.headers["x-model-variant"] == "primary"
    assert tagged.headers["x-model-variant"] == "canary"
    assert bad.headers["x-model-variant"] == "primary"
    assert (quarter["weight_source"], quarter["configured_weight"]) == ("tag", 0.25)
    ignored = [r for r in caplog.records if "'lots'" in r.getMessage()]
    assert len(ignored) == 1


def test_a_tag_present_at_start_applies_to_the_first_request(settings: Settings) -> None:
    with client_for(settings) as client:
        client.store.set_registered_model_tag("m", CANARY_WEIGHT_TAG, "1.0")
    options = _options("models:/m/2", canary_weight=0.0, poll_interval_s=60.0)
    with TestClient(create_serving_app(options, settings)) as server:
        answer = server.post("/invocations", json=_body(1.0))

    assert answer.headers["x-model-variant"] == "canary"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.3", (0.3, "tag")), (" 1 ", (1.0, "tag")), ("0", (0.0, "tag")), (None, (0.1, "option"))]
    + [(bad, (0.1, "option")) for bad in ("1.5", "-0.1", "nan", "inf", "", "ten")],
)
def test_canary_weight_values(raw: str | None, expected: tuple[float, str]) -> None:
    weight = CanaryWeight(0.1, lambda: raw)

    assert (weight.refresh(), weight.source) == expected


def test_an_unreadable_weight_tag_keeps_the_weight_in_force() -> None:
    answers: list[str | None] = ["0.7"]

    def read() -> str | None:
        if not answers:
            raise StoreUnavailableError("the store is down")
        return answers.pop()

    weight = CanaryWeight(0.1, read)

    assert weight.refresh() == 0.7
    assert (weight.refresh(), weight.source) == (0.7, "tag")


def test_only_an_unset_alias_removes_the_canary(settings: Settings) -> None:
    with client_for(settings) as client:
        deployment = load_deployment(client, "models:/m/2", runtime="native", allow_code=True)
    errors: list[Exception] = [
        StoreUnavailableError("the store is down"),
        NotFoundError("Registered model 'm' does not exist", field="name"),
        NotFoundError("Registered model 'm' has no alias 'challenger'", field="alias"),
    ]
    detached: list[Slot] = []

    def resolve(uri: str) -> str:
        raise errors.pop(0)

    def load(uri: str) -> Any:
        raise AssertionError("nothing is loaded")

    slot = Slot("canary", "models:/m@challenger", deployment)
    follow = Follow("canary", slot.uri, slot, optional=True)
    watcher = AliasWatcher(
        [follow], resolve=resolve, load=load, interval_s=1.0, on_detach=detached.append
    )

    async def three_polls() -> list[bool]:
        return [await watcher.check(follow) for _ in range(3)]

    changed = asyncio.run(three_polls())

    assert changed == [False, False, True]
    assert detached == [slot] and follow.slot is None


def test_the_primary_keeps_serving_when_its_alias_is_deleted(settings: Settings) -> None:
    options = _options("models:/m/2")
    with (
        TestClient(create_serving_app(options, settings)) as server,
        client_for(settings) as client,
    ):
        client.delete_alias("m", "champion")
        time.sleep(0.3)
        answer = server.post("/invocations", json=_body(1.0))
        variants = server.get("/version").json()["variants"]

    assert answer.status_code == 200 and variants["primary"]["version"] == "1"


def test_preflight_accepts_a_pending_canary_but_not_an_unknown_model(settings: Settings) -> None:
    check_models_load(_options("models:/m@challenger", tracking_uri=_uri(settings)), settings)

    with pytest.raises(NotFoundError) as caught:
        check_models_load(
            _options("models:/nope@challenger", tracking_uri=_uri(settings)), settings
        )

    assert caught.value.field == "name"


def test_a_canary_of_an_unknown_model_fails_the_start(settings: Settings) -> None:
    app = create_serving_app(_options("models:/nope@challenger"), settings)

    with pytest.raises(NotFoundError), TestClient(app):
        raise AssertionError("the server started")


def _uri(settings: Settings) -> str:
    return settings.resolved_tracking_uri()
