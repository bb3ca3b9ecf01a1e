"""Fixtures for CLI tests: a fresh SQLite store per test and a runner that targets it.

The environment is cleared of ``MODELKEEP_*`` store settings and ``MODELKEEP_HOME`` points into
the test's temporary folder, so no test can touch a developer's ``./.modelkeep``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Invoke, Seeded
from typer.testing import CliRunner, Result

from modelkeep.cli.app import app
from modelkeep.config import Settings
from modelkeep.entities import DatasetInput, Metric, Param, RunTag, now_ms
from modelkeep.tracking import Client


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MODELKEEP_TRACKING_URI",
        "MODELKEEP_TRACKING_TOKEN",
        "MODELKEEP_ARTIFACT_ROOT",
        "MODELKEEP_EXPERIMENT_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELKEEP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mk.db'}"


@pytest.fixture
def cli(store_uri: str) -> Invoke:
    """Run ``modelkeep --store <tmp store> ARGS...`` in-process."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["--store", store_uri, *args])

    return invoke


@pytest.fixture
def client(store_uri: str) -> Iterator[Client]:
    """A library client on the same store (and artifact root) the CLI uses."""
    settings = Settings().model_copy(update={"tracking_uri": store_uri})
    with Client(store_uri, settings=settings) as opened:
        yield opened


@pytest.fixture
def seeded(client: Client) -> Seeded:
    """Experiment ``churn`` with runs a (acc 0.7), b (acc 0.9), c (acc 0.8), and
    experiment ``other`` with run d; run b has params, tags, a dataset and artifacts."""
    churn = client.create_experiment("churn").id
    other = client.create_experiment("other").id
    ids: dict[str, str] = {}
    for name, exp, acc, lr in (
        ("a", churn, 0.7, "0.01"),
        ("b", churn, 0.9, "0.1"),
        ("c", churn, 0.8, "0.1"),
        ("d", other, 0.5, "1.0"),
    ):
        run = client.create_run(exp, run_name=name)
        ids[name] = run.id
        client.log_batch(
            run.id,
            metrics=[Metric("acc", acc, 0, now_ms()), Metric("loss", 1 - acc, 0, now_ms())],
            params=[Param("lr", lr)],
            tags=[RunTag("team", "a" if name != "c" else "b")],
        )
        client.set_terminated(run.id)
    client.log_inputs(
        ids["b"], [DatasetInput("train", "ab" * 32, "train.csv", {}, 10, "training")]
    )
    client.log_bytes(ids["b"], b'{"w": 1}', "model/weights.json")
    client.log_bytes(ids["b"], b"hello", "notes.txt")
    return Seeded(churn, ids)
