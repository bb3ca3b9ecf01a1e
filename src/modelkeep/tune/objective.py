"""One trial: sample a configuration, cross-validate it with pruning, record it as a child run.

Each trial is a child run of the study's parent run, named ``trial-<number>``:

* params: the sampled values under their dotted keys (``model.family``,
  ``model.params.max_depth``), as a training run names them;
* metrics: ``cv_<metric>`` at step = fold for every config metric, and ``cv_<metric>_mean``
  (the tuned metric's mean is the trial's value); a pruned trial has the folds it finished;
* tags: ``modelkeep.tune.study``, ``modelkeep.tune.trial`` (the Optuna trial number),
  ``modelkeep.tune.state`` (``COMPLETE``, ``PRUNED`` or ``FAIL``) and, for a failed trial,
  ``modelkeep.tune.error``;
* status: FINISHED for complete and pruned trials, FAILED for failed ones, KILLED when the
  worker was interrupted.

The pruner sees, after fold k, the mean of the tuned metric over folds 0..k (``trial.report``
at step k); every trial uses the same folds (the config's seed), so these are comparable.

A configuration that raises (a parameter combination the estimator refuses, a fit that
diverges) fails its trial only: the error is recorded and :class:`TrialFailed` tells Optuna to
go on with the study.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from modelkeep.data.cleaning import build_preprocessor
from modelkeep.entities import Metric, Param, RunStatus, RunTag, now_ms
from modelkeep.store import BaseStore
from modelkeep.train import PreparedData, build_pipeline, cross_validate
from modelkeep.train.record import mean_scores
from modelkeep.tune.config import SearchParam, TuneConfig
from modelkeep.tune.study import quiet_optuna

__all__ = [
    "TAG_ERROR",
    "TAG_STATE",
    "TAG_STUDY",
    "TAG_TRIAL",
    "TrialFailed",
    "TrialObjective",
    "model_params",
    "sample",
]

TAG_STUDY = "modelkeep.tune.study"
TAG_TRIAL = "modelkeep.tune.trial"
TAG_STATE = "modelkeep.tune.state"
TAG_ERROR = "modelkeep.tune.error"
TAG_ROLE = "modelkeep.tune.role"
_ERROR_LIMIT = 1000
_log = logging.getLogger("modelkeep.tune")
_PARAMS = "model.params."


class TrialFailed(Exception):
    """A trial's configuration failed to train; the trial is recorded as FAIL and the study
    goes on."""


def sample(trial: optuna.Trial, space: tuple[SearchParam, ...]) -> dict[str, Any]:
    """Sample every active parameter of ``space`` (a conditional one only when its ``when``
    holds for the values sampled before it)."""
    sampled: dict[str, Any] = {}
    for param in space:
        if not param.applies(sampled):
            continue
        if param.kind == "categorical":
            value: Any = trial.suggest_categorical(param.name, param.choices)
        elif param.kind == "int":
            assert param.low is not None and param.high is not None
            value = trial.suggest_int(
                param.name,
                int(param.low),
                int(param.high),
                step=int(param.step or 1),
                log=param.log,
            )
        else:
            assert param.low is not None and param.high is not None
            value = trial.suggest_float(
                param.name, param.low, param.high, step=param.step, log=param.log
            )
        sampled[param.name] = value
    return sampled


def model_params(sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled values as :func:`~modelkeep.train.runner.with_params` takes them: ``family``
    and the estimator's parameter names."""
    params: dict[str, Any] = {}
    for name, value in sampled.items():
        if name == "model.family":
            params["family"] = value
        else:
            params[name.removeprefix(_PARAMS)] = value
    return params


@dataclass
class _Record:
    """What a trial run gets when it ends."""

    state: str
    folds: list[dict[str, float]]
    error: str | None = None


