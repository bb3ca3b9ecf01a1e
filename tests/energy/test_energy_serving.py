"""The inference server's CPU seconds and estimated energy per 1,000 predictions, in
``GET /version`` and as Prometheus gauges (Starlette's TestClient runs the app in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.energy import ServingEnergy, estimate_energy
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, rows: pd.DataFrame) -> Settings:
    """A store holding ``m`` version 1 (a logistic regression) as ``champion``."""
    home: Path = tmp_path_factory.mktemp("energy-serve")
    settings = Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )
    model = LogisticRegression().fit(rows, (rows["a"] > 0).astype(int))
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        run = client.create_run(client.get_or_create_experiment("serving").id)
        info = client.log_model(run.id, model, "model", input_example=rows.head(3))
        client.set_terminated(run.id)
        client.register_model(info.uri, "m")
        client.set_alias("m", "champion", 1)
    return settings


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("MODELKEEP_ENERGY_COUNTRY", "FRA")
    options = ServeOptions("models:/m@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as client:
        yield client


def _split(frame: pd.DataFrame) -> dict[str, object]:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}


def test_version_reports_energy_per_1000_predictions(
    server: TestClient, rows: pd.DataFrame
) -> None:
    before = server.get("/version").json()["energy"]
    for start in range(0, 100, 10):
        assert server.post("/invocations", json=_split(rows.iloc[start : start + 10])).is_success

    energy = server.get("/version").json()["energy"]

    assert before["predictions"] == 0 and before["energy_kwh_per_1k_predictions"] is None
    assert energy["predictions"] == 100
    assert energy["cpu_seconds"] > 0
    per_1k = energy["cpu_seconds_per_1k_predictions"]
    assert per_1k == pytest.approx(energy["cpu_seconds"] / 100 * 1000)
    expected = estimate_energy(per_1k, country="FRA", watts_per_core=energy["watts_per_core"])
    assert energy["energy_kwh_per_1k_predictions"] == pytest.approx(expected.energy_kwh)
    assert energy["co2_kg_per_1k_predictions"] == pytest.approx(expected.co2_kg)
    assert (energy["method"], energy["country"]) == ("estimate", "FRA")


def test_prometheus_exposes_the_per_1000_gauges(server: TestClient, rows: pd.DataFrame) -> None:
    server.post("/invocations", json=_split(rows.head(20)))

    lines = server.get("/metrics").text.splitlines()

    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in lines
        if line.startswith("modelkeep_serve_") and "_per_1k_predictions " in line
    }
    assert values["modelkeep_serve_cpu_seconds_per_1k_predictions"] > 0
    assert values["modelkeep_serve_energy_kwh_per_1k_predictions"] > 0


def test_serving_energy_counts_predictions_against_cpu_time() -> None:
    energy = ServingEnergy("USA", watts_per_core=10.0)
    assert np.isnan(energy.cpu_seconds_per_1k())

    energy.observe(400)
    energy.observe(600)
    sum(range(200_000))

    snapshot = energy.snapshot()
    assert snapshot["predictions"] == energy.predictions == 1000
    assert snapshot["cpu_seconds"] > 0
    assert snapshot["cpu_seconds_per_1k_predictions"] == pytest.approx(snapshot["cpu_seconds"])
    assert energy.energy_kwh_per_1k() > 0
