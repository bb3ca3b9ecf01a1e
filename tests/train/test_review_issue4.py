"""Review of issue 4 (data checks, training, tuning): hostile configs and data.

Each test pins a bug found in review (all fixed) or behaviour that was checked and found right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import modelkeep as mk
from modelkeep.cli.app import app
from modelkeep.data import profile, suggest_rules, validate
from modelkeep.data.rules import RuleSet
from modelkeep.exceptions import ConflictError, InvalidInputError
from modelkeep.train import train

# ---------------------------------------------------------------- helpers


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store URI in tmp_path, and no developer settings leaking in."""
    for name in ("MODELKEEP_TRACKING_URI", "MODELKEEP_ARTIFACT_ROOT", "MODELKEEP_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELKEEP_HOME", str(tmp_path / "home"))
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _cli(store_uri: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--store", store_uri, *args])


def _assert_one_error_line(result: Result) -> None:
    # CliRunner turns an uncaught exception into exit code 1 too: check there was none.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


def _small_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["y"] = (frame["a"] + 0.3 * rng.normal(size=n) > 0).astype(int)
    frame["word"] = rng.choice(["p", "q"], n)
    return frame


def _config(data: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "classification",
        "data": str(data),
        "target": "y",
        "model": {"family": "logistic"},
        "split": {"kind": "kfold", "n_splits": 2},
        "experiment": "review",
    }
    config.update(overrides)
    return config


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    _small_frame().to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- config files (CLI)


def test_deeply_nested_train_yaml_is_one_error_line(tmp_path: Path, cli_env: str) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("task: " + "[" * 3000 + "]" * 3000 + "\n")

    _assert_one_error_line(_cli(cli_env, "train", str(path)))


def test_non_utf8_train_yaml_is_one_error_line(tmp_path: Path, cli_env: str) -> None:
    path = tmp_path / "train.yaml"
    path.write_bytes(b"task: \xff\xfe\n")

    _assert_one_error_line(_cli(cli_env, "train", str(path)))


@pytest.mark.parametrize(
    "content",
    [b"columns: " + b"[" * 3000 + b"]" * 3000 + b"\n", b"columns: \xff\n"],
    ids=["deeply-nested", "not-utf8"],
)
def test_malformed_rules_file_is_one_error_line(
    tmp_path: Path, cli_env: str, small_csv: Path, content: bytes
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(content)

    _assert_one_error_line(
        _cli(cli_env, "data", "validate", str(small_csv), "--rules", str(rules))
    )


def test_list_yaml_and_directory_data_are_one_error_line(
    tmp_path: Path, cli_env: str, small_csv: Path
) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text("- task\n- data\n")
    (tmp_path / "folder").mkdir()
    folder = tmp_path / "folder.yaml"
    folder.write_text(
        f"task: classification\ndata: {tmp_path / 'folder'}\ntarget: y\n"
        "model: {family: logistic}\n"
    )

    _assert_one_error_line(_cli(cli_env, "train", str(listed)))
    _assert_one_error_line(_cli(cli_env, "train", str(folder)))
    _assert_one_error_line(_cli(cli_env, "data", "profile", str(tmp_path / "folder")))


# ---------------------------------------------------------------- training data checks


def test_regression_on_text_target_fails_before_any_run(
    tracking_uri: str, small_csv: Path
) -> None:
    config = _config(small_csv, task="regression", target="word", model={"family": "linear"})

    with pytest.raises(InvalidInputError) as caught:
        train(config)

    assert caught.value.field == "target"
    assert list(mk.search_runs()) == []


@pytest.mark.parametrize(
    "split",
    [
        pytest.param({"kind": "holdout", "test_size": 0.02}, id="test-split"),
        pytest.param(
            {"kind": "holdout", "test_size": 0.2},
            id="validation-split",
        ),
    ],
)
def test_stratified_holdout_too_small_for_the_classes_names_the_key(
    tracking_uri: str, tmp_path: Path, split: dict[str, Any]
) -> None:
    # 60 rows of 3 classes: a 2-row test set; 6 rows of 2 classes: a 1-row validation set.
    rows, classes = (60, 3) if split["test_size"] < 0.1 else (6, 2)
    frame = pd.DataFrame({"a": np.arange(rows, dtype=float), "y": np.arange(rows) % classes})
    path = tmp_path / "tiny.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(InvalidInputError) as caught:
        train(_config(path, split=split))

    assert caught.value.field.startswith("split.")
    assert list(mk.search_runs()) == []


def test_test_file_with_an_unseen_class_is_refused_before_any_run(
    tracking_uri: str, tmp_path: Path
) -> None:
    frame = _small_frame()
    frame.to_csv(tmp_path / "train.csv", index=False)
    test = frame.head(10).copy()
    test.loc[:3, "y"] = 7
    test.to_csv(tmp_path / "test.csv", index=False)
    data = {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}

    with pytest.raises(InvalidInputError) as caught:
        config = _config(tmp_path / "train.csv", metrics=["f1", "log_loss"])
        train({**config, "data": data})

    assert caught.value.field == "data.test"  # the file that brings the unknown class
    assert list(mk.search_runs()) == []


def test_out_of_range_lightgbm_param_fails_before_any_run(
    tracking_uri: str, small_csv: Path
) -> None:
    model = {"family": "lightgbm", "params": {"n_estimators": -5}}

    with pytest.raises(InvalidInputError) as caught:
        train(_config(small_csv, model=model))

    assert caught.value.field == "model.params.n_estimators"
    assert list(mk.search_runs()) == []


def test_all_missing_feature_column_trains_without_warnings(
    tracking_uri: str, tmp_path: Path
) -> None:
    frame = _small_frame().drop(columns="word")
    frame["empty"] = np.nan
    path = tmp_path / "empty.csv"
    frame.to_csv(path, index=False)

    result = train(_config(path))  # filterwarnings=error turns a warning into a failure

    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest"])
def test_same_config_and_seed_reproduce_the_metrics(
    tracking_uri: str, tmp_path: Path, family: str
) -> None:
    frame = _small_frame(n=120)
    frame.loc[::7, "a"] = np.nan
    path = tmp_path / "repro.csv"
    frame.to_csv(path, index=False)
    params = {"max_iter": 15} if family == "hist_gradient_boosting" else {"n_estimators": 8}
    config = _config(
        path,
        model={"family": family, "params": params},
        split={"kind": "stratified_kfold", "n_splits": 3},
        cleaning={"clip": "iqr"},
        seed=11,
    )

    first, second = train(config).metrics, train(config).metrics

    assert first.keys() == second.keys()
    for name, value in first.items():
        assert value == second[name] or (np.isnan(value) and np.isnan(second[name])), name


# ---------------------------------------------------------------- data: profile / rules


@pytest.mark.parametrize(
    "column",
    [pd.Series([None, None, None], dtype=object), pd.Series([], dtype=object)],
    ids=["all-missing", "zero-rows"],
)
def test_suggested_rules_always_read_back(column: pd.Series[Any]) -> None:
    frame = pd.DataFrame({"a": column})

    text = suggest_rules(profile(frame)).to_yaml()

    assert validate(frame, RuleSet.from_yaml(text)).passed


def test_validate_refuses_repeated_column_names() -> None:
    frame = pd.DataFrame([[1, None], [2, None]], columns=["a", "a"])

    with pytest.raises(InvalidInputError):
        validate(frame, "columns: {a: {not_null: true}}")


def test_profile_of_json_with_nested_cells_is_clean(tmp_path: Path, cli_env: str) -> None:
    path = tmp_path / "nested.json"
    path.write_text('[{"a": [1, 2], "b": 1}, {"a": [3], "b": 2}]')

    result = _cli(cli_env, "data", "profile", str(path))

    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0 or result.stderr.startswith("Error: ")


def test_profile_of_one_row_zero_rows_and_all_missing_columns() -> None:
    one = profile(pd.DataFrame({"a": [1.0]})).to_dict()
    empty = profile(pd.DataFrame({"a": pd.Series([], dtype=float)})).to_dict()
    missing = profile(pd.DataFrame({"a": [np.nan] * 4, "b": [1, 2, 3, 4]})).to_dict()

    assert one["n_rows"] == 1 and empty["n_rows"] == 0
    assert missing["columns"]["a"]["missing_rate"] == 1.0
    assert any(p["column"] == "a" for p in missing["problems"])


# ---------------------------------------------------------------- tuning


def _tune_config(data: Path, space: dict[str, Any], **tune: Any) -> dict[str, Any]:
    return _config(
        data,
        model={"family": "random_forest", "params": {"n_estimators": 3}},
        tune={"n_trials": 2, "space": space, **tune},
    )


def test_chained_conditions_sample_every_active_parameter(small_csv: Path) -> None:
    import optuna

    from modelkeep.tune import load_tune_config
    from modelkeep.tune.objective import sample

    space = {
        "model.params.max_depth": {
            "type": "int",
            "low": 2,
            "high": 4,
            "when": {"model.params.criterion": "gini"},
        },
        "model.params.criterion": {
            "type": "categorical",
            "choices": ["gini", "entropy"],
            "when": {"model.params.bootstrap": True},
        },
        "model.params.bootstrap": {"type": "categorical", "choices": [True, False]},
    }
    config = load_tune_config(_tune_config(small_csv, space))
    trial = optuna.trial.FixedTrial(
        {
            "model.params.bootstrap": True,
            "model.params.criterion": "gini",
            "model.params.max_depth": 3,
        }
    )

    assert sample(trial, config.space)["model.params.max_depth"] == 3


def test_grid_values_stay_inside_the_range(small_csv: Path) -> None:
    from modelkeep.tune import load_tune_config

    space = {"model.params.max_features": {"type": "float", "low": 0.1, "high": 1.0, "step": 0.6}}
    config = load_tune_config(_tune_config(small_csv, space, sampler="grid"))

    assert all(0.1 <= v <= 1.0 for v in config.grid()["model.params.max_features"])


@pytest.mark.parametrize("bounds", [(0.1, float("inf")), (float("nan"), 1.0)], ids=["inf", "nan"])
def test_non_finite_space_bounds_are_refused(small_csv: Path, bounds: tuple[float, float]) -> None:
    from modelkeep.tune import load_tune_config

    low, high = bounds
    space = {"model.params.max_features": {"type": "float", "low": low, "high": high}}

    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(_tune_config(small_csv, space))

    assert caught.value.field.startswith("tune.space.model.params.max_features")


def test_zero_trials_and_space_typo_name_the_key(small_csv: Path) -> None:
    from modelkeep.tune import load_tune_config

    good = {"model.params.max_depth": {"type": "int", "low": 2, "high": 4}}
    with pytest.raises(InvalidInputError) as zero:
        load_tune_config(_tune_config(small_csv, good, n_trials=0))
    typo = {"model.params.max_dept": {"type": "int", "low": 2, "high": 4}}
    with pytest.raises(InvalidInputError) as typoed:
        load_tune_config(_tune_config(small_csv, typo))

    assert zero.value.field == "tune.n_trials"
    assert typoed.value.field == "tune.space.model.params.max_dept"
    assert "max_depth" in typoed.value.message


def test_resuming_a_study_with_another_search_space_is_refused(
    tmp_path: Path, small_csv: Path
) -> None:
    from modelkeep.tune import tune

    uri = f"sqlite:///{tmp_path / 'tune.db'}"
    forest = {"model.params.max_depth": {"type": "int", "low": 2, "high": 4}}
    tune(_tune_config(small_csv, forest, study="S"), tracking_uri=uri, progress=False)
    logistic = _config(
        small_csv,
        model={"family": "logistic"},
        tune={
            "n_trials": 4,
            "study": "S",
            "space": {"model.params.C": {"type": "float", "low": 0.1, "high": 1.0}},
        },
    )

    with pytest.raises((ConflictError, InvalidInputError)):
        tune(logistic, resume=True, tracking_uri=uri, progress=False)


def test_conditions_in_a_cycle_name_the_key(small_csv: Path) -> None:
    from modelkeep.tune import load_tune_config

    space = {
        "model.params.criterion": {
            "type": "categorical",
            "choices": ["gini", "entropy"],
            "when": {"model.params.bootstrap": True},
        },
        "model.params.bootstrap": {
            "type": "categorical",
            "choices": [True, False],
            "when": {"model.params.criterion": "gini"},
        },
    }

    with pytest.raises(InvalidInputError) as caught:
        load_tune_config(_tune_config(small_csv, space))

    assert caught.value.field.endswith(".when")
    assert "cycle" in caught.value.message


@pytest.mark.parametrize(
    ("family", "params", "key"),
    [
        ("lightgbm", {"learning_rate": 0.0}, "learning_rate"),
        ("lightgbm", {"num_leaves": 1}, "num_leaves"),
        ("xgboost", {"subsample": 1.5}, "subsample"),
        ("xgboost", {"max_depth": 2.5}, "max_depth"),
        ("xgboost", {"n_estimators": True}, "n_estimators"),
    ],
)
def test_out_of_range_booster_params_name_the_key(
    tracking_uri: str, small_csv: Path, family: str, params: dict[str, Any], key: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        train(_config(small_csv, model={"family": family, "params": params}))

    assert caught.value.field == f"model.params.{key}"
    assert list(mk.search_runs()) == []


def test_in_range_booster_params_train(tracking_uri: str, small_csv: Path) -> None:
    params = {"n_estimators": 5, "learning_rate": 0.3, "subsample": 1.0, "max_depth": 0}

    result = train(_config(small_csv, model={"family": "xgboost", "params": params}))

    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


def test_a_column_missing_in_one_fold_only_trains_quietly(
    tracking_uri: str, tmp_path: Path
) -> None:
    frame = _small_frame(n=120).drop(columns="word")
    frame["t"] = np.arange(len(frame))
    frame["late"] = np.where(frame["t"] >= 100, 1.0, np.nan)  # only the last rows
    path = tmp_path / "late.csv"
    frame.to_csv(path, index=False)
    split = {"kind": "time", "time_column": "t", "n_splits": 3, "test_size": 0.1}

    result = train(_config(path, split=split))  # filterwarnings=error: a warning fails

    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


def test_resuming_with_the_same_search_space_adds_trials(tmp_path: Path, small_csv: Path) -> None:
    from modelkeep.tune import tune

    uri = f"sqlite:///{tmp_path / 'tune.db'}"
    forest = {"model.params.max_depth": {"type": "int", "low": 2, "high": 4}}
    tune(_tune_config(small_csv, forest, study="S"), tracking_uri=uri, progress=False)

    again = tune(
        _tune_config(small_csv, forest, study="S", n_trials=3),
        resume=True,
        tracking_uri=uri,
        progress=False,
    )

    assert again.n_trials == 3


def test_a_time_fold_with_one_class_is_refused_before_any_run(
    tracking_uri: str, tmp_path: Path
) -> None:
    frame = _small_frame(n=120).drop(columns="word").sort_values("a")  # y: 0s, then 1s
    path = tmp_path / "sorted.csv"
    frame.to_csv(path, index=False)
    split = {"kind": "time", "time_column": "a", "n_splits": 3, "test_size": 0.1}

    with pytest.raises(InvalidInputError) as caught:
        train(_config(path, split=split))

    assert caught.value.field == "split.n_splits"
    assert list(mk.search_runs()) == []
