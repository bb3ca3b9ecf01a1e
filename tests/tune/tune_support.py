"""Shared helpers of the tuning tests: small bundled datasets written as CSV, and configs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import yaml

from modelkeep.tune.study import close_storage, open_storage


@contextmanager
def load_study(name: str, url: str, *, journal: bool = True) -> Iterator[optuna.Study]:
    """The Optuna study ``name`` in database ``url`` (modelkeep's journal tables, or Optuna's
    RDB tables for a ``--storage`` URL), its connections closed afterwards."""
    storage = open_storage(url, study=name, journal=journal)
    try:
        yield optuna.load_study(study_name=name, storage=storage)
    finally:
        close_storage(storage)


def write_breast_cancer(folder: Path) -> Path:
    """scikit-learn's breast cancer table (569 rows, binary ``target``) as a CSV file."""
    from sklearn.datasets import load_breast_cancer

    path = folder / "breast_cancer.csv"
    if not path.exists():
        load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


def write_diabetes(folder: Path) -> Path:
    """scikit-learn's diabetes table (442 rows, numeric ``target``) as a CSV file."""
    from sklearn.datasets import load_diabetes

    path = folder / "diabetes.csv"
    if not path.exists():
        load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


def classification_config(data: Path, **tune: Any) -> dict[str, Any]:
    """Random forest vs logistic regression on breast cancer, 2-fold CV, 4 trials."""
    settings: dict[str, Any] = {
        "n_trials": 4,
        "sampler": "random",
        "space": {
            "model.family": {"type": "categorical", "choices": ["random_forest", "logistic"]},
            "model.params.max_depth": {
                "type": "int",
                "low": 2,
                "high": 5,
                "when": {"model.family": "random_forest"},
            },
            "model.params.n_estimators": {
                "type": "int",
                "low": 5,
                "high": 15,
                "step": 5,
                "when": {"model.family": "random_forest"},
            },
            "model.params.C": {
                "type": "float",
                "low": 0.01,
                "high": 10.0,
                "log": True,
                "when": {"model.family": "logistic"},
            },
        },
    }
    settings.update(tune)
    return {
        "task": "classification",
        "data": str(data),
        "target": "target",
        "model": {"family": "random_forest", "params": {"n_estimators": 5}},
        "split": {"kind": "stratified_kfold", "n_splits": 2, "test_size": 0.25},
        "metrics": ["roc_auc", "accuracy"],
        "seed": 7,
        "experiment": "tuning",
        "tune": settings,
    }


def regression_config(data: Path, **tune: Any) -> dict[str, Any]:
    """Random forest depth on diabetes, minimising RMSE, 2-fold CV, 3 trials."""
    settings: dict[str, Any] = {
        "n_trials": 3,
        "space": {"model.params.max_depth": {"type": "int", "low": 2, "high": 6}},
    }
    settings.update(tune)
    return {
        "task": "regression",
        "data": str(data),
        "target": "target",
        "model": {"family": "random_forest", "params": {"n_estimators": 5}},
        "split": {"kind": "kfold", "n_splits": 2},
        "seed": 3,
        "experiment": "diabetes",
        "tune": settings,
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
