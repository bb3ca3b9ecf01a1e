"""Hostile artifact paths against every endpoint that takes one, through real uvicorn.

Each payload is percent-encoded byte by byte into the URL, so it reaches the server raw (no
client-side normalisation of ``..``), and uvicorn decodes it exactly once, as in production.
Every request must answer 4xx, and nothing outside the artifact root may be created or read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from modelkeep.artifacts import TRAVERSAL_PAYLOADS, LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.server import create_app
from modelkeep.store.sql import SqlStore

SECRET = b"top-secret-content"
REFUSAL_CODES = {"unsafe_path", "invalid_input", "not_found"}

ServeApp = Callable[[FastAPI], AbstractContextManager[str]]


@dataclass(frozen=True)
class Target:
    client: httpx.Client
    store: SqlStore
    blobs: LocalArtifactStore
    run_id: str
    tmp: Path
    artifact_root: Path


def _raw(text: str) -> str:
    """Percent-encode every byte, so no client or proxy rewrites the path on the way."""
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


def _files_outside_root(target: Target) -> set[Path]:
    return {
        p
        for p in target.tmp.rglob("*")
        if not p.is_relative_to(target.artifact_root) and not p.name.startswith("mk.db")
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, serve_app: ServeApp) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("traversal")
    (tmp / "secret.txt").write_bytes(SECRET)
    (tmp / "etc").mkdir()
    (tmp / "etc" / "passwd").write_bytes(SECRET)
    store = SqlStore(f"sqlite:///{tmp}/mk.db")
    artifact_root = tmp / "store" / "artifacts"
    blobs = LocalArtifactStore(artifact_root)
    run_id = store.create_run(store.create_experiment("traversal").id).id
    app = create_app(Settings(home=tmp / "home"), store, blobs)
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield Target(client, store, blobs, run_id, tmp, artifact_root)
    store.close()


def _upload(t: Target, payload: str, run_id: str | None = None) -> httpx.Response:
    url = f"/api/v1/runs/{run_id or t.run_id}/artifacts/{_raw(payload)}"
    return t.client.put(url, content=SECRET)


def _download(t: Target, payload: str, run_id: str | None = None) -> httpx.Response:
    return t.client.get(f"/api/v1/runs/{run_id or t.run_id}/artifacts/{_raw(payload)}")


def _list(t: Target, payload: str) -> httpx.Response:
    return t.client.get(f"/api/v1/runs/{t.run_id}/artifacts?prefix={_raw(payload)}")


def _get_record(t: Target, payload: str) -> httpx.Response:
    return t.client.get(f"/api/v1/runs/{t.run_id}/artifact-records/{_raw(payload)}")


def _record(t: Target, payload: str) -> httpx.Response:
    body = {"path": payload, "digest": "0" * 64, "size": 1}
    return t.client.post(f"/api/v1/runs/{t.run_id}/artifact-records", json=body)


ENDPOINTS: dict[str, Callable[[Target, str], httpx.Response]] = {
    "PUT artifacts/{path}": _upload,
    "GET artifacts/{path}": _download,
    "GET artifacts?prefix=": _list,
    "GET artifact-records/{path}": _get_record,
    "POST artifact-records": _record,
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS, ids=ascii)
def test_hostile_path_is_refused_with_4xx(target: Target, endpoint: str, payload: str) -> None:
    before = _files_outside_root(target)
    response = ENDPOINTS[endpoint](target, payload)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in REFUSAL_CODES
    assert SECRET not in response.content
    assert _files_outside_root(target) == before


def test_no_hostile_path_was_stored(target: Target) -> None:
    for payload in TRAVERSAL_PAYLOADS:
        _upload(target, payload)
        _record(target, payload)
    assert target.store.list_artifacts(target.run_id) == []


def test_no_hostile_upload_left_a_blob(target: Target) -> None:
    for payload in TRAVERSAL_PAYLOADS:
        _upload(target, payload)
    assert not target.blobs.exists(hashlib.sha256(SECRET).hexdigest())


def test_safe_path_encoded_the_same_way_works(target: Target) -> None:
    # The control case: the byte-by-byte encoding itself is not what gets payloads refused.
    run_id = target.store.create_run(target.store.create_experiment("control").id).id
    assert _upload(target, "safe/name.txt", run_id).status_code == 201
    assert _download(target, "safe/name.txt", run_id).content == SECRET
