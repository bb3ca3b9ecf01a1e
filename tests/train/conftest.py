"""Fixtures for training tests: a fresh tracking store and scikit-learn's bundled data as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

import modelkeep as mk
from modelkeep.tracking import fluent

_LOADERS = {
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "diabetes": load_diabetes,
}


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    """Point the fluent API at a fresh SQLite store for one test."""
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    mk.set_tracking_uri(uri)
    yield uri
    fluent.reset()
    mk.set_tracking_uri(None)


@pytest.fixture(scope="session")
def csv_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """breast_cancer (binary), wine (3 classes) and diabetes (regression) as CSV files, each
    with its label in the column ``target``."""
    folder = tmp_path_factory.mktemp("datasets")
    paths = {}
    for name, loader in _LOADERS.items():
        path = folder / f"{name}.csv"
        loader(as_frame=True).frame.to_csv(path, index=False)
        paths[name] = path
    return paths
