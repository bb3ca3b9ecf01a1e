"""Separate ``modelkeep tune`` processes: three workers sharing one study on PostgreSQL, and a
worker interrupted with Ctrl-C whose study is resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from tune_support import classification_config, load_study, write_breast_cancer, write_config

from modelkeep.config import Settings
from modelkeep.entities import Run, RunStatus
from modelkeep.exceptions import StoreError
from modelkeep.tracking import Client

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELKEEP_")}
    env["MODELKEEP_HOME"] = str(tmp_path / "home")
    env["MODELKEEP_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    return env


def _tune_command(store: str, config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modelkeep.cli.app",
        "--store",
        store,
        "tune",
        str(config),
        *args,
    ]


def _slow_trials_config(tmp_path: Path, n_trials: int) -> Path:
    """Forests of 20-60 trees: trials long enough for workers to overlap."""
    config = classification_config(write_breast_cancer(tmp_path), n_trials=n_trials)
    config["tune"]["space"] = {
        "model.params.n_estimators": {"type": "int", "low": 20, "high": 60, "step": 10},
        "model.params.max_depth": {"type": "int", "low": 2, "high": 6},
    }
    return write_config(tmp_path / "tune.yaml", config)


def _children(client: Client, parent: Run) -> list[Run]:
    runs = client.search_runs([parent.experiment_id], max_results=1000)
    return [run for run in runs if run.parent_run_id == parent.id]


def test_three_workers_share_one_study_on_postgresql(
    postgres_database: str, tmp_path: Path
) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    config = _slow_trials_config(tmp_path, n_trials=12)
    command = _tune_command(postgres_database, config, "--study", name, "--json")
    workers = [
        subprocess.Popen(
            command, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], [err for _, err in outputs]
    assert [err for _, err in outputs] == ["", "", ""]  # no warning, no error line
    results: list[dict[str, Any]] = [json.loads(out) for out, _ in outputs]

    with load_study(name, postgres_database) as study:
        trials = study.trials
    numbers = sorted(trial.number for trial in trials)
    assert numbers == list(range(len(trials)))  # unique, none lost
    assert sum(result["trials_run"] for result in results) == len(trials)
    assert 12 <= len(trials) <= 14  # workers finishing together may each start one more
    assert len({result["run_id"] for result in results}) == 1
    assert sum(result["model_uri"] is not None for result in results) == 1  # one refit

    settings = Settings(artifact_root=tmp_path / "artifacts")
    with Client(postgres_database, settings=settings) as client:
        parent = client.get_run(results[0]["run_id"])
        assert parent.status == RunStatus.FINISHED
        children = _children(client, parent)
        trial_runs = [run for run in children if run.tags["modelkeep.tune.role"] == "trial"]
        assert sorted(int(run.tags["modelkeep.tune.trial"]) for run in trial_runs) == numbers
        assert all(run.status == RunStatus.FINISHED for run in trial_runs)
        assert [run.tags["modelkeep.tune.role"] for run in children].count("refit") == 1


def test_interrupted_worker_is_resumed(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'mk.db'}"
    config = _slow_trials_config(tmp_path, n_trials=200)
    command = _tune_command(store, config, "--study", "stopped")
    worker = subprocess.Popen(command, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            with load_study("stopped", store) as study:
                finished = sum(t.state.is_finished() for t in study.trials)
        except (KeyError, StoreError):  # not created yet
            continue
        if finished >= 2:
            break
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130, err
    assert "--resume" in err

    with load_study("stopped", store) as study:
        trials, attrs = study.trials, study.user_attrs
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    done = len(trials)
    settings = Settings(artifact_root=tmp_path / "artifacts")
    with Client(store, settings=settings) as client:
        parent_id = attrs["modelkeep.parent_run_id"]
        assert client.get_run(parent_id).status == RunStatus.KILLED
        resumed = subprocess.run(
            [*command, "--resume", "--n-trials", str(done + 2), "--json"],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        result = json.loads(resumed.stdout)
        assert (result["run_id"], result["n_trials"], result["trials_run"]) == (
            parent_id,
            done + 2,
            2,
        )
        parent = client.get_run(parent_id)
        assert parent.status == RunStatus.FINISHED
        trial_runs = [
            r for r in _children(client, parent) if r.tags["modelkeep.tune.role"] == "trial"
        ]
        assert len(trial_runs) == done + 2
        assert all(r.status != RunStatus.RUNNING for r in trial_runs)


def test_jobs_share_one_study_on_postgresql(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.tune import tune

    for key, value in _env(tmp_path).items():
        if key.startswith("MODELKEEP_"):
            monkeypatch.setenv(key, value)  # the worker processes inherit them
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    config = classification_config(write_breast_cancer(tmp_path), n_trials=6, jobs=2)
    config["tune"]["study"] = name
    settings = Settings(artifact_root=tmp_path / "artifacts")

    result = tune(config, tracking_uri=postgres_database, progress=False)

    with load_study(name, postgres_database) as study:
        trials = study.trials
    assert result.trials_run == len(trials) and 6 <= len(trials) <= 7
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    with Client(postgres_database, settings=settings) as client:
        runs = _children(client, client.get_run(result.run_id))
        roles = [r.tags["modelkeep.tune.role"] for r in runs]
        numbers = sorted(
            int(r.tags["modelkeep.tune.trial"])
            for r in runs
            if "modelkeep.tune.trial" in r.tags and r.tags["modelkeep.tune.role"] == "trial"
        )
        assert numbers == sorted(t.number for t in trials) and roles.count("refit") == 1
    assert result.model_uri is not None
