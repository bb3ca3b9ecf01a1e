"""Refit the best configuration on all training rows, evaluate it on the test rows, log it.

The refit is a child run of the study's parent run, named ``<study>-best``, recorded by the
training module exactly as ``modelkeep train`` records a run with the best parameters
(:func:`modelkeep.train.runner.fit_and_log`): the config, the data profile, cross-validated
and test metrics, plots, resource use and the model package. It is registered under
``register.name`` (and ``register.alias`` moved to it) when the config asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.tracking import ActiveRun, Client
from modelkeep.tracking.buffer import MetricBuffer
from modelkeep.train import PreparedData, build_pipeline
from modelkeep.train.record import TAG_FAMILY, TAG_TASK
from modelkeep.train.runner import fit_and_log, with_params
from modelkeep.tune.config import TuneConfig
from modelkeep.tune.objective import TAG_ROLE, TAG_STUDY, model_params
from modelkeep.tune.study import OpenedStudy

__all__ = ["Refit", "refit_best"]


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
    # A buffer of our own: the run logs through this client's store, not the fluent API's.
    with ActiveRun(client, MetricBuffer(client.store.log_batch), run) as active:
        metrics, model_uri = fit_and_log(active, train_config, data, pipeline)
    version = _register(client, train_config.register, model_uri, study_name)
    return Refit(run.id, metrics, model_uri, version)


def _register(client: Client, spec: Any, model_uri: str, study_name: str) -> int | None:
    if spec is None:
        return None
    version = client.register_model(model_uri, spec.name, description=spec.description)
    if spec.alias:
        client.set_alias(
            spec.name, spec.alias, version.version, reason=f"modelkeep tune {study_name}"
        )
    return int(version.version)
