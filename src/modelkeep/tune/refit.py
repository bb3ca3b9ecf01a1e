"""Refit the best configuration on all training rows, evaluate it on the test rows, log it.

The refit is a child run of the study's parent run, named ``<study>-best``, recorded by the
training module exactly as ``modelkeep train`` records a run with the best parameters
(:func:`modelkeep.train.runner.fit_and_log`): the config, the data profile, cross-validated
and test metrics, plots, resource use and the model package. The cross-validated scores are
the best trial's own (the same configuration, seed and folds give the same scores), read back
from its trial run rather than computed again; only a best trial without a complete run (a
study made outside modelkeep) is cross-validated anew. It is registered under
``register.name`` (and ``register.alias`` moved to it) when the config asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelkeep.tracking import ActiveRun, Client
from modelkeep.tracking.buffer import MetricBuffer
from modelkeep.train import PreparedData, build_pipeline
from modelkeep.train.record import TAG_FAMILY, TAG_TASK
from modelkeep.train.runner import fit_and_log, with_params
from modelkeep.tune.config import TuneConfig
from modelkeep.tune.objective import TAG_ROLE, TAG_STATE, TAG_STUDY, TAG_TRIAL, model_params
from modelkeep.tune.study import OpenedStudy

__all__ = ["Refit", "refit_best", "trial_fold_scores"]


@dataclass(frozen=True)
class Refit:
    """The refit run: its id, metrics (``test_*``, ``cv_*_mean``), model and version."""

    run_id: str
    metrics: Mapping[str, float]
    model_uri: str
    version: int | None


def refit_best(
    config: TuneConfig,
    data: PreparedData,
    client: Client,
    opened: OpenedStudy,
    best_params: Mapping[str, Any],
    best_trial: int,
) -> Refit:
    """Train the best configuration as a child run of the study's parent, and register it if
    the config asks."""
    train_config = with_params(config.train, model_params(best_params))
    pipeline = build_pipeline(train_config, data=data)
    study_name = opened.study.study_name
    tags = {
        TAG_STUDY: study_name,
        TAG_ROLE: "refit",
        "modelkeep.tune.best_trial": str(best_trial),
        TAG_TASK: train_config.task,
        TAG_FAMILY: train_config.model.family,
    }
    run = client.create_run(
        opened.experiment_id,
        run_name=f"{study_name}-best",
        tags=tags,
        parent_run_id=opened.parent_run_id,
    )
    folds = trial_fold_scores(client, opened, best_trial, train_config.metrics, len(data.folds))
    # A buffer of our own: the run logs through this client's store, not the fluent API's.
    with ActiveRun(client, MetricBuffer(client.store.log_batch), run) as active:
        metrics, model_uri = fit_and_log(active, train_config, data, pipeline, folds)
    version = _register(client, train_config.register, model_uri, study_name)
    return Refit(run.id, metrics, model_uri, version)


def trial_fold_scores(
    client: Client, opened: OpenedStudy, trial: int, metrics: Sequence[str], n_folds: int
) -> list[dict[str, float]] | None:
    """The per-fold scores trial ``trial``'s COMPLETE run logged (``cv_<metric>`` at step =
    fold), or None when there is no such run with every metric on every fold."""
    found = client.store.search_runs(
        [opened.experiment_id], f"tags.`{TAG_TRIAL}` = '{trial}'", max_results=1000
    )
    study_name = opened.study.study_name
    for run in found:
        if run.tags.get(TAG_STUDY) != study_name or run.tags.get(TAG_STATE) != "COMPLETE":
            continue
        folds: dict[int, dict[str, float]] = {}
        for name in metrics:
            for point in client.store.get_metric_history(run.id, f"cv_{name}"):
                folds.setdefault(point.step, {})[name] = point.value
        if sorted(folds) == list(range(n_folds)) and all(
            len(scores) == len(metrics) for scores in folds.values()
        ):
            return [folds[index] for index in range(n_folds)]
    return None


def _register(client: Client, spec: Any, model_uri: str, study_name: str) -> int | None:
    if spec is None:
        return None
    version = client.register_model(model_uri, spec.name, description=spec.description)
    if spec.alias:
        client.set_alias(
            spec.name, spec.alias, version.version, reason=f"modelkeep tune {study_name}"
        )
    return int(version.version)
