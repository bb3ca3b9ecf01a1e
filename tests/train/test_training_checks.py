"""Bad configs fail before any run exists; the building blocks tuning uses behave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import modelkeep as mk
from modelkeep.exceptions import InvalidInputError
from modelkeep.train import build_pipeline, cross_validate, load_train_config, prepare_data, train


def _cancer(csv_files: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "classification",
        "data": str(csv_files["breast_cancer"]),
        "target": "target",
        "model": {"family": "logistic"},
        "split": {"kind": "stratified_kfold", "n_splits": 3},
        "experiment": "checks",
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize(
    ("overrides", "field", "named"),
    [
        ({"model": {"family": "svm"}}, "model.family", "random_forest"),
        ({"target": "diagnosis"}, "target", "mean radius"),
        ({"features": ["mean radius", "tumour size"]}, "features", "'tumour size'"),
        ({"metrics": ["precision"]}, "metrics", "roc_auc"),
        ({"metrics": ["r2"]}, "metrics", "regression metric"),
        ({"split": {"kind": "loo"}}, "split.kind", "stratified_kfold"),
        ({"split": {"kind": "stratified_kfold", "nsplits": 3}}, "split.nsplits", "n_splits"),
        ({"model": {"family": "logistic", "params": {"c": 1.0}}}, "model.params.c", "C"),
        ({"data": "missing.csv"}, "data", "not found"),
    ],
)
def test_bad_config_fails_before_any_run_naming_the_key(
    tracking_uri: str,
    csv_files: dict[str, Path],
    overrides: dict[str, Any],
    field: str,
    named: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        train(_cancer(csv_files, **overrides))

    assert caught.value.field == field
    assert named in caught.value.message
    assert list(mk.search_runs()) == []


def test_missing_target_column_names_the_file_and_its_columns(
    tracking_uri: str, csv_files: dict[str, Path]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        prepare_data(_cancer(csv_files, target="label"))

    message = caught.value.message
    assert "'label'" in message and "breast_cancer.csv" in message
    assert "mean radius" in message and "target" in message


def test_prepare_data_splits_and_lists_classes(csv_files: dict[str, Path]) -> None:
    data = prepare_data(_cancer(csv_files, split={"kind": "holdout", "test_size": 0.25}))

    assert len(data.X_train) + len(data.X_test) == len(data.frame) == 569
    assert len(data.X_test) == 143
    assert "target" not in data.X_train.columns and len(data.features) == 30
    assert data.classes == [0, 1]


def test_cross_validate_reports_each_fold_to_on_fold(csv_files: dict[str, Path]) -> None:
    config = load_train_config(_cancer(csv_files, metrics=["accuracy", "log_loss"]))
    data = prepare_data(config)
    pipeline = build_pipeline(config, data=data)
    seen: list[tuple[int, float]] = []

    folds = cross_validate(config, pipeline, data, lambda i, score: seen.append((i, score)))

    assert len(folds) == 3 and set(folds[0]) == {"accuracy", "log_loss"}
    assert seen == [(i, fold["accuracy"]) for i, fold in enumerate(folds)]
    assert not hasattr(pipeline, "classes_")  # the pipeline given stays unfitted


class _Pruned(Exception):
    pass


def test_an_exception_from_on_fold_stops_the_folds(csv_files: dict[str, Path]) -> None:
    config = load_train_config(_cancer(csv_files))
    data = prepare_data(config)
    calls: list[int] = []

    def prune(index: int, score: float) -> None:
        calls.append(index)
        raise _Pruned

    with pytest.raises(_Pruned):
        cross_validate(config, build_pipeline(config, data=data), data, prune)
    assert calls == [0]


def test_build_pipeline_lays_params_over_the_config(csv_files: dict[str, Path]) -> None:
    config = load_train_config(
        _cancer(csv_files, model={"family": "logistic", "params": {"C": 2.0}})
    )
    data = prepare_data(config)

    same = build_pipeline(config, data=data).named_steps["model"]
    tuned = build_pipeline(config, {"max_iter": 50}, data=data).named_steps["model"]
    other = build_pipeline(
        config, {"family": "random_forest", "n_estimators": 7}, data=data
    ).named_steps["model"]

    assert (same.C, tuned.C, tuned.max_iter) == (2.0, 2.0, 50)
    assert isinstance(other, RandomForestClassifier) and other.n_estimators == 7
    with pytest.raises(InvalidInputError) as caught:
        build_pipeline(config, {"max_depth": 3}, data=data)
    assert caught.value.field == "model.params.max_depth"


def test_class_weight_imbalance_sets_balanced_weights(csv_files: dict[str, Path]) -> None:
    config = _cancer(csv_files, cleaning={"imbalance": "class_weight"})

    estimator = build_pipeline(config).named_steps["model"]

    assert estimator.class_weight == "balanced"


def test_oversampling_trains_on_balanced_classes(
    tracking_uri: str, csv_files: dict[str, Path]
) -> None:
    result = train(_cancer(csv_files, cleaning={"imbalance": "oversample"}))

    assert result.metrics["test_balanced_accuracy"] > 0.9


def test_xgboost_refuses_text_labels_before_training(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.9, 1.0] * 5, "label": ["no", "no", "yes", "yes"] * 5})
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = {
        "task": "classification",
        "data": str(tmp_path / "d.csv"),
        "target": "label",
        "model": {"family": "xgboost"},
    }

    with pytest.raises(InvalidInputError) as caught:
        build_pipeline(config)
    assert caught.value.field == "target"
    assert "'no'" in caught.value.message
