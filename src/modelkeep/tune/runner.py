"""``tune(config)``: run (or join, or resume) a study, then refit and log its best configuration.

The runs it leaves, all in the config's ``experiment``::

    <study>                  parent run: params tune.metric, tune.direction, tune.sampler,
    │                        tune.pruner and the base config's; the config as tune.yaml; at
    │                        the end best_cv_<metric>_mean and the refit's test_<metric>
    │                        (step = trials in the study) and tags modelkeep.tune.best_trial,
    │                        modelkeep.tune.best_params (JSON), modelkeep.tune.n_<state>; the
    │                        energy of this session's trials and refit (modelkeep.energy:
    │                        energy_kwh, co2_kg, cpu_seconds... and energy.json)
    ├── trial-0 ... trial-N  one child run per trial (see modelkeep.tune.objective)
    └── <study>-best         the refit: a child run recorded exactly like ``modelkeep train``
                             with the best parameters (config.yaml, data profile, cv_* and
                             test_* metrics, plots, resources, the model package), registered
                             under ``register.name`` when the config asks

The refit happens once per study, after every worker's trials have ended, in whichever
worker claims it first (see :mod:`modelkeep.tune.study`); the other workers return the best
trial without a model. The parent run ends FINISHED then (KILLED when the last worker is
interrupted, FAILED when no trial completed).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from modelkeep.config import Settings
from modelkeep.energy import EnergyMeter, EnergyUse, log_energy
from modelkeep.entities import Metric, Param, RunStatus, RunTag, now_ms
from modelkeep.exceptions import ConflictError, InvalidInputError
from modelkeep.tracking import Client, get_tracking_uri
from modelkeep.train import PreparedData, prepare_data
from modelkeep.tune.config import TuneConfig, load_tune_config
from modelkeep.tune.objective import TAG_ROLE, TAG_STUDY, TrialObjective
from modelkeep.tune.progress import TrialProgress
from modelkeep.tune.refit import Refit, refit_best
from modelkeep.tune.study import (
    OpenedStudy,
    StudyStorage,
    claim_refit,
    close_storage,
    open_storage,
    open_study,
    redact,
    storage_url,
    wait_for_running_trials,
)
from modelkeep.tune.worker import WorkerSpec, optimize, run_worker, stale_trial_marker

__all__ = ["TuneResult", "default_study_name", "tune"]

_log = logging.getLogger("modelkeep.tune")
TAG_BEST_TRIAL = "modelkeep.tune.best_trial"
TAG_BEST_PARAMS = "modelkeep.tune.best_params"


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` produced.

    Attributes:
        best_params: the best trial's sampled values by dotted key (``model.params.max_depth``).
        best_value: its cross-validated ``tune.metric`` (mean over the folds).
        run_id: the study's parent run.
        model_uri: the refit best model (``runs:/<refit run>/model``); None when another
            worker refits it or ``tune.refit`` is false.
        version: the registered version, when the config has ``register``.
        study_name: the Optuna study's name (``--study`` to join or resume it).
        best_trial: the best trial's number.
        n_trials: trials in the study now, over every worker and session.
        states: trials per state (``COMPLETE``, ``PRUNED``, ``FAIL``...).
        trials_run: trials this call ran (all its worker processes together).
        refit_run_id: the refit run, when this call refitted.
        metrics: the refit run's ``test_<metric>`` and ``cv_<metric>_mean``.
    """

    best_params: dict[str, Any]
    best_value: float
    run_id: str
    model_uri: str | None = None
    version: int | None = None
    study_name: str = ""
    best_trial: int = -1
    n_trials: int = 0
    states: dict[str, int] = field(default_factory=dict)
    trials_run: int = 0
    refit_run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``modelkeep tune --json``)."""
        return asdict(self)


def tune(
    config: str | Path | Mapping[str, Any] | TuneConfig,
    n_trials: int | None = None,
    resume: bool = False,
    *,
    study: str | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    progress: bool | None = None,
) -> TuneResult:
    """Tune a model's hyperparameters as a config describes, each trial a tracked child run.

    Args:
        config: a YAML file path, a dict with the same keys, or a checked :class:`TuneConfig`.
        n_trials: the study's total number of trials (overrides ``tune.n_trials``).
        resume: continue the study named by ``study`` (or ``tune.study``), which must exist.
        study: the study name; workers given the same name share one study.
        jobs: worker processes on this machine (overrides ``tune.jobs``).
        timeout: seconds each worker keeps starting trials (overrides ``tune.timeout``).
        storage: the study's database URL; default the tracking store's database.
        tracking_uri: the tracking store; default the current one (``mk.get_tracking_uri``).
        progress: show the progress bar on stderr; None shows it when stderr is a terminal.

    Returns:
        The :class:`TuneResult`.

    Raises:
        InvalidInputError: a bad config (``field`` is the dotted key), before any work.
        NotFoundError: ``resume`` and the study does not exist.
        ConflictError: the study exists with another metric or direction, or has already
            ended and ``resume`` is false; or no trial completed.

    Example:
        >>> from modelkeep.tune import tune
        >>> result = tune("tune.yaml", n_trials=20)  # doctest: +SKIP
        >>> result.best_params, result.best_value, result.model_uri  # doctest: +SKIP
    """
    overrides = {
        key: value
        for key, value in (
            ("n_trials", n_trials),
            ("timeout", timeout),
            ("jobs", jobs),
            ("study", study),
            ("storage", storage),
        )
        if value is not None
    }
    checked = load_tune_config(config, overrides=overrides)
    if resume and not checked.settings.study:
        raise InvalidInputError(
            "study: --resume needs the study's name (--study NAME or tune.study)", field="study"
        )
    uri = tracking_uri or get_tracking_uri()
    url = storage_url(uri, checked.settings.storage)
    data = prepare_data(checked.train)  # checks the columns before anything is created
    name = checked.settings.study or default_study_name(checked)
    settings = Settings().model_copy(update={"tracking_uri": uri})
    with Client(uri, settings=settings) as client:
        optuna_storage = open_storage(
            url,
            on_stale=stale_trial_marker(client.store),
            study=name,
            journal=checked.settings.storage is None,
        )
        try:
            opened = open_study(
                optuna_storage,
                checked,
                name,
                resume=resume,
                client=client,
                make_parent=lambda experiment_id: _create_parent(
                    client, checked, name, experiment_id, url
                ),
            )
            session = _Session(checked, opened, data, client, url, uri, optuna_storage)
            return session.run(progress)
        finally:
            close_storage(optuna_storage)


def default_study_name(config: TuneConfig) -> str:
    """``<experiment>-<date>-<time>-<4 hex digits>``: a fresh name for an unnamed study."""
    prefix = config.train.experiment or "tune"
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _create_parent(
    client: Client, config: TuneConfig, name: str, experiment_id: str, url: str
) -> str:
    tags = {TAG_STUDY: name, TAG_ROLE: "study", "modelkeep.tune.storage": redact(url)}
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    spec = config.settings.pruner
    params = {
        **config.train.flat_params(),
        "tune.metric": config.metric,
        "tune.direction": config.direction,
        "tune.sampler": config.settings.sampler,
        "tune.pruner": spec if isinstance(spec, str) else spec.kind,
        "tune.space": ",".join(param.name for param in config.space),
    }
    client.log_batch(run.id, params=[Param(k, v) for k, v in params.items()])
    text = config.text
    if text is None:
        import yaml

        text = yaml.safe_dump(dict(config.source), sort_keys=False)
    client.log_bytes(run.id, text.encode("utf-8"), "tune.yaml")
    return run.id


class _Session:
    """One call of :func:`tune`: run the trials, then finish the study if this is the last
    worker to see it end."""

    def __init__(
        self,
        config: TuneConfig,
        opened: OpenedStudy,
        data: PreparedData,
        client: Client,
        storage_url: str,
        tracking_uri: str,
        storage: StudyStorage,
    ) -> None:
        self.config = config
        self.opened = opened
        self.data = data
        self.client = client
        self.storage_url = storage_url
        self.tracking_uri = tracking_uri
        self.storage = storage

    @property
    def study(self) -> optuna.Study:
        return self.opened.study

    def run(self, show_progress: bool | None) -> TuneResult:
        total = self.config.settings.n_trials
        if total is None and self.config.settings.sampler == "grid":
            total = len(self.config.grid())
        objective = TrialObjective(
            self.config,
            self.data,
            self.client.store,
            study_name=self.study.study_name,
            experiment_id=self.opened.experiment_id,
            parent_run_id=self.opened.parent_run_id,
        )
        meter = EnergyMeter().start()  # the whole session: trials (worker processes too), refit
        try:
            with TrialProgress(self.study.study_name, total, show_progress) as bar:
                bar.update(self.study)
                if self.config.settings.jobs > 1:
                    ran = self._run_processes(bar)
                else:
                    optimize(self.study, objective, self.config, [bar.after_trial])
                    ran = objective.trials_run
                wait_for_running_trials(self.study)
                bar.update(self.study)
        except BaseException as exc:
            meter.stop()
            objective.abandon(self.study)
            self._interrupted(exc)
            raise
        try:
            return self._finish(ran, meter)
        finally:
            meter.stop()  # stops codecarbon's tracker when _finish did not

    def _run_processes(self, bar: TrialProgress) -> int:
        jobs = self.config.settings.jobs
        base_seed = self.config.seed if self.opened.created else secrets.randbits(31)
        specs = [
            WorkerSpec(
                self.config.source,
                self.study.study_name,
                self.storage_url,
                self.tracking_uri,
                seed=base_seed + index,
            )
            for index in range(jobs)
        ]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(run_worker, spec) for spec in specs]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                bar.update(self.study)
                for future in done:
                    future.result()  # a worker's error ends the session here
            return sum(future.result() for future in futures)

    def _interrupted(self, exc: BaseException) -> None:
        """Interrupted (KILLED) or failed (FAILED): end the parent run, unless other workers
        still run trials of the study."""
        status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        try:
            if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                self.client.set_terminated(self.opened.parent_run_id, status)
        except Exception as error:  # noqa: BLE001 - the original error is what matters
            _log.debug("could not end the parent run: %s", error)

    def _finish(self, ran: int, meter: EnergyMeter) -> TuneResult:
        trials = self.study.get_trials(deepcopy=False)
        states = dict(Counter(trial.state.name for trial in trials))
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        claimed = claim_refit(self.storage, self.study)
        if not claimed and self.opened.reopened_from is not None and ran == 0:
            # Resumed with nothing left to do: the parent run goes back to how it ended.
            self.client.set_terminated(self.opened.parent_run_id, self.opened.reopened_from)
        if not complete:
            if claimed:
                self._summarise(trials, states, None, None, meter.stop())
                self.client.set_terminated(self.opened.parent_run_id, RunStatus.FAILED)
            raise ConflictError(
                f"no trial of study {self.study.study_name!r} completed ({_counts(states)}); "
                "the failed trial runs' modelkeep.tune.error tag says why",
                field="study",
            )
        best = self.study.best_trial
        refit: Refit | None = None
        if claimed:
            if self.config.settings.refit:
                refit = refit_best(
                    self.config, self.data, self.client, self.opened, best.params, best.number
                )
            self._summarise(trials, states, best, refit, meter.stop())
            self.client.set_terminated(self.opened.parent_run_id, RunStatus.FINISHED)
        return TuneResult(
            best_params=dict(best.params),
            best_value=float(best.value if best.value is not None else float("nan")),
            run_id=self.opened.parent_run_id,
            model_uri=refit.model_uri if refit else None,
            version=refit.version if refit else None,
            study_name=self.study.study_name,
            best_trial=best.number,
            n_trials=len(trials),
            states=states,
            trials_run=ran,
            refit_run_id=refit.run_id if refit else None,
            metrics=dict(refit.metrics) if refit else {},
        )

    def _summarise(
        self,
        trials: list[FrozenTrial],
        states: Mapping[str, int],
        best: FrozenTrial | None,
        refit: Refit | None,
        energy: EnergyUse,
    ) -> None:
        now, step = now_ms(), len(trials)
        metrics: list[Metric] = []
        tags = [RunTag(f"modelkeep.tune.n_{state.lower()}", str(n)) for state, n in states.items()]
        tags.append(RunTag("modelkeep.tune.n_trials", str(len(trials))))
        if best is not None and best.value is not None:
            metrics.append(Metric(f"best_cv_{self.config.metric}_mean", best.value, step, now))
            tags.append(RunTag(TAG_BEST_TRIAL, str(best.number)))
            tags.append(RunTag(TAG_BEST_PARAMS, json.dumps(best.params, sort_keys=True)))
        if refit is not None:
            metrics += [
                Metric(name, value, step, now)
                for name, value in refit.metrics.items()
                if name.startswith("test_")
            ]
            tags.append(RunTag("modelkeep.tune.refit_run", refit.run_id))
        self.client.log_batch(self.opened.parent_run_id, metrics=metrics, tags=tags)
        log_energy(self.client, self.opened.parent_run_id, energy, step=step)


def _counts(states: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items())) or "0 trials"
