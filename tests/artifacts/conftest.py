"""Fixtures for the run-level artifact repository: a real SQLite store and a local blob store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkeep.artifacts import LocalArtifactStore, StoreArtifactRepository
from modelkeep.store.sql import SqlStore


@pytest.fixture
def metadata_store(tmp_path: Path) -> Iterator[SqlStore]:
    sql_store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    yield sql_store
    sql_store.close()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "blobs")


@pytest.fixture
def repo(metadata_store: SqlStore, blobs: LocalArtifactStore) -> StoreArtifactRepository:
    return StoreArtifactRepository(metadata_store, blobs)


@pytest.fixture
def run_id(metadata_store: SqlStore) -> str:
    return metadata_store.create_run(metadata_store.create_experiment("artifacts").id).id


@pytest.fixture
def missing_run() -> str:
    return "0" * 32


@pytest.fixture
def logged(repo: StoreArtifactRepository, run_id: str) -> str:
    """A run whose artifacts are four small files, each holding its own path."""
    for path in ["b.txt", "a/x.txt", "a/y/z.txt", "ab/c.txt"]:
        repo.log_bytes(run_id, path.encode(), path)
    return run_id


@pytest.fixture
def local_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "local-tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "top.txt").write_text("top")
    (tree / "sub" / "mid.txt").write_text("mid")
    (tree / "sub" / "deeper" / "low.bin").write_bytes(b"\x00\x01")
    return tree
