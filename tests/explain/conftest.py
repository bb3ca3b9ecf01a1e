"""One store for all explainability tests, with every model they explain registered once."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from explain_support import (
    FEATURES,
    AdditiveScore,
    SignalClassifier,
    make_rows,
    register_object,
    register_pipeline,
    settings_for,
    train_registered,
)
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

import modelkeep as mk
from modelkeep.config import Settings
from modelkeep.tracking import Client, fluent


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, str]]]:
    """(settings, model name -> URI) of a store holding every model the tests explain."""
    home = tmp_path_factory.mktemp("explain-home")
    settings = settings_for(home)
    frame = make_rows(240, 0)
    frame.to_csv(home / "rows.csv", index=False)
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        uris = {
            "forest": train_registered(home, "forest", "random_forest", "classification", "y",
                                       {"n_estimators": 15, "max_depth": 5}),
            "hist": train_registered(home, "hist", "hist_gradient_boosting", "classification",
                                     "y", {"max_iter": 15}),
            "logistic": train_registered(home, "logistic", "logistic", "classification", "y", {}),
        }  # fmt: skip
    finally:
        fluent.reset()
        mk.set_tracking_uri(None)
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        built = {
            "tree": (DecisionTreeClassifier(max_depth=4, random_state=0), "y"),
            "boosted": (GradientBoostingClassifier(n_estimators=15, random_state=0), "y"),
            "ridge": (Ridge(alpha=1.0), "yr"),
            "logistic3": (LogisticRegression(max_iter=500), "y3"),
            "forest3": (RandomForestClassifier(n_estimators=10, random_state=0), "y3"),
        }
        for name, (estimator, target) in built.items():
            uris[name] = register_pipeline(client, name, estimator, frame, target)
        uris["additive"] = register_object(client, "additive", AdditiveScore(), frame[FEATURES])
        uris["signal"] = register_object(client, "signal", SignalClassifier(), frame[FEATURES])
    yield settings, uris


@pytest.fixture(scope="session")
def settings(world: tuple[Settings, dict[str, str]]) -> Settings:
    return world[0]


@pytest.fixture(scope="session")
def uris(world: tuple[Settings, dict[str, str]]) -> dict[str, str]:
    return world[1]


@pytest.fixture(scope="session")
def rows() -> pd.DataFrame:
    """Twelve unseen rows (feature columns only) to explain."""
    return make_rows(12, 1)[FEATURES]


@pytest.fixture(scope="session")
def valid() -> pd.DataFrame:
    """Unseen validation rows with every target column."""
    return make_rows(300, 2)
