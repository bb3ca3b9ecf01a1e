"""``train(config)`` end to end on a real SQLite store: what one run records, registration,
reproducibility. Small models so each training takes well under two seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelkeep as mk
from modelkeep.entities import RunStatus
from modelkeep.tracking import Client
from modelkeep.train import train


@pytest.fixture
def client(tracking_uri: str) -> Iterator[Client]:
    with Client(tracking_uri) as opened:
        yield opened


def _artifacts(client: Client, run_id: str) -> set[str]:
    return {record.path for record in client.list_artifacts(run_id)}


def _write_yaml(path: Path, config: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_breast_cancer_run_records_params_metrics_data_plots_and_model(
    tracking_uri: str, client: Client, csv_files: dict[str, Path], tmp_path: Path
) -> None:
    path = _write_yaml(
        tmp_path / "train.yaml",
        {
            "task": "classification",
            "data": str(csv_files["breast_cancer"]),
            "target": "target",
            "model": {"family": "logistic", "params": {"C": 0.5}},
            "split": {"kind": "stratified_kfold", "n_splits": 3, "test_size": 0.25},
            "seed": 1,
            "experiment": "cancer",
            "run_name": "logistic-baseline",
        },
    )

    result = train(path)

    run = mk.get_run(result.run_id)
    assert run.status == RunStatus.FINISHED and run.name == "logistic-baseline"
    assert run.tags["modelkeep.task"] == "classification"
    assert run.tags["modelkeep.family"] == "logistic"
    assert run.params["model.params.C"] == "0.5"
    assert run.params["split.kind"] == "stratified_kfold" and run.params["seed"] == "1"
    assert result.metrics["test_roc_auc"] > 0.95
    assert result.metrics["test_roc_auc"] == run.metrics["test_roc_auc"]
    assert set(result.metrics) == {
        f"{where}_{name}"
        for name in ("roc_auc", "accuracy", "balanced_accuracy", "f1", "log_loss")
        for where in ("test",)
    } | {f"cv_{n}_mean" for n in ("roc_auc", "accuracy", "balanced_accuracy", "f1", "log_loss")}
    for name in ("wall_time_s", "cpu_time_s", "peak_memory_mb"):
        assert run.metrics[name] > 0
    folds = mk.get_metric_history(result.run_id, "cv_roc_auc")
    assert [point.step for point in folds] == [0, 1, 2]
    assert run.metrics["cv_roc_auc_mean"] == pytest.approx(np.mean([p.value for p in folds]))

    artifacts = _artifacts(client, result.run_id)
    assert {
        "config.yaml",
        "data_profile.json",
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "plots/feature_importance.png",
    } <= artifacts
    assert "plots/residuals.png" not in artifacts
    assert client.read_artifact(result.run_id, "config.yaml") == path.read_bytes()
    assert client.read_artifact(result.run_id, "plots/roc_curve.png").startswith(b"\x89PNG")

    profile = json.loads(client.read_artifact(result.run_id, "data_profile.json"))
    (dataset,) = run.inputs
    assert (dataset.name, dataset.context) == ("train", "training")
    assert dataset.digest == profile["digest"]
    assert profile["n_rows"] == 569

    assert result.model_uri == f"runs:/{result.run_id}/model"
    loaded = mk.load_model(result.model_uri)  # no allow_code: a safe, allowlisted package
    frame = pd.read_csv(csv_files["breast_cancer"])
    predicted = loaded.predict(frame.drop(columns="target").head(20))
    assert set(np.asarray(predicted).tolist()) <= {0, 1}
    assert loaded.signature is not None
    assert result.version is None


def _wine(csv_files: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "classification",
        "data": str(csv_files["wine"]),
        "target": "target",
        "model": {"family": "random_forest", "params": {"n_estimators": 10, "max_depth": 4}},
        "split": {"kind": "kfold", "n_splits": 3},
        "metrics": ["accuracy", "roc_auc", "f1"],
        "experiment": "wine",
    }
    config.update(overrides)
    return config


def test_wine_multiclass_is_registered_under_its_name_and_alias(
    tracking_uri: str, csv_files: dict[str, Path]
) -> None:
    register = {"name": "wine", "alias": "champion", "description": "three cultivars"}

    first = train(_wine(csv_files, register=register))
    second = train(_wine(csv_files, register=register))

    assert (first.version, second.version) == (1, 2)
    assert mk.get_registered_model("wine").description == "three cultivars"
    champion = mk.load_model("models:/wine@champion")
    assert champion.version is not None and champion.version.version == 2
    frame = pd.read_csv(csv_files["wine"]).drop(columns="target")
    assert set(np.asarray(champion.predict(frame)).tolist()) == {0, 1, 2}
    assert first.metrics["test_accuracy"] > 0.8
    assert list(first.metrics)[:3] == ["test_accuracy", "test_roc_auc", "test_f1"]


def test_same_config_and_seed_reproduce_the_same_metrics(
    tracking_uri: str, csv_files: dict[str, Path]
) -> None:
    config = _wine(csv_files, model={"family": "random_forest", "params": {"n_estimators": 5}})

    first, second = train(config), train(config)

    assert first.run_id != second.run_id
    assert first.metrics == second.metrics
    folds = [
        [p.value for p in mk.get_metric_history(result.run_id, "cv_accuracy")]
        for result in (first, second)
    ]
    assert folds[0] == folds[1] and len(folds[0]) == 3


def test_diabetes_gradient_descent_logs_its_loss_per_iteration(
    tracking_uri: str, client: Client, csv_files: dict[str, Path]
) -> None:
    config = {
        "task": "regression",
        "data": str(csv_files["diabetes"]),
        "target": "target",
        "model": {
            "family": "gradient_descent",
            "params": {"learning_rate": 0.1, "max_iter": 400, "tol": 0},
        },
        "split": {"kind": "kfold", "n_splits": 3},
    }

    result = train(config)

    losses = mk.get_metric_history(result.run_id, "gd_loss")
    assert [p.step for p in losses] == list(range(400))
    assert losses[-1].value < losses[0].value
    assert 0.3 < result.metrics["test_r2"] < 0.7
    assert set(result.metrics) == {
        "test_rmse",
        "test_mae",
        "test_r2",
        "cv_rmse_mean",
        "cv_mae_mean",
        "cv_r2_mean",
    }
    artifacts = _artifacts(client, result.run_id)
    assert {"plots/residuals.png", "plots/feature_importance.png"} <= artifacts
    assert "plots/confusion_matrix.png" not in artifacts
    # The regressor is on the allowlist, so its package loads without allow_code.
    model = mk.load_model(result.model_uri)
    frame = pd.read_csv(csv_files["diabetes"]).drop(columns="target")
    assert np.asarray(model.predict(frame.head(3))).shape == (3,)


def test_separate_test_file_is_logged_as_an_evaluation_input(
    tracking_uri: str, csv_files: dict[str, Path], tmp_path: Path
) -> None:
    frame = pd.read_csv(csv_files["diabetes"])
    frame.iloc[:350].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[350:].to_csv(tmp_path / "test.csv", index=False)
    path = _write_yaml(
        tmp_path / "train.yaml",
        {
            "task": "regression",
            "data": {"train": "train.csv", "test": "test.csv"},  # next to the config file
            "target": "target",
            "model": {"family": "linear"},
        },
    )

    result = train(path)

    inputs = {d.name: d for d in mk.get_run(result.run_id).inputs}
    assert (inputs["train"].num_rows, inputs["test"].num_rows) == (350, 92)
    assert inputs["test"].context == "evaluation"


def test_time_split_with_messy_data_trains_and_serves(tracking_uri: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=rows, freq="D").astype(str),
            "usage": rng.normal(10, 3, rows),
            "plan": rng.choice(["basic", "pro", "team", "rare"], rows, p=[0.5, 0.3, 0.19, 0.01]),
        }
    )
    frame["churned"] = ((frame["usage"] < 9) | (frame["plan"] == "basic")).astype(int)
    frame.loc[::17, "usage"] = np.nan
    frame.loc[5, "usage"] = 1e6  # an outlier to clip
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)  # duplicates
    frame.to_csv(tmp_path / "churn.csv", index=False)
    config = {
        "task": "classification",
        "data": str(tmp_path / "churn.csv"),
        "target": "churned",
        "cleaning": {
            "clip": "iqr",
            "rare": 0.05,
            "drop_duplicates": True,
            "imbalance": "class_weight",
        },
        "model": {"family": "hist_gradient_boosting", "params": {"max_iter": 20}},
        "split": {"kind": "time", "time_column": "day", "n_splits": 3},
        "metrics": ["balanced_accuracy", "roc_auc"],
    }

    result = train(config)

    run = mk.get_run(result.run_id)
    assert run.params["cleaning.imbalance"] == "class_weight"
    assert "duplicates" in run.tags["modelkeep.data_problems"]
    assert result.metrics["test_balanced_accuracy"] > 0.7
    model = mk.load_model(result.model_uri)  # the cleaning transformers are allowlisted
    unseen = pd.DataFrame({"usage": [np.nan, 3.0], "plan": ["never-seen", "pro"]})
    assert np.asarray(model.predict(unseen)).shape == (2,)
