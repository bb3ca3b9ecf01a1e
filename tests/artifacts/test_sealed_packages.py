"""A folder holding MODEL.json is a sealed model package: nothing more is written into it, on
the local repository and through the server (RestArtifactRepository -> server -> store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkeep.artifacts import LocalArtifactStore, StoreArtifactRepository
from modelkeep.artifacts.repository import SEALING_FILE, BaseRunArtifactRepository
from modelkeep.exceptions import ConflictError
from modelkeep.registry.manifest import MANIFEST_FILE
from modelkeep.store.sql import SqlStore


@pytest.fixture(params=["local", "rest"])
def repo_and_run(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[BaseRunArtifactRepository, str]]:
    backing = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    blobs = LocalArtifactStore(tmp_path / "blobs")
    run_id = backing.create_run(backing.create_experiment("e").id).id
    if request.param == "local":
        yield StoreArtifactRepository(backing, blobs), run_id
    else:
        from fastapi.testclient import TestClient

        from modelkeep.config import Settings
        from modelkeep.server import create_app
        from modelkeep.store.rest import RestStore
        from modelkeep.store.rest_artifacts import RestArtifactRepository

        app = create_app(Settings(home=tmp_path / "home"), backing, blobs)
        with TestClient(app) as http:
            yield RestArtifactRepository(RestStore("http://testserver", client=http)), run_id
    backing.close()


@pytest.fixture
def package(tmp_path: Path) -> Path:
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    (folder / MANIFEST_FILE).write_text("{}")
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "sub" / "extra.txt").write_text("x")
    return folder


def test_the_sealing_file_is_the_manifest() -> None:
    assert SEALING_FILE == MANIFEST_FILE


def test_log_dir_writes_the_whole_package(
    repo_and_run: tuple[BaseRunArtifactRepository, str], package: Path
) -> None:
    repo, run_id = repo_and_run
    repo.log_dir(run_id, package, "model")
    paths = [r.path for r in repo.list(run_id, "model")]
    assert paths == ["model/MODEL.json", "model/model.bin", "model/sub/extra.txt"]


@pytest.mark.parametrize("path", ["model/notes.txt", "model/sub/more.txt", "model/MODEL.json"])
def test_nothing_more_is_written_into_a_package(
    repo_and_run: tuple[BaseRunArtifactRepository, str], package: Path, path: str
) -> None:
    repo, run_id = repo_and_run
    repo.log_dir(run_id, package, "model")
    before = [(r.path, r.digest) for r in repo.list(run_id)]
    with pytest.raises(ConflictError) as caught:
        repo.log_bytes(run_id, b"sneaky", path)
    assert caught.value.field == "path"
    assert [(r.path, r.digest) for r in repo.list(run_id)] == before


def test_siblings_of_a_package_stay_writable(
    repo_and_run: tuple[BaseRunArtifactRepository, str], package: Path
) -> None:
    repo, run_id = repo_and_run
    repo.log_dir(run_id, package, "model")
    assert repo.log_bytes(run_id, b"ok", "model2/notes.txt").path == "model2/notes.txt"
    assert repo.log_bytes(run_id, b"ok", "modelnotes.txt").path == "modelnotes.txt"
