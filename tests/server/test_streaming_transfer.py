"""Artifact transfer through real uvicorn never holds a whole file in memory.

``tracemalloc`` sees both the client and the server (same process): the peak of traced memory
during a transfer must stay far below the size of the file moved.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.server import create_app
from modelkeep.store.sql import SqlStore

ServeApp = Callable[[FastAPI], AbstractContextManager[str]]

SIZE = 64 * 1024 * 1024
CHUNK = 1024 * 1024


def _chunks() -> Iterator[bytes]:
    for i in range(SIZE // CHUNK):
        yield bytes([i % 256]) * CHUNK


@pytest.fixture
def live(tmp_path: Path, serve_app: ServeApp) -> Iterator[tuple[httpx.Client, str]]:
    store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    run_id = store.create_run(store.create_experiment("stream").id).id
    settings = Settings(home=tmp_path, max_body_bytes=2 * SIZE)
    app = create_app(settings, store, LocalArtifactStore(tmp_path / "artifacts"))
    with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=120) as client:
        yield client, f"/api/v1/runs/{run_id}/artifacts/big.bin"
    store.close()


@pytest.mark.slow
def test_upload_is_streamed(live: tuple[httpx.Client, str]) -> None:
    client, url = live
    tracemalloc.start()
    try:
        response = client.put(url, content=_chunks())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 201
    assert response.json()["size"] == SIZE
    assert peak < SIZE // 4


@pytest.mark.slow
def test_download_is_streamed(live: tuple[httpx.Client, str]) -> None:
    client, url = live
    client.put(url, content=_chunks())
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with client.stream("GET", url) as response:
            for piece in response.iter_bytes():
                digest.update(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(b"".join(_chunks())).hexdigest()
    assert peak < SIZE // 4
