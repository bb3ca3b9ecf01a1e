"""``modelkeep audit privacy MODEL_URI``: the attack table, JSON, and errors, on a model
registered in a temporary store named by MODELKEEP_TRACKING_URI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner, Result

from modelkeep.cli import audit
from modelkeep.cli.app import ModelkeepGroup
from modelkeep.config import Settings
from modelkeep.tracking import Client


def _invoke(*args: str) -> Result:
    root = typer.Typer(cls=ModelkeepGroup)
    root.add_typer(audit.app, name="audit")
    return CliRunner().invoke(root, ["audit", *args])


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["label"] = (frame["a"] + rng.normal(0, 1, n) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with ``forest`` v1 registered, and its members and non-members as CSV files."""
    root = tmp_path_factory.mktemp("privacy-cli")
    uri = f"sqlite:///{root / 'mk.db'}"
    members, others = _rows(200, 0), _rows(200, 1)
    settings = Settings(home=root / "home").model_copy(update={"tracking_uri": uri})
    with Client(uri, settings=settings) as client:
        run = client.store.create_run(client.store.get_or_create_experiment("cli").id)
        forest = RandomForestClassifier(n_estimators=20, random_state=0)
        forest.fit(members[["a", "b", "c"]], members["label"])
        info = client.log_model(run.id, forest, input_example=members[["a", "b", "c"]].head(2))
        client.register_model(info.uri, "forest")
    members.to_csv(root / "members.csv", index=False)
    others.to_csv(root / "others.csv", index=False)
    return root, uri


@pytest.fixture
def files(store: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    root, uri = store
    monkeypatch.setenv("MODELKEEP_HOME", str(root / "home"))
    monkeypatch.setenv("MODELKEEP_TRACKING_URI", uri)
    return root / "members.csv", root / "others.csv"


def _args(files: tuple[Path, Path], *extra: str) -> list[str]:
    members, others = files
    return [
        "privacy",
        "models:/forest/1",
        "--members",
        str(members),
        "--non-members",
        str(others),
        "--target",
        "label",
        "--bootstrap",
        "20",
        *extra,
    ]


def test_the_table_and_the_verdict(files: tuple[Path, Path]) -> None:
    result = _invoke(*_args(files, "--reference-models", "2"))
    assert result.exit_code == 0, result.output
    assert "Membership inference" in result.output
    assert "loss" in result.output and "lira_offline" in result.output
    assert "200 members, 100 non-members evaluated; 2 reference models on 100 other rows" in (
        result.output
    )
    assert "FAILED: worst AUC" in result.output


def test_json_and_thresholds(files: tuple[Path, Path]) -> None:
    extra = ("--reference-models", "0", "--max-auc", "1", "--max-advantage", "1", "--json")
    result = _invoke(*_args(files, *extra, "--no-record"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["passed"] is True
    assert list(data["attacks"]) == ["loss"]
    assert data["n_non_members"] == 200


def test_an_unknown_target_is_one_error_line(files: tuple[Path, Path]) -> None:
    members, others = files
    result = _invoke(
        "privacy",
        "models:/forest/1",
        "--members",
        str(members),
        "--non-members",
        str(others),
        "--target",
        "nope",
    )
    assert result.exit_code == 1
    assert "Error: target column 'nope' is not in the members data" in result.output
