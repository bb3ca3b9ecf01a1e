"""``modelkeep tune CONFIG``: options, output, and errors that name the key."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import Invoke

from modelkeep.entities import RunStatus
from modelkeep.tracking import Client


def classification_config(folder: Path) -> dict[str, Any]:
    """Breast cancer next to the config (a relative path), forest vs logistic, 2 trials."""
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)
    forest = {"model.family": "random_forest"}
    return {
        "task": "classification",
        "data": "cancer.csv",
        "target": "target",
        "model": {"family": "random_forest", "params": {"n_estimators": 5}},
        "split": {"kind": "stratified_kfold", "n_splits": 2},
        "experiment": "cli-tuning",
        "tune": {
            "n_trials": 2,
            "space": {
                "model.family": {"type": "categorical", "choices": ["random_forest", "logistic"]},
                "model.params.max_depth": {"type": "int", "low": 2, "high": 5, "when": forest},
                "model.params.C": {
                    "type": "float",
                    "low": 0.01,
                    "high": 10.0,
                    "log": True,
                    "when": {"model.family": "logistic"},
                },
            },
        },
    }


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "tune.yaml", classification_config(tmp_path))


def test_json_result(cli: Invoke, config_file: Path, client: Client) -> None:
    result = cli("tune", str(config_file), "--study", "cli", "--n-trials", "3", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["study_name"] == "cli" and data["n_trials"] == 3 and data["trials_run"] == 3
    assert set(data["best_params"]) >= {"model.family"}
    assert data["model_uri"].startswith("runs:/")
    assert client.get_run(data["run_id"]).status == RunStatus.FINISHED


def test_table_output_names_the_runs(cli: Invoke, config_file: Path) -> None:
    result = cli("tune", str(config_file), "--study", "people")
    assert result.exit_code == 0, result.stderr
    assert "Study people: best trial" in result.stdout
    assert "Trials: 2 in the study (2 complete); 2 here" in result.stdout
    assert "Refit: run " in result.stdout and "test_roc_auc=" in result.stdout
    assert "runs show" in result.stdout


def test_registered_version_is_printed(cli: Invoke, tmp_path: Path) -> None:
    raw = classification_config(tmp_path)
    raw["register"] = {"name": "cancer"}
    result = cli("tune", str(write_config(tmp_path / "t.yaml", raw)))
    assert result.exit_code == 0, result.stderr
    assert "Registered: models:/cancer/1" in result.stdout


def test_typo_in_the_space_fails_naming_the_key(cli: Invoke, tmp_path: Path) -> None:
    raw = classification_config(tmp_path)
    space = raw["tune"]["space"]
    space["model.params.max_dept"] = space.pop("model.params.max_depth")
    result = cli("tune", str(write_config(tmp_path / "t.yaml", raw)))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: tune.space.model.params.max_dept: ")
    assert "did you mean 'max_depth'" in result.stderr


def test_bad_option_values_are_usage_errors(cli: Invoke, config_file: Path) -> None:
    assert cli("tune", str(config_file), "--jobs", "0").exit_code == 2
    assert cli("tune", str(config_file), "--n-trials", "0").exit_code == 2


def test_resume_of_an_unknown_study(cli: Invoke, config_file: Path) -> None:
    result = cli("tune", str(config_file), "--study", "ghost", "--resume")
    assert result.exit_code == 1
    assert "no study 'ghost'" in result.stderr and "without --resume" in result.stderr


def test_resume_continues_a_study(cli: Invoke, config_file: Path) -> None:
    assert cli("tune", str(config_file), "--study", "r").exit_code == 0
    again = cli("tune", str(config_file), "--study", "r", "--n-trials", "3")
    assert again.exit_code == 1 and "--resume" in again.stderr
    resumed = cli(
        "tune", str(config_file), "--study", "r", "--n-trials", "3", "--resume", "--json"
    )
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["trials_run"] == 1


def test_an_http_store_needs_a_storage_url(cli: Invoke, config_file: Path) -> None:
    from typer.testing import CliRunner

    from modelkeep.cli.app import app

    result = CliRunner().invoke(app, ["--store", "http://127.0.0.1:1", "tune", str(config_file)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: storage: ") and "--storage" in result.stderr


def test_storage_option_puts_the_study_elsewhere(
    cli: Invoke, config_file: Path, tmp_path: Path
) -> None:
    studies = tmp_path / "studies.db"
    result = cli("tune", str(config_file), "--storage", f"sqlite:///{studies}", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(studies) as db:
        assert db.execute("SELECT count(*) FROM trials").fetchone()[0] == 2
    with sqlite3.connect(tmp_path / "mk.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "trials" not in tables and "mk_runs" in tables


def test_jobs_option(cli: Invoke, config_file: Path) -> None:
    result = cli("tune", str(config_file), "--jobs", "2", "--n-trials", "4", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["trials_run"] == data["n_trials"] >= 4
