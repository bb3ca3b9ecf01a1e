"""The trial loop of one worker, in this process or in one of ``--jobs`` worker processes.

``n_trials`` is the study's total over all workers and sessions: after each trial a worker
counts the study's trials (every state, running ones included) and stops when the budget is
reached. Workers that check at the same instant may each start one more, so a study with
several workers can end a trial or two over its budget per worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from modelkeep.config import Settings
from modelkeep.entities import RunStatus, RunTag, now_ms
from modelkeep.exceptions import ModelkeepError
from modelkeep.store import BaseStore
from modelkeep.tracking import Client
from modelkeep.train import PreparedData, prepare_data
from modelkeep.tune.config import TuneConfig, load_tune_config
from modelkeep.tune.objective import (
    TAG_ERROR,
    TAG_STATE,
    TAG_STUDY,
    TAG_TRIAL,
    TrialFailed,
    TrialObjective,
)
from modelkeep.tune.study import (
    ATTR_EXPERIMENT,
    ATTR_PARENT,
    StudyStorage,
    close_storage,
    make_pruner,
    make_sampler,
    open_storage,
    quiet_optuna,
)

__all__ = ["WorkerSpec", "optimize", "run_worker", "stale_trial_marker"]

_log = logging.getLogger("modelkeep.tune")
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs (plain, picklable values).

    Attributes:
        source: the config mapping (data paths made absolute, command-line overrides in).
        study_name: the study to join (it exists, with its parent run, when workers start).
        storage_url: the study's database.
        tracking_uri: the tracking store for trial runs.
        seed: this worker's sampler seed (the config's seed plus the worker's index).
    """

    source: Mapping[str, Any]
    study_name: str
    storage_url: str
    tracking_uri: str
    seed: int | None = None


def optimize(
    study: optuna.Study,
    objective: TrialObjective,
    config: TuneConfig,
    callbacks: list[TrialCallback] | None = None,
) -> None:
    """Run trials until the study's budget is reached, the timeout passes, or the grid is
    exhausted; a failed trial is recorded and the loop goes on."""
    budget = config.settings.n_trials
    if budget is not None and len(study.get_trials(deepcopy=False)) >= budget:
        return
    last = [-2]  # this worker's previous trial number

    def stop_at_budget(study: optuna.Study, trial: FrozenTrial) -> None:
        if budget is None:
            return
        # Trial numbers count the study's trials. While this worker's numbers follow each
        # other no other worker added trials between them, so the count needs no database
        # read (one that joins meanwhile can make the study end a trial over its budget).
        alone, last[0] = trial.number == last[0] + 1, trial.number
        created = trial.number + 1 if alone else len(study.get_trials(deepcopy=False))
        if created >= budget:
            study.stop()

    with quiet_optuna():
        study.optimize(
            objective,
            timeout=config.settings.timeout,
            catch=(TrialFailed,),
            callbacks=[stop_at_budget, *(callbacks or [])],
        )


def stale_trial_marker(store: BaseStore) -> TrialCallback:
    """A heartbeat callback: the run of a trial whose worker died is ended FAILED."""

    def mark(study: optuna.Study, trial: FrozenTrial) -> None:
        try:
            experiment_id = str(study.user_attrs[ATTR_EXPERIMENT])
            found = store.search_runs(
                [experiment_id], f"tags.`{TAG_TRIAL}` = '{trial.number}'", max_results=1000
            )
            tags = [
                RunTag(TAG_STATE, "FAIL"),
                RunTag(TAG_ERROR, "its worker stopped (no heartbeat)"),
            ]
            for run in found:
                if run.tags.get(TAG_STUDY) == study.study_name and run.status == RunStatus.RUNNING:
                    store.finish_run(run.id, RunStatus.FAILED, now_ms(), tags=tags)
        except (KeyError, ModelkeepError) as exc:  # the trial is failed anyway
            _log.debug("could not end the run of stale trial %d: %s", trial.number, exc)

    return mark


def run_worker(spec: WorkerSpec) -> int:
    """A ``--jobs`` worker process: join the study and run trials; returns how many it ran."""
    config = load_tune_config(spec.source)
    data = prepare_data(config.train)
    settings = Settings().model_copy(update={"tracking_uri": spec.tracking_uri})
    with Client(spec.tracking_uri, settings=settings) as client:
        storage = open_storage(
            spec.storage_url,
            on_stale=stale_trial_marker(client.store),
            study=spec.study_name,
            journal=config.settings.storage is None,
        )
        try:
            return _join_and_run(spec, config, data, client, storage)
        finally:
            close_storage(storage)


def _join_and_run(
    spec: WorkerSpec,
    config: TuneConfig,
    data: PreparedData,
    client: Client,
    storage: StudyStorage,
) -> int:
    with quiet_optuna():
        study = optuna.load_study(
            study_name=spec.study_name,
            storage=storage,
            sampler=make_sampler(config, spec.seed),
            pruner=make_pruner(config),
        )
    attrs = study.user_attrs
    objective = TrialObjective(
        config,
        data,
        client.store,
        study_name=spec.study_name,
        experiment_id=str(attrs[ATTR_EXPERIMENT]),
        parent_run_id=str(attrs[ATTR_PARENT]),
    )
    try:
        optimize(study, objective, config)
    except BaseException:
        objective.abandon(study)
        raise
    return objective.trials_run
