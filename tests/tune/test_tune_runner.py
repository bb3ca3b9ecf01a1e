"""``tune()`` end to end on a SQLite store: trials as child runs, failures, pruning, refit,
registration, resume, several processes, and bad configs that leave nothing behind."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from tune_support import (
    classification_config,
    load_study,
    regression_config,
    write_breast_cancer,
    write_diabetes,
)

from modelkeep.config import Settings
from modelkeep.entities import Run, RunStatus
from modelkeep.exceptions import ConflictError, InvalidInputError, NotFoundError
from modelkeep.tracking import Client
from modelkeep.tune import tune

pytestmark = pytest.mark.slow


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mk.db'}"


@pytest.fixture
def client(uri: str) -> Iterator[Client]:
    settings = Settings().model_copy(update={"tracking_uri": uri})
    with Client(uri, settings=settings) as opened:
        yield opened


@pytest.fixture
def cancer(tmp_path: Path) -> Path:
    return write_breast_cancer(tmp_path)


def _runs(client: Client, experiment: str = "tuning") -> list[Run]:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return list(client.search_runs([found.id], max_results=1000))


def _trial_runs(client: Client, parent: str, experiment: str = "tuning") -> list[Run]:
    runs = _runs(client, experiment)
    return [
        r for r in runs if r.parent_run_id == parent and r.tags["modelkeep.tune.role"] == "trial"
    ]


def _trials(uri: str, name: str) -> list[optuna.trial.FrozenTrial]:
    with load_study(name, uri) as study:
        return study.trials


def test_every_trial_is_a_child_run_and_the_best_is_refit_and_registered(
    cancer: Path, uri: str, client: Client
) -> None:
    config = classification_config(cancer, study="s1")
    config["register"] = {"name": "cancer", "alias": "candidate"}
    result = tune(config, tracking_uri=uri)

    assert result.study_name == "s1" and result.n_trials == 4 and result.trials_run == 4
    assert result.states == {"COMPLETE": 4}
    trials = _trial_runs(client, result.run_id)
    assert sorted(r.tags["modelkeep.tune.trial"] for r in trials) == ["0", "1", "2", "3"]
    for run in trials:
        assert run.status == RunStatus.FINISHED
        assert run.tags["modelkeep.tune.state"] == "COMPLETE"
        assert run.params["model.family"] in ("random_forest", "logistic")
        assert len(client.get_metric_history(run.id, "cv_roc_auc")) == 2  # one per fold
    best_value = max(r.metrics["cv_roc_auc_mean"] for r in trials)
    assert result.best_value == pytest.approx(best_value)
    best_run = next(r for r in trials if r.tags["modelkeep.tune.trial"] == str(result.best_trial))
    assert {k: best_run.params[k] for k in result.best_params} == {
        k: str(v) for k, v in result.best_params.items()
    }

    parent = client.get_run(result.run_id)
    assert parent.status == RunStatus.FINISHED and parent.name == "s1"
    assert parent.metrics["best_cv_roc_auc_mean"] == pytest.approx(result.best_value)
    assert json.loads(parent.tags["modelkeep.tune.best_params"]) == result.best_params
    assert parent.params["tune.sampler"] == "random"
    assert any(a.path == "tune.yaml" for a in client.list_artifacts(result.run_id))

    assert result.refit_run_id is not None and result.model_uri is not None
    refit = client.get_run(result.refit_run_id)
    assert refit.parent_run_id == result.run_id and refit.name == "s1-best"
    assert 0.9 < refit.metrics["test_roc_auc"] <= 1.0
    assert result.metrics["test_roc_auc"] == refit.metrics["test_roc_auc"]
    refit_folds = [m.value for m in client.get_metric_history(refit.id, "cv_roc_auc")]
    assert refit_folds == [m.value for m in client.get_metric_history(best_run.id, "cv_roc_auc")]
    assert refit_folds == _cross_validated_anew(config, result.best_params)
    assert result.version == 1
    assert client.get_registered_model("cancer").aliases["candidate"] == 1
    model = client.load_model("models:/cancer@candidate")
    assert len(model.predict(_rows(cancer))) == 3


def _cross_validated_anew(config: dict[str, Any], best: dict[str, Any]) -> list[float]:
    """The best configuration's fold scores computed from scratch (what the refit reuses)."""
    from modelkeep.train import build_pipeline, prepare_data
    from modelkeep.train.runner import cross_validate, with_params
    from modelkeep.tune import load_tune_config
    from modelkeep.tune.objective import model_params

    train_config = with_params(load_tune_config(config).train, model_params(best))
    data = prepare_data(train_config)
    folds = cross_validate(train_config, build_pipeline(train_config, data=data), data)
    return [scores["roc_auc"] for scores in folds]


