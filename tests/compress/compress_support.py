"""Shared set-up of the compression tests: a SQLite store under ``tmp_path``, small models
logged and registered in it, and generated tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from modelkeep.config import Settings
from modelkeep.tracking import Client

FAST_CALLS = 10  # single-row calls timed per variant: enough for a median, quick


def store_settings(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


def classification_table(rows: int, seed: int = 0, features: int = 6) -> pd.DataFrame:
    """``rows`` rows of ``features`` numeric columns f0.. and a 0/1 column ``label``."""
    X, y = make_classification(
        rows, features, n_informative=4, n_redundant=0, flip_y=0.05, random_state=seed
    )
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(features)])
    table["label"] = y
    return table


def regression_table(rows: int, seed: int = 0, features: int = 8) -> pd.DataFrame:
    """``rows`` rows of ``features`` normal columns and ``value``, the same linear function of
    them (plus noise) whatever the seed."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(features)])
    weights = np.random.default_rng(1234).normal(size=features)
    table["value"] = X @ weights + rng.normal(0, 0.1, rows)
    return table


def register(settings: Settings, model: Any, example: pd.DataFrame, name: str) -> str:
    """Log ``model`` with ``example`` as input example and register it; its models:/ URI."""
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        experiment = client.get_or_create_experiment("compress-tests")
        run = client.create_run(experiment.id, run_name=name)
        info = client.log_model(run.id, model, "model", input_example=example.head(5))
        client.set_terminated(run.id)
        version = client.register_model(info.uri, name)
    return f"models:/{name}/{version.version}"


def features(table: pd.DataFrame, target: str) -> pd.DataFrame:
    return table.drop(columns=[target])
