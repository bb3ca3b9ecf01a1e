"""Artifact routes: upload (raw body, streamed), download (streamed), list, and records.

Every path from a URL or a body goes through ``validate_artifact_path`` before anything is
read or written; the upload streams the request body into the blob store chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelkeep.artifacts import StoreArtifactRepository, validate_artifact_path
from modelkeep.artifacts.base import CHUNK_SIZE
from modelkeep.entities import ArtifactRecord, Role
from modelkeep.server.body_reader import RequestBodyReader
from modelkeep.server.deps import ArtifactsDep, SettingsDep, StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas import ArtifactList, ArtifactRecordCreate, ArtifactRecordPublic
from modelkeep.store.base import BaseStore

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runs", tags=["artifacts"], responses=ERROR_RESPONSES)

_READ = [Depends(require(Role.READER))]
_WRITE = [Depends(require(Role.WRITER))]
_RAW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        },
    }
}


def _store_upload(
    repo: StoreArtifactRepository, run_id: str, path: str, body: BinaryIO, max_bytes: int
) -> ArtifactRecord:
    logical = validate_artifact_path(path)
    repo.store.get_run(run_id)  # an unknown run is refused before a byte is stored
    return repo.log_stream(run_id, body, logical, max_bytes=max_bytes)


@router.put(
    "/{run_id}/artifacts/{path:path}",
    status_code=status.HTTP_201_CREATED,
    dependencies=_WRITE,
    openapi_extra=_RAW_BODY,
)
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    store: StoreDep,
    blobs: ArtifactsDep,
    settings: SettingsDep,
) -> ArtifactRecordPublic:
    """Store the raw request body as the artifact ``path`` of the run (last write wins)."""
    repo = StoreArtifactRepository(store, blobs)
    body = RequestBodyReader.wrap(request.stream())
    record = await run_in_threadpool(
        _store_upload, repo, run_id, path, body, settings.max_body_bytes
    )
    return ArtifactRecordPublic.from_entity(record)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


@router.get(
    "/{run_id}/artifacts/{path:path}",
    dependencies=_READ,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(
    run_id: str, path: str, store: StoreDep, blobs: ArtifactsDep
) -> StreamingResponse:
    """The content of one artifact, streamed."""
    record = store.get_artifact(run_id, validate_artifact_path(path))
    stream = blobs.open(record.digest)
    return StreamingResponse(
        _chunks(stream),
        media_type="application/octet-stream",
        headers={"Content-Length": str(record.size)},
    )


@router.get("/{run_id}/artifacts", dependencies=_READ)
def list_artifacts(
    run_id: str, store: StoreDep, blobs: ArtifactsDep, prefix: str = ""
) -> ArtifactList:
    """Artifacts whose path is ``prefix`` or lies under it, sorted by path."""
    records = StoreArtifactRepository(store, blobs).list(run_id, prefix)
    return ArtifactList(artifacts=[ArtifactRecordPublic.from_entity(r) for r in records])


def _record(store: BaseStore, run_id: str, body: ArtifactRecordCreate) -> ArtifactRecord:
    return store.record_artifact(run_id, validate_artifact_path(body.path), body.digest, body.size)


@router.post(
    "/{run_id}/artifact-records", status_code=status.HTTP_201_CREATED, dependencies=_WRITE
)
def record_artifact(
    run_id: str, body: ArtifactRecordCreate, store: StoreDep
) -> ArtifactRecordPublic:
    """Point the artifact ``path`` at an already stored blob."""
    return ArtifactRecordPublic.from_entity(_record(store, run_id, body))


@router.get("/{run_id}/artifact-records/{path:path}", dependencies=_READ)
def get_artifact_record(run_id: str, path: str, store: StoreDep) -> ArtifactRecordPublic:
    """The record of one artifact (digest, size), without its content."""
    return ArtifactRecordPublic.from_entity(
        store.get_artifact(run_id, validate_artifact_path(path))
    )
