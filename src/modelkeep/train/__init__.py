"""Tracked training from a config: ``train("train.yaml")`` and the gradient-descent regressor.

Example:
    >>> from modelkeep.train import train
    >>> result = train({"task": "classification", "data": "churn.csv", "target": "churned",
    ...                 "model": {"family": "random_forest", "params": {"n_estimators": 100}},
    ...                 "register": {"name": "churn"}})  # doctest: +SKIP
    >>> result.run_id, result.metrics["test_roc_auc"], result.version  # doctest: +SKIP

The config keys are documented in :mod:`modelkeep.train.config`, the model families in
:mod:`modelkeep.train.families`, the splits in :mod:`modelkeep.train.splits` and what a run
records in :mod:`modelkeep.train.runner`.
"""

from __future__ import annotations

from modelkeep.train.config import TrainConfig, load_train_config
from modelkeep.train.gd import GradientDescentRegressor
from modelkeep.train.prepare import PreparedData, prepare_data
from modelkeep.train.runner import TrainResult, build_pipeline, cross_validate, train

__all__ = [
    "GradientDescentRegressor",
    "PreparedData",
    "TrainConfig",
    "TrainResult",
    "build_pipeline",
    "cross_validate",
    "load_train_config",
    "prepare_data",
    "train",
]
