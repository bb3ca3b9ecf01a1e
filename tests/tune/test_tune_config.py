"""The tune config: a train config plus ``tune:``, every mistake named by its dotted key."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from tune_support import (
    classification_config,
    regression_config,
    write_breast_cancer,
    write_config,
    write_diabetes,
)

from modelkeep.exceptions import InvalidInputError
from modelkeep.tune import TuneConfig, load_tune_config


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return classification_config(tmp_path / "missing-is-fine-here.csv")


def _error(config: dict[str, Any]) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(config)
    return caught.value


def test_yaml_file_loads_with_data_relative_to_the_file(tmp_path: Path) -> None:
    write_breast_cancer(tmp_path)
    raw = classification_config(Path("breast_cancer.csv"))
    loaded = load_tune_config(write_config(tmp_path / "tune.yaml", raw))
    assert isinstance(loaded, TuneConfig)
    assert loaded.train.data.train == str(tmp_path / "breast_cancer.csv")
    assert loaded.text is not None and "tune:" in loaded.text
    assert [p.name for p in loaded.space][0] == "model.family"  # unconditional first


def test_metric_and_direction_default_from_the_train_metrics(config: dict[str, Any]) -> None:
    loaded = load_tune_config(config)
    assert (loaded.metric, loaded.direction) == ("roc_auc", "maximize")
    regression = load_tune_config(regression_config(Path("d.csv")))
    assert (regression.metric, regression.direction) == ("rmse", "minimize")


def test_tuned_metric_becomes_the_first_cross_validated_metric(config: dict[str, Any]) -> None:
    config["tune"]["metric"] = "log_loss"
    loaded = load_tune_config(config)
    assert loaded.direction == "minimize"
    assert loaded.train.metrics == ["log_loss", "roc_auc", "accuracy"]


def test_seed_defaults_to_the_config_seed(config: dict[str, Any]) -> None:
    assert load_tune_config(config).seed == 7
    config["tune"]["seed"] = 11
    assert load_tune_config(config).seed == 11


def test_typo_in_a_searched_parameter_names_the_key(config: dict[str, Any]) -> None:
    config["tune"]["space"]["model.params.max_dept"] = config["tune"]["space"].pop(
        "model.params.max_depth"
    )
    error = _error(config)
    assert error.field == "tune.space.model.params.max_dept"
    assert "did you mean 'max_depth'" in error.message
    assert error.message.startswith("tune.space.model.params.max_dept:")


def test_parameter_of_one_family_needs_a_when(config: dict[str, Any]) -> None:
    del config["tune"]["space"]["model.params.C"]["when"]
    error = _error(config)
    assert error.field == "tune.space.model.params.C"
    assert "RandomForestClassifier" in error.message and "when" in error.message


def test_parameter_of_the_fixed_family_is_checked(tmp_path: Path) -> None:
    config = regression_config(tmp_path / "d.csv")
    config["tune"]["space"] = {"model.params.C": {"type": "float", "low": 0.1, "high": 1.0}}
    assert _error(config).field == "tune.space.model.params.C"


@pytest.mark.parametrize(
    ("where", "key", "field"),
    [
        ((), "n_trial", "tune.n_trial"),
        (("space", "model.params.max_depth"), "hi", "tune.space.model.params.max_depth.hi"),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(
    config: dict[str, Any], where: tuple[str, ...], key: str, field: str
) -> None:
    section = config["tune"]
    for part in where:
        section = section[part]
    section[key] = 1
    error = _error(config)
    assert error.field == field
    assert "unknown key" in error.message


def test_only_model_keys_can_be_searched(config: dict[str, Any]) -> None:
    config["tune"]["space"]["split.n_splits"] = {"type": "int", "low": 2, "high": 4}
    error = _error(config)
    assert error.field == "tune.space.split.n_splits"
    assert "model.family" in error.message


def test_unknown_family_choice_is_named(config: dict[str, Any]) -> None:
    config["tune"]["space"]["model.family"]["choices"] = ["random_forest", "deep_forest"]
    error = _error(config)
    assert error.field == "tune.space.model.family.choices"
    assert "deep_forest" in error.message


def test_condition_must_name_a_choice_of_a_categorical(config: dict[str, Any]) -> None:
    space = config["tune"]["space"]
    space["model.params.C"]["when"] = {"model.family": "svm"}
    assert _error(config).field == "tune.space.model.params.C.when.model.family"
    space["model.params.C"]["when"] = {"model.params.max_depth": 3}
    assert _error(config).field == "tune.space.model.params.C.when.model.params.max_depth"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "low"),
        ({"type": "int", "low": 5, "high": 2}, ""),
        ({"type": "int", "low": 1, "high": 9, "step": 0}, "step"),
        ({"type": "float", "low": 1.0, "high": 9.0, "log": True, "step": 1.0}, "step"),
        ({"type": "int", "low": 1.5, "high": 3}, ""),
        ({"type": "int", "high": 3}, ""),
        ({"type": "categorical", "choices": []}, ""),
        ({"type": "categorical", "choices": [1, 2], "low": 1}, "low"),
        ({"type": "float", "low": 1, "high": 2, "choices": [1]}, "choices"),
    ],
)
def test_bad_range_is_named(config: dict[str, Any], spec: dict[str, Any], field: str) -> None:
    space = config["tune"]["space"]
    space["model.params.max_depth"] = {**spec, "when": {"model.family": "random_forest"}}
    expected = "tune.space.model.params.max_depth" + (f".{field}" if field else "")
    assert _error(config).field == expected


def test_a_budget_is_required_unless_given_as_an_override(config: dict[str, Any]) -> None:
    del config["tune"]["n_trials"]
    assert _error(config).field == "tune.n_trials"
    assert load_tune_config(config, overrides={"n_trials": 3}).settings.n_trials == 3
    assert load_tune_config(config, overrides={"timeout": 5}).settings.timeout == 5


def test_overrides_are_checked_like_the_file(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(config, overrides={"jobs": 0})
    assert caught.value.field == "tune.jobs"


def test_overrides_apply_to_a_checked_config(config: dict[str, Any]) -> None:
    loaded = load_tune_config(config)
    again = load_tune_config(loaded, overrides={"study": "other"})
    assert again.settings.study == "other" and loaded.settings.study is None
    assert load_tune_config(loaded) is loaded


def test_grid_values_and_float_step(config: dict[str, Any]) -> None:
    config["tune"].update(sampler="grid")
    config["tune"].pop("n_trials")
    assert _error(config).field == "tune.space.model.params.C.step"
    config["tune"]["space"]["model.params.C"] = {
        "type": "float",
        "low": 0.5,
        "high": 1.5,
        "step": 0.5,
        "when": {"model.family": "logistic"},
    }
    grid = load_tune_config(config).grid()
    assert grid["model.params.C"] == [0.5, 1.0, 1.5]
    assert grid["model.params.n_estimators"] == [5, 10, 15]
    assert grid["model.family"] == ["random_forest", "logistic"]


@pytest.mark.skipif(importlib.util.find_spec("cmaes") is not None, reason="cmaes installed")
def test_cmaes_without_its_package_says_what_to_install(config: dict[str, Any]) -> None:
    config["tune"]["sampler"] = "cmaes"
    error = _error(config)
    assert error.field == "tune.sampler" and "pip install cmaes" in error.message


def test_pruner_options_are_checked(config: dict[str, Any]) -> None:
    config["tune"]["pruner"] = {"kind": "median", "n_startup_trials": 1, "n_warmup_step": 0}
    assert _error(config).field == "tune.pruner.n_warmup_step"
    config["tune"]["pruner"] = {"kind": "median", "n_startup_trials": 1}
    assert load_tune_config(config).settings.pruner != "median"
    config["tune"]["pruner"] = "hyperband"
    assert _error(config).field == "tune.pruner"


def test_metric_of_the_other_task_is_refused(config: dict[str, Any]) -> None:
    config["tune"]["metric"] = "rmse"
    assert _error(config).field == "tune.metric"


def test_missing_tune_section_and_train_errors_are_named(config: dict[str, Any]) -> None:
    train_only = copy.deepcopy(config)
    del train_only["tune"]
    assert _error(train_only).field == "tune"
    config["model"]["family"] = "deep_forest"
    assert _error(config).field == "model.family"


def test_class_weight_needs_every_searched_family_to_take_it(tmp_path: Path) -> None:
    config = regression_config(write_diabetes(tmp_path))
    config["task"] = "classification"
    config["split"] = {"kind": "holdout"}
    config["cleaning"] = {"imbalance": "class_weight"}
    config["tune"]["space"] = {
        "model.family": {"type": "categorical", "choices": ["logistic", "hist_gradient_boosting"]}
    }
    loaded = load_tune_config(config)  # both take class_weight
    assert loaded.base_families() == ("logistic", "hist_gradient_boosting")


def test_missing_file_and_bad_yaml_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(tmp_path / "nope.yaml")
    assert caught.value.field == "config"
    bad = tmp_path / "bad.yaml"
    bad.write_text("tune: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(bad)
    assert caught.value.field == "config"
