"""Energy recorded where the work happens: a training run, a tuning study's parent run, batch
scoring (no run: the summary and ``modelkeep predict`` say it), and the versions of a model
compared side by side."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelkeep as mk
from modelkeep.energy import (
    ENERGY_METRICS,
    TAG_ENERGY_COUNTRY,
    TAG_ENERGY_METHOD,
    compare_versions,
    prepare_codecarbon,
)
from modelkeep.exceptions import NotFoundError
from modelkeep.serve.batch import score_file
from modelkeep.tracking import Client, fluent
from modelkeep.train import train

METHODS = {"codecarbon", "codecarbon-estimate", "estimate"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("energy-runs")


@pytest.fixture(scope="module")
def uri(home: Path) -> Iterator[str]:
    """A fresh SQLite store that the fluent API points at, for this module."""
    prepare_codecarbon()  # measured by codecarbon from the first second
    uri = f"sqlite:///{home / 'mk.db'}"
    mk.set_tracking_uri(uri)
    yield uri
    fluent.reset()
    mk.set_tracking_uri(None)


@pytest.fixture(scope="module")
def data(home: Path) -> Path:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(240, 3)), columns=["a", "b", "c"])
    frame["target"] = (frame["a"] - frame["b"] > 0).astype(int)
    path = home / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _config(data: Path, family: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": "classification",
        "data": str(data),
        "target": "target",
        "model": {"family": family, "params": params},
        "split": {"kind": "stratified_kfold", "n_splits": 2, "test_size": 0.25},
        "metrics": ["roc_auc"],
        "experiment": "energy",
        "register": {"name": "scorer"},
    }


@pytest.fixture(scope="module")
def trained(uri: str, data: Path) -> list[str]:
    """Two versions of ``scorer``: a logistic regression, then a small forest; their runs."""
    first = train(_config(data, "logistic", {"C": 1.0}))
    second = train(_config(data, "random_forest", {"n_estimators": 10, "max_depth": 3}))
    return [first.run_id, second.run_id]


@pytest.fixture
def client(uri: str) -> Iterator[Client]:
    with Client(uri) as opened:
        yield opened


def test_a_training_run_records_its_energy(trained: list[str], client: Client) -> None:
    run = client.get_run(trained[0])

    for name in ENERGY_METRICS:
        assert run.metrics[name] > 0, name
    assert run.tags[TAG_ENERGY_METHOD] in METHODS and run.tags[TAG_ENERGY_COUNTRY] == "USA"
    assert run.metrics["wall_time_s"] == run.metrics["wall_seconds"]  # earlier releases' names
    recorded = json.loads(client.read_artifact(run.id, "energy.json"))
    assert recorded["energy_kwh"] == run.metrics["energy_kwh"]
    assert recorded["method"] == run.tags[TAG_ENERGY_METHOD]
    assert recorded["carbon_intensity_g_per_kwh"] == pytest.approx(
        run.metrics["co2_kg"] / run.metrics["energy_kwh"] * 1000
    )


def test_versions_are_compared_side_by_side(trained: list[str], client: Client) -> None:
    table = compare_versions(client, "scorer")

    assert table["version"].tolist() == [1, 2]
    assert table["run_id"].tolist() == trained
    assert (table["energy_kwh"] > 0).all() and (table["co2_kg"] > 0).all()
    assert set(table["method"]) <= METHODS
    assert table["study_energy_kwh"].isna().all()  # trained directly, not refit from a study


def test_comparing_an_unknown_model_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        compare_versions(client, "nope")


def test_a_tuning_studys_parent_run_records_the_whole_studys_energy(
    uri: str, data: Path, client: Client
) -> None:
    from modelkeep.tune import tune

    config = _config(data, "logistic", {"C": 1.0})
    config["register"] = {"name": "tuned"}
    config["tune"] = {
        "n_trials": 2,
        "sampler": "random",
        "space": {"model.params.C": {"type": "float", "low": 0.1, "high": 10.0, "log": True}},
    }

    result = tune(config, tracking_uri=uri, progress=False)

    parent = client.get_run(result.run_id)
    assert result.refit_run_id is not None
    refit = client.get_run(result.refit_run_id)
    assert parent.tags[TAG_ENERGY_METHOD] in METHODS
    assert parent.metrics["energy_kwh"] > refit.metrics["energy_kwh"] > 0  # trials + refit
    assert parent.metrics["cpu_seconds"] > refit.metrics["cpu_seconds"]
    assert json.loads(client.read_artifact(parent.id, "energy.json"))["co2_kg"] > 0
    (row,) = compare_versions(client, "tuned").to_dict("records")
    assert row["study_energy_kwh"] == parent.metrics["energy_kwh"]
    assert row["energy_kwh"] == refit.metrics["energy_kwh"]


def test_batch_scoring_returns_its_energy(trained: list[str], data: Path, home: Path) -> None:
    model = mk.load_model(f"runs:/{trained[0]}/model")
    source = home / "rows.csv"
    pd.read_csv(data).drop(columns="target").to_csv(source, index=False)

    summary = score_file(model, source, home / "scores.parquet")

    assert summary.energy is not None
    assert summary.energy.method in METHODS and summary.energy.energy_kwh > 0
    reported = json.loads(json.dumps(summary.to_dict()))["energy"]
    assert reported["cpu_seconds"] == summary.energy.cpu_seconds
    assert not math.isnan(reported["peak_memory_mb"])


def test_modelkeep_predict_prints_the_energy(uri: str, data: Path, home: Path) -> None:
    from modelkeep.cli.app import app

    source = home / "rows-cli.csv"
    pd.read_csv(data).drop(columns="target").head(50).to_csv(source, index=False)
    output = home / "scores-cli.csv"

    result = CliRunner().invoke(
        app, ["--store", uri, "predict", "models:/scorer/1", str(source), "-o", str(output)]
    )

    assert result.exit_code == 0, result.output
    assert "Wrote 50 predictions" in result.stdout
    assert "kWh" in result.stdout and "kg CO2e" in result.stdout
