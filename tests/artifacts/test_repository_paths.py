"""Every repository method that takes a logical path refuses every traversal payload.

Refusals never change state, so one store per module keeps these ~200 cases fast.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkeep.artifacts import TRAVERSAL_PAYLOADS, LocalArtifactStore, StoreArtifactRepository
from modelkeep.exceptions import UnsafePathError
from modelkeep.store.sql import SqlStore

EVIL = b"evil content"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def shared_store(workdir: Path) -> Iterator[SqlStore]:
    sql_store = SqlStore(f"sqlite:///{workdir}/mk.db")
    yield sql_store
    sql_store.close()


@pytest.fixture(scope="module")
def shared_blobs(workdir: Path) -> LocalArtifactStore:
    return LocalArtifactStore(workdir / "blobs")


@pytest.fixture(scope="module")
def shared_repo(
    shared_store: SqlStore, shared_blobs: LocalArtifactStore
) -> StoreArtifactRepository:
    return StoreArtifactRepository(shared_store, shared_blobs)


@pytest.fixture(scope="module")
def shared_run(shared_store: SqlStore, shared_repo: StoreArtifactRepository) -> str:
    run_id = shared_store.create_run(shared_store.create_experiment("hostile").id).id
    shared_repo.log_bytes(run_id, b"fine", "a/b.txt")
    return run_id


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_log_bytes_refuses_payload(
    shared_repo: StoreArtifactRepository, shared_run: str, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.log_bytes(shared_run, EVIL, payload)


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_refused_log_stores_no_blob(
    shared_repo: StoreArtifactRepository,
    shared_blobs: LocalArtifactStore,
    shared_run: str,
    payload: str,
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.log_bytes(shared_run, EVIL, payload)
    assert not shared_blobs.exists(hashlib.sha256(EVIL).hexdigest())


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_refused_log_records_nothing(
    shared_repo: StoreArtifactRepository, shared_run: str, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.log_bytes(shared_run, EVIL, payload)
    assert [record.path for record in shared_repo.list(shared_run)] == ["a/b.txt"]


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_log_file_refuses_payload_as_artifact_path(
    shared_repo: StoreArtifactRepository, shared_run: str, workdir: Path, payload: str
) -> None:
    local = workdir / "upload.txt"
    local.write_bytes(EVIL)
    with pytest.raises(UnsafePathError):
        shared_repo.log_file(shared_run, local, payload)


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_read_bytes_refuses_payload(
    shared_repo: StoreArtifactRepository, shared_run: str, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.read_bytes(shared_run, payload)


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_list_refuses_payload_prefix(
    shared_repo: StoreArtifactRepository, shared_run: str, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.list(shared_run, payload)


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_download_refuses_payload(
    shared_repo: StoreArtifactRepository, shared_run: str, tmp_path: Path, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.download(shared_run, payload, tmp_path / "dst")


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_refused_download_writes_nothing(
    shared_repo: StoreArtifactRepository, shared_run: str, tmp_path: Path, payload: str
) -> None:
    with pytest.raises(UnsafePathError):
        shared_repo.download(shared_run, payload, tmp_path / "dst")
    assert list(tmp_path.iterdir()) == []
