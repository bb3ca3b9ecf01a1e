"""Extraction monitoring on the inference server: a client sending uniform-random queries over
the feature ranges is flagged and alerted on, a client sending ordinary rows (held out from the
training data) is not; plus the monitor's PRADA statistic on its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from serve_support import cancer, client_for, settings_for, split_body
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.monitor.alerts import Alert
from modelkeep.monitor.channels import AlertChannel, ChannelSpec, register_channel
from modelkeep.monitor.model_rules import store_alert_rules
from modelkeep.monitor.reference import build_reference, store_reference
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.prada import ExtractionMonitor, FeatureSpace, shapiro_w
from modelkeep.server.auth import create_api_token

ROLES = {"attacker": Role.READER, "analyst": Role.READER, "ops": Role.ADMIN}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    X, y = cancer()
    train, held_out = train_test_split(X, test_size=0.3, random_state=0)
    return train, held_out


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, data: tuple[pd.DataFrame, pd.DataFrame]
) -> tuple[Settings, dict[str, tuple[str, str]]]:
    """A forest trained on the training split, with its reference, and three tokens."""
    settings = settings_for(tmp_path_factory.mktemp("guard-extraction"))
    train, _ = data
    X, y = cancer()
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(train, y[train.index])
    with client_for(settings) as client:
        run = client.create_run(client.get_or_create_experiment("guard").id)
        info = client.log_model(run.id, model, "model", input_example=train.head(5))
        reference = build_reference(train, model.predict(train), task="classification")
        store_reference(client, run.id, reference)
        client.set_terminated(run.id)
        client.register_model(info.uri, "m")
        client.set_alias("m", "champion", 1)
        tokens = {}
        for name, role in ROLES.items():
            token, secret = create_api_token(client.store, name, role)
            tokens[name] = (token.id, secret)
    return settings, tokens


@pytest.fixture
def server(served: tuple[Settings, dict[str, tuple[str, str]]]) -> Iterator[TestClient]:
    settings, _ = served
    options = ServeOptions(
        "models:/m@champion",
        runtime="native",
        auth=True,
        inference_log=False,
        detect_extraction=True,
    )
    with TestClient(create_serving_app(options, settings)) as client:
        yield client


def _send(server: TestClient, secret: str, rows: pd.DataFrame, per_request: int = 10) -> None:
    headers = {"authorization": f"Bearer {secret}"}
    for start in range(0, len(rows), per_request):
        answer = server.post(
            "/invocations",
            json=split_body(rows.iloc[start : start + per_request]),
            headers=headers,
        )
        assert answer.status_code == 200, answer.text


def _uniform(train: pd.DataFrame, n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.uniform(train.min().to_numpy(), train.max().to_numpy(), (n, train.shape[1]))
    return pd.DataFrame(values, columns=train.columns)


def test_uniform_random_queries_are_flagged_and_held_out_rows_are_not(
    server: TestClient,
    served: tuple[Settings, dict[str, tuple[str, str]]],
    data: tuple[pd.DataFrame, pd.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, tokens = served
    train, held_out = data
    caplog.set_level(logging.WARNING, logger="modelkeep.monitor.alerts")

    _send(server, tokens["analyst"][1], held_out)
    _send(server, tokens["attacker"][1], _uniform(train, 150))
    guard = server.get("/guard", headers={"authorization": f"Bearer {tokens['ops'][1]}"})

    assert guard.status_code == 200, guard.text
    extraction = guard.json()["extraction"]
    assert extraction["enabled"] and extraction["reference"]
    attacker, analyst = f"token:{tokens['attacker'][0]}", f"token:{tokens['analyst'][0]}"
    assert extraction["flagged"] == [attacker]
    clients = {c["client"]: c for c in extraction["clients"]}
    assert clients[attacker]["name"] == "attacker"
    assert clients[attacker]["ood_share"] > 0.5
    assert clients[analyst]["flagged"] is False
    assert clients[analyst]["queries"] == len(held_out)
    assert clients[analyst]["w"] >= 0.9
    assert clients[analyst]["ood_share"] < 0.1
    alerts = [r for r in caplog.records if r.name == "modelkeep.monitor.alerts"]
    assert len(alerts) == 1
    assert "client attacker looks like a model extraction attack" in alerts[0].getMessage()
    assert alerts[0].levelno == logging.WARNING


def test_guard_route_needs_an_admin_token(
    server: TestClient, served: tuple[Settings, dict[str, tuple[str, str]]]
) -> None:
    _, tokens = served
    reader = server.get("/guard", headers={"authorization": f"Bearer {tokens['analyst'][1]}"})
    anonymous = server.get("/guard")

    assert (reader.status_code, anonymous.status_code) == (403, 401)


class _Collect(AlertChannel):
    def __init__(self, box: list[Alert], arrived: threading.Event) -> None:
        self.box, self.arrived = box, arrived

    def send(self, alert: Alert) -> None:
        self.box.append(alert)
        self.arrived.set()


def test_a_stored_extraction_rule_sends_the_alert_to_its_channels(
    served: tuple[Settings, dict[str, tuple[str, str]]], data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    settings, tokens = served
    box: list[Alert] = []
    arrived = threading.Event()

    def factory(spec: ChannelSpec) -> AlertChannel:
        return _Collect(box, arrived)

    register_channel("guard-test-collect", factory, replace=True)
    rules = {
        "channels": {"ops": {"type": "guard-test-collect"}},
        "rules": [
            {
                "name": "extraction",
                "metric": "guard.extraction.w",
                "condition": "<",
                "value": 0.9,
                "severity": "critical",
                "channels": ["ops"],
            }
        ],
    }
    with client_for(settings) as client:
        store_alert_rules(client, "m", rules)
    options = ServeOptions(
        "models:/m@champion", runtime="native", auth=True, detect_extraction=True
    )
    try:
        with TestClient(create_serving_app(options, settings)) as server:
            _send(server, tokens["attacker"][1], _uniform(data[0], 100, seed=2), per_request=50)
            assert arrived.wait(30)
    finally:
        with client_for(settings) as client:
            client.store.delete_registered_model_tag("m", "modelkeep.monitor.alert_rules")

    assert [(a.rule, a.model, a.severity) for a in box] == [("extraction", "m", "critical")]
    assert box[0].dedup_key == f"m:extraction:token:{tokens['attacker'][0]}"


def _perturbation_attack(seeds: np.ndarray, n: int, step: np.ndarray) -> list[list[float]]:
    """JbDA-style synthetic queries: small signed steps away from a few seed rows."""
    rng = np.random.default_rng(3)
    queries = [list(row) for row in seeds]
    while len(queries) < n:
        base = np.array(queries[rng.integers(len(queries))])
        queries.append(list(base + step * np.sign(rng.normal(size=len(base)))))
    return queries


def test_monitor_without_reference_flags_perturbation_attacks_by_w(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, held_out = data
    names = list(train.columns)
    monitor = ExtractionMonitor(0.9)
    seeds = train.sample(5, random_state=1).to_numpy()
    attack = _perturbation_attack(seeds, 150, 0.1 * train.std().to_numpy())

    benign = held_out.to_numpy().tolist()
    for start in range(0, len(benign), 10):
        assert monitor.observe("benign", benign[start : start + 10], names) is None
    flagged = [monitor.observe("attack", attack[s : s + 10], names) for s in range(0, 150, 10)]

    verdicts = {v.client: v for v in monitor.verdicts()}
    assert verdicts["benign"].flagged is False
    assert verdicts["benign"].w is not None and verdicts["benign"].w >= 0.9
    assert verdicts["attack"].flagged is True
    assert verdicts["attack"].w is not None and verdicts["attack"].w < 0.6
    assert verdicts["attack"].ood_share is None  # no reference: only the W test
    assert sum(v is not None for v in flagged) == 1  # one alert per client


def test_exact_repeats_are_counted_apart_and_a_constant_series_is_not_normal() -> None:
    monitor = ExtractionMonitor(0.9)
    row = [[1.0, 2.0, 3.0]]
    for _ in range(5):
        monitor.observe("c", row, ["a", "b", "c"])

    (verdict,) = monitor.verdicts()
    assert (verdict.queries, verdict.repeats, verdict.w) == (5, 4, None)
    assert shapiro_w(np.full(60, 0.5)) == 0.0


def test_positional_rows_are_matched_to_the_reference_columns_by_position(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, held_out = data
    space = FeatureSpace.from_reference(train)
    rows = held_out.head(3).to_numpy().tolist()

    by_name = space.encode(rows, list(train.columns))
    by_position = space.encode(rows, [f"x{i}" for i in range(train.shape[1])])

    np.testing.assert_array_equal(by_name[0], by_position[0])
    assert space.radius is not None and space.radius > 0