def _rows(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path).drop(columns=["target"]).head(3)


def test_each_optuna_trial_has_one_run(cancer: Path, uri: str, client: Client) -> None:
    result = tune(classification_config(cancer, study="s2", n_trials=2), tracking_uri=uri)
    trials = _trials(uri, "s2")
    runs = _trial_runs(client, result.run_id)
    assert sorted(r.tags["modelkeep.tune.trial"] for r in runs) == [str(t.number) for t in trials]
    assert all(r.tags["modelkeep.tune.study"] == "s2" for r in runs)


def test_a_failing_trial_is_recorded_and_the_study_goes_on(
    cancer: Path, uri: str, client: Client
) -> None:
    config = classification_config(cancer, study="fails", sampler="grid")
    del config["tune"]["n_trials"]
    config["model"] = {"family": "logistic"}
    # lbfgs refuses dual=True when fitting: that trial fails, the other completes
    config["tune"]["space"] = {
        "model.params.dual": {"type": "categorical", "choices": [False, True]}
    }
    result = tune(config, tracking_uri=uri)
    assert result.states == {"COMPLETE": 1, "FAIL": 1}
    assert result.best_params == {"model.params.dual": False}
    failed = [r for r in _trial_runs(client, result.run_id) if r.status == RunStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].tags["modelkeep.tune.state"] == "FAIL"
    assert "dual" in failed[0].tags["modelkeep.tune.error"]
    assert failed[0].params["model.params.dual"] == "True"
    assert client.get_run(result.run_id).tags["modelkeep.tune.n_fail"] == "1"


def test_no_completed_trial_fails_the_study(cancer: Path, uri: str, client: Client) -> None:
    config = classification_config(cancer, study="all-fail", sampler="grid")
    del config["tune"]["n_trials"]
    config["model"] = {"family": "logistic"}
    config["tune"]["space"] = {
        "model.params.dual": {"type": "categorical", "choices": [True]},
        "model.params.C": {"type": "categorical", "choices": [0.5, 1.0]},
    }
    with pytest.raises(ConflictError) as caught:
        tune(config, tracking_uri=uri)
    assert "2 fail" in caught.value.message
    parent = next(r for r in _runs(client) if r.name == "all-fail")
    assert parent.status == RunStatus.FAILED


