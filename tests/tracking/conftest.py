from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import modelkeep as mk
from modelkeep.tracking import fluent


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    """Point the fluent API at a fresh SQLite store for one test."""
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    mk.set_tracking_uri(uri)
    yield uri
    fluent.reset()
    mk.set_tracking_uri(None)
