"""``modelkeep compress`` through a Typer app holding the command, with the root app's error
handling (the lead registers it in ``modelkeep.cli.app``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from compress_support import classification_table, features, register, store_settings
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner, Result

from modelkeep.cli.app import ModelkeepGroup
from modelkeep.cli.compress import compress_command
from modelkeep.cli.context import CliState
from modelkeep.config import Settings
from modelkeep.tracking import Client


def _app(store_uri: str) -> typer.Typer:
    app = typer.Typer(cls=ModelkeepGroup, pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = CliState(store_uri=store_uri, store_given_on_command_line=True)

    app.command("compress")(compress_command)
    return app


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    monkeypatch.setenv("MODELKEEP_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    settings = store_settings(tmp_path)
    train = classification_table(200, seed=31)
    model = RandomForestClassifier(n_estimators=6, random_state=0)
    model.fit(features(train, "label"), train["label"])
    register(settings, model, features(train, "label"), "forest")
    classification_table(200, seed=32).to_csv(tmp_path / "valid.csv", index=False)
    return settings, tmp_path / "valid.csv"


def _invoke(settings: Settings, *args: str) -> Result:
    app = _app(settings.resolved_tracking_uri())
    return CliRunner().invoke(app, ["compress", *args])


def test_json_without_registering(world: tuple[Settings, Path]) -> None:
    settings, data = world
    answer = _invoke(
        settings,
        "models:/forest/1",
        str(data),
        "--target",
        "label",
        "--family",
        "onnx",
        "--single-row-calls",
        "5",
        "--no-register",
        "--json",
    )
    assert answer.exit_code == 0, answer.output
    found: dict[str, Any] = json.loads(answer.output)
    assert [row["variant"] for row in found["variants"]] == ["original", "onnx"]
    assert found["chosen"] == "onnx" and found["version"] is None
    assert found["metric"] == "accuracy" and found["max_metric_drop"] == 0.005


def test_table_and_registration(world: tuple[Settings, Path]) -> None:
    settings, data = world
    answer = _invoke(
        settings,
        "models:/forest/1",
        str(data),
        "--target",
        "label",
        "--family",
        "onnx",
        "--family",
        "fewer_trees",
        "--max-metric-drop",
        "0",
        "--min-fidelity",
        "1",
        "--single-row-calls",
        "5",
    )
    assert answer.exit_code == 0, answer.output
    assert "trees_3_onnx" in answer.output and "fidelity" in answer.output
    assert "registered forest version 2 (compressed from version 1)" in answer.output
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        tags = client.get_model_version("forest", 2).tags
    assert tags["modelkeep.compress.parent_version"] == "1"


def test_unknown_target_is_one_error_line(world: tuple[Settings, Path]) -> None:
    settings, data = world
    answer = _invoke(settings, "models:/forest/1", str(data), "--target", "churned")
    assert answer.exit_code == 1
    assert "target column 'churned' is not in data" in answer.output
