"""The training config: YAML and dict alike, every mistake named by its dotted key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.train import TrainConfig, load_train_config


def _base(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "classification",
        "data": "data.csv",
        "target": "label",
        "model": {"family": "logistic"},
    }
    config.update(overrides)
    return config


def _error(config: dict[str, Any]) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        load_train_config(config)
    return caught.value


def test_yaml_file_and_dict_give_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(
        "task: regression\n"
        "data: {train: d.csv, test: t.csv}\n"
        "target: y\n"
        "model: {family: random_forest, params: {n_estimators: 5}}\n"
        "split: {kind: kfold, n_splits: 3}\n"
        "metrics: [mae, r2]\n"
        "seed: 7\n"
        "register: {name: houses, alias: candidate}\n"
    )

    from_file = load_train_config(path)
    from_dict = load_train_config(
        {
            "task": "regression",
            "data": {"train": str(tmp_path / "d.csv"), "test": str(tmp_path / "t.csv")},
            "target": "y",
            "model": {"family": "random_forest", "params": {"n_estimators": 5}},
            "split": {"kind": "kfold", "n_splits": 3},
            "metrics": ["mae", "r2"],
            "seed": 7,
            "register": {"name": "houses", "alias": "candidate"},
        }
    )

    assert from_file.model_dump() == from_dict.model_dump()
    assert from_file.register is not None and from_file.register.alias == "candidate"
    assert from_file.to_yaml() == path.read_text()  # the file is stored as written


def test_relative_data_paths_are_read_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "train.yaml"
    path.write_text("task: regression\ndata: d.csv\ntarget: y\nmodel: {family: linear}\n")

    assert load_train_config(path).data.train == str(tmp_path / "sub" / "d.csv")


def test_defaults_fill_metrics_per_task_and_split() -> None:
    classification = load_train_config(_base())
    regression = load_train_config(_base(task="regression", model={"family": "linear"}))

    assert classification.metrics[0] == "roc_auc" and "log_loss" in classification.metrics
    assert regression.metrics == ["rmse", "mae", "r2"]
    assert classification.split.kind == "holdout" and classification.seed == 0


def test_flat_params_name_every_setting_by_dotted_key() -> None:
    config = load_train_config(
        _base(
            model={"family": "random_forest", "params": {"max_depth": 3}},
            cleaning={"clip": {"method": "iqr"}},
            split={"kind": "stratified_kfold", "n_splits": 3},
            register={"name": "churn"},
        )
    )

    flat = config.flat_params()

    assert flat["model.family"] == "random_forest"
    assert flat["model.params.max_depth"] == "3"
    assert flat["split.kind"] == "stratified_kfold" and flat["split.n_splits"] == "3"
    assert flat["cleaning.clip.method"] == "iqr"
    assert flat["register.name"] == "churn"
    assert flat["metrics"] == "roc_auc,accuracy,balanced_accuracy,f1,log_loss"


def test_unknown_model_family_lists_the_known_ones() -> None:
    error = _error(_base(model={"family": "svm"}))

    assert error.field == "model.family"
    assert "'svm'" in error.message
    for family in ("logistic", "random_forest", "hist_gradient_boosting", "gradient_descent"):
        assert family in error.message


def test_family_of_the_other_task_is_refused() -> None:
    error = _error(_base(model={"family": "gradient_descent"}))

    assert error.field == "model.family"
    assert "does not do classification" in error.message


def test_typo_in_a_key_names_the_key_and_suggests_the_right_one() -> None:
    error = _error(_base(model={"famly": "logistic"}))

    assert error.field == "model.famly"
    assert "did you mean 'family'" in error.message


def test_unknown_top_level_key() -> None:
    error = _error(_base(seeds=3))

    assert error.field == "seeds"
    assert "expected one of" in error.message and "seed" in error.message


def test_missing_required_key() -> None:
    config = _base()
    del config["target"]

    assert _error(config).field == "target"


def test_unknown_metric_lists_the_known_ones() -> None:
    error = _error(_base(metrics=["auc"]))

    assert error.field == "metrics"
    assert "'auc'" in error.message and "roc_auc" in error.message


def test_metric_of_the_other_task_is_refused() -> None:
    error = _error(_base(metrics=["accuracy", "rmse"]))

    assert error.field == "metrics"
    assert "'rmse' is a regression metric" in error.message


def test_unknown_split_kind_lists_the_kinds() -> None:
    error = _error(_base(split={"kind": "bootstrap"}))

    assert error.field == "split.kind"
    assert "holdout" in error.message and "stratified_kfold" in error.message


def test_stratified_split_needs_classes() -> None:
    error = _error(
        _base(task="regression", model={"family": "linear"}, split={"kind": "stratified_kfold"})
    )

    assert error.field == "split.kind"


def test_time_split_needs_a_time_column() -> None:
    assert _error(_base(split={"kind": "time"})).field == "split.time_column"


@pytest.mark.parametrize(
    ("split", "field"),
    [({"test_size": 1.5}, "split.test_size"), ({"n_splits": 1}, "split.n_splits")],
)
def test_split_numbers_are_range_checked(split: dict[str, Any], field: str) -> None:
    assert _error(_base(split=split)).field == field


def test_unknown_model_parameter_is_named() -> None:
    error = _error(_base(model={"family": "random_forest", "params": {"n_trees": 5}}))

    assert error.field == "model.params.n_trees"
    assert "n_estimators" in error.message  # the parameters it does take


def test_out_of_range_model_parameter_is_named() -> None:
    error = _error(_base(model={"family": "logistic", "params": {"C": -1.0}}))

    assert error.field == "model.params.C"


def test_bad_cleaning_key_is_named() -> None:
    assert _error(_base(cleaning={"encode": "hashing"})).field == "cleaning.encode"


def test_class_weight_needs_a_family_that_takes_it() -> None:
    error = _error(_base(model={"family": "xgboost"}, cleaning={"imbalance": "class_weight"}))

    assert error.field == "cleaning.imbalance"
    assert "oversample" in error.message


def test_imbalance_is_for_classification_only() -> None:
    config = _base(
        task="regression", model={"family": "linear"}, cleaning={"imbalance": "oversample"}
    )

    assert _error(config).field == "cleaning.imbalance"


def test_wrong_value_type_names_the_key() -> None:
    error = _error(_base(task="clustering"))

    assert error.field == "task"
    assert "classification" in error.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="config file not found") as caught:
        load_train_config(tmp_path / "nope.yaml")
    assert caught.value.field == "config"


def test_config_file_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: [unclosed\n")

    with pytest.raises(InvalidInputError, match="not valid YAML") as caught:
        load_train_config(path)
    assert caught.value.field == "config"


def test_a_checked_config_passes_through() -> None:
    config = load_train_config(_base())

    assert load_train_config(config) is config
    assert isinstance(config, TrainConfig)
    assert config.primary_metric == "roc_auc"