def test_a_worse_trial_is_pruned_on_its_fold_scores(
    cancer: Path, uri: str, client: Client
) -> None:
    config = classification_config(cancer, study="prune", sampler="grid")
    del config["tune"]["n_trials"]
    config["model"] = {"family": "logistic"}
    config["metrics"] = ["accuracy"]
    config["split"]["n_splits"] = 3
    config["tune"]["pruner"] = {"kind": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
    config["tune"]["space"] = {
        "model.params.C": {"type": "categorical", "choices": [1.0, 0.5, 1e-6, 1e-7]}
    }
    result = tune(config, tracking_uri=uri)
    # grid order for seed 7: C=1e-6 comes first and completes; C=1e-7 comes last and is pruned
    # at its first fold, below the median of the trials before it
    assert result.states == {"COMPLETE": 3, "PRUNED": 1}
    pruned = next(
        r for r in _trial_runs(client, result.run_id) if r.tags["modelkeep.tune.state"] == "PRUNED"
    )
    assert pruned.params["model.params.C"] == "1e-07"
    assert pruned.status == RunStatus.FINISHED
    assert len(client.get_metric_history(pruned.id, "cv_accuracy")) < 3


def test_regression_minimises_rmse(tmp_path: Path, uri: str, client: Client) -> None:
    config = regression_config(write_diabetes(tmp_path), study="reg", refit=False)
    result = tune(config, tracking_uri=uri)
    trials = _trial_runs(client, result.run_id, "diabetes")
    assert result.best_value == pytest.approx(min(r.metrics["cv_rmse_mean"] for r in trials))
    assert result.model_uri is None and result.refit_run_id is None
    assert client.get_run(result.run_id).status == RunStatus.FINISHED


def test_resume_continues_the_study_under_the_same_parent_run(
    cancer: Path, uri: str, client: Client
) -> None:
    config = classification_config(cancer, n_trials=2)
    first = tune(config, study="again", tracking_uri=uri)
    with pytest.raises(ConflictError):
        tune(config, n_trials=4, study="again", tracking_uri=uri)
    second = tune(config, n_trials=4, resume=True, study="again", tracking_uri=uri)
    assert second.run_id == first.run_id
    assert (second.n_trials, second.trials_run) == (4, 2)
    assert len(_trial_runs(client, first.run_id)) == 4
    numbers = sorted(t.number for t in _trials(uri, "again"))
    assert numbers == [0, 1, 2, 3]
    parent = client.get_run(first.run_id)
    assert parent.status == RunStatus.FINISHED
    history = client.get_metric_history(first.run_id, "best_cv_roc_auc_mean")
    assert [m.step for m in history] == [2, 4]
    assert second.refit_run_id != first.refit_run_id
    third = tune(config, n_trials=4, resume=True, study="again", tracking_uri=uri)
    assert (third.trials_run, third.model_uri, third.best_value) == (0, None, second.best_value)
    assert client.get_run(first.run_id).status == RunStatus.FINISHED


def test_resume_needs_a_name_and_an_existing_study(cancer: Path, uri: str) -> None:
    config = classification_config(cancer)
    with pytest.raises(InvalidInputError) as caught:
        tune(config, resume=True, tracking_uri=uri)
    assert caught.value.field == "study"
    with pytest.raises(NotFoundError):
        tune(config, resume=True, study="never", tracking_uri=uri)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "no_such_column"}, "target"),
        ({"model": {"family": "deep_forest"}}, "model.family"),
        (
            {
                "tune": {
                    "n_trials": 2,
                    "space": {"model.params.max_dept": {"type": "int", "low": 1, "high": 3}},
                }
            },
            "tune.space.model.params.max_dept",
        ),
    ],
)
def test_a_bad_config_fails_before_any_work(
    cancer: Path, uri: str, client: Client, tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    config = {**classification_config(cancer), **change}
    with pytest.raises(InvalidInputError) as caught:
        tune(config, tracking_uri=uri)
    assert caught.value.field == field
    assert _runs(client) == []
    with sqlite3.connect(tmp_path / "mk.db") as db:  # no study either: Optuna never ran
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "studies" not in tables


def test_jobs_run_worker_processes_on_one_sqlite_file(
    cancer: Path, uri: str, client: Client
) -> None:
    config = classification_config(cancer, study="procs", n_trials=6, jobs=2)
    result = tune(config, tracking_uri=uri)
    trials = _trials(uri, "procs")
    assert result.trials_run == len(trials) == result.n_trials
    assert 6 <= len(trials) <= 7  # two workers may both start the last one
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    runs = _trial_runs(client, result.run_id)
    assert len(runs) == len(trials)
    assert len({r.tags["modelkeep.tune.trial"] for r in runs}) == len(trials)
    assert result.model_uri is not None


def test_progress_bar_shows_the_best_value(
    cancer: Path, uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = tune(classification_config(cancer, n_trials=2), tracking_uri=uri, progress=True)
    err = capsys.readouterr().err
    assert f"best: {result.best_value:.6g}" in err
    assert "2/2" in err
    assert not math.isnan(result.best_value)
