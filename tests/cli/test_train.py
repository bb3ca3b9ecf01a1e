"""``modelkeep train CONFIG``: trains into the store given with --store; bad configs exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_support import Invoke
from sklearn.datasets import load_diabetes

from modelkeep.tracking import Client


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / "diabetes.csv", index=False)
    path = tmp_path / "train.yaml"
    path.write_text(
        "task: regression\n"
        "data: diabetes.csv\n"
        "target: target\n"
        "model: {family: linear}\n"
        "split: {kind: kfold, n_splits: 3}\n"
        "experiment: diabetes\n"
        "register: {name: diabetes, alias: candidate}\n"
    )
    return path


def test_train_json_reports_the_run_and_the_registered_version(
    cli: Invoke, client: Client, config_file: Path
) -> None:
    result = cli("train", str(config_file), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["version"] == 1
    assert report["model_uri"] == f"runs:/{report['run_id']}/model"
    assert 0.3 < report["metrics"]["test_r2"] < 0.7
    run = client.get_run(report["run_id"])
    assert run.metrics["test_r2"] == report["metrics"]["test_r2"]
    assert client.store.get_model_version_by_alias("diabetes", "candidate").run_id == run.id


def test_train_prints_metrics_and_where_the_model_is(cli: Invoke, config_file: Path) -> None:
    result = cli("train", str(config_file))

    assert result.exit_code == 0, result.output
    assert "test_rmse" in result.stdout and "cv_r2_mean" in result.stdout
    assert "Registered: models:/diabetes/1 (alias 'candidate')" in result.stdout
    assert "runs show" in result.stdout


def test_bad_config_is_one_error_line_naming_the_key(
    cli: Invoke, client: Client, config_file: Path
) -> None:
    config_file.write_text(config_file.read_text().replace("family: linear", "family: svm"))

    result = cli("train", str(config_file))

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: model.family: unknown model family 'svm'")
    assert client.get_experiment_by_name("diabetes") is None


def test_missing_target_column_lists_the_columns(cli: Invoke, config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace("target: target", "target: y"))

    result = cli("train", str(config_file))

    assert result.exit_code == 1
    columns = pd.read_csv(config_file.parent / "diabetes.csv").columns
    assert "'y'" in result.stderr and all(name in result.stderr for name in columns[:3])
