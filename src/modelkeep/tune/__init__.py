"""Hyperparameter optimisation with Optuna, every trial a tracked child run.

``tune("tune.yaml")`` reads a training config with a ``tune:`` section (the search space,
metric, sampler, pruner and budget; see :mod:`modelkeep.tune.config`), runs an Optuna study
whose storage is the tracking store's own database, records each trial as a child run of the
study's parent run, and refits, evaluates, logs and (if asked) registers the best
configuration. Several workers given the same study name share the study, on one machine
(``jobs``) or many (PostgreSQL). This is the only package that imports Optuna.

Example:
    >>> from modelkeep.tune import tune
    >>> result = tune("tune.yaml", n_trials=30)  # doctest: +SKIP
    >>> result.best_params, result.best_value, result.version  # doctest: +SKIP
"""

from __future__ import annotations

from modelkeep.tune.config import TuneConfig, load_tune_config
from modelkeep.tune.runner import TuneResult, tune

__all__ = ["TuneConfig", "TuneResult", "load_tune_config", "tune"]