class TrialObjective:
    """The Optuna objective of one worker: ``objective(trial) -> cross-validated score``.

    Args:
        config: the tuning config.
        data: the prepared data (read once per worker).
        store: the tracking store the trial runs go to.
        study_name: tagged on each trial run.
        experiment_id: the experiment of the parent run.
        parent_run_id: the study's parent run.
    """

    def __init__(
        self,
        config: TuneConfig,
        data: PreparedData,
        store: BaseStore,
        *,
        study_name: str,
        experiment_id: str,
        parent_run_id: str,
    ) -> None:
        self.config = config
        self.data = data
        self.store = store
        self.study_name = study_name
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.trials_run = 0
        # Trials search model parameters only, so every trial cleans the data the same way.
        self._preprocessor = build_preprocessor(config.train.cleaning, data.X_train, None)
        self._last: tuple[int, str | None] | None = None  # (trial number, run id)

    def __call__(self, trial: optuna.Trial) -> float:
        self.trials_run += 1
        self._last = (trial.number, None)
        sampled = sample(trial, self.config.space)
        run = self.store.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={TAG_STUDY: self.study_name, TAG_TRIAL: str(trial.number), TAG_ROLE: "trial"},
            parent_run_id=self.parent_run_id,
        )
        self._last = (trial.number, run.id)
        fold_scores: list[float] = []
        try:
            folds = self._evaluate(trial, sampled, fold_scores)
        except optuna.TrialPruned:
            self._finish(run.id, sampled, _Record("PRUNED", self._partial(fold_scores)))
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._finish(run.id, sampled, _Record("FAIL", self._partial(fold_scores), error))
            _log.warning("trial %d failed: %s", trial.number, " ".join(error.split())[:300])
            raise TrialFailed(error) from exc
        except BaseException:
            record = _Record("FAIL", self._partial(fold_scores), "interrupted")
            self._finish(run.id, sampled, record, RunStatus.KILLED)
            raise
        value = mean_scores(folds)[self.config.metric]
        if math.isnan(value):
            error = f"{self.config.metric} is undefined on every fold"
            self._finish(run.id, sampled, _Record("FAIL", folds, error))
            _log.warning("trial %d failed: %s", trial.number, error)
            raise TrialFailed(error)
        self._finish(run.id, sampled, _Record("COMPLETE", folds))
        return value

    def _evaluate(
        self, trial: optuna.Trial, sampled: Mapping[str, Any], fold_scores: list[float]
    ) -> list[dict[str, float]]:
        pipeline = build_pipeline(
            self.config.train,
            model_params(sampled),
            data=self.data,
            preprocessor=self._preprocessor,
        )

        def on_fold(index: int, score: float) -> None:
            fold_scores.append(score)
            finite = [s for s in fold_scores if not math.isnan(s)]
            if finite:
                trial.report(sum(finite) / len(finite), step=index)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {index}")

        return cross_validate(self.config.train, pipeline, self.data, on_fold)

    def _partial(self, fold_scores: list[float]) -> list[dict[str, float]]:
        return [{self.config.metric: score} for score in fold_scores]

    def _finish(
        self,
        run_id: str,
        sampled: Mapping[str, Any],
        record: _Record,
        status: RunStatus | None = None,
    ) -> None:
        now = now_ms()
        metrics = [
            Metric(f"cv_{name}", value, index, now)
            for index, scores in enumerate(record.folds)
            for name, value in scores.items()
        ]
        if record.folds:
            means = mean_scores(record.folds)
            metrics += [Metric(f"cv_{name}_mean", v, 0, now) for name, v in means.items()]
        params = [Param(name, str(value)) for name, value in sampled.items()]
        if "model.family" not in sampled:
            params.append(Param("model.family", self.config.train.model.family))
        tags = [RunTag(TAG_STATE, record.state)]
        if record.error is not None:
            tags.append(RunTag(TAG_ERROR, record.error[:_ERROR_LIMIT]))
        if status is None:
            status = RunStatus.FAILED if record.state == "FAIL" else RunStatus.FINISHED
        self.store.finish_run(run_id, status, now, metrics, params, tags)

    def abandon(self, study: optuna.Study) -> None:
        """After an interruption outside the objective (Optuna only handles those inside it):
        fail this worker's last trial and kill its run, if they are still running."""
        if self._last is None:
            return
        number, run_id = self._last
        try:
            with quiet_optuna():
                study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            if run_id is not None and self.store.get_run(run_id).status == RunStatus.RUNNING:
                tags = [RunTag(TAG_STATE, "FAIL"), RunTag(TAG_ERROR, "interrupted")]
                self.store.finish_run(run_id, RunStatus.KILLED, now_ms(), tags=tags)
        except Exception as exc:  # noqa: BLE001 - never hide the interruption itself
            _log.debug("could not close trial %d after an interruption: %s", number, exc)
