"""Downloading a run's artifacts to a local directory, and never outside it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import pytest

from modelkeep.artifacts import StoreArtifactRepository
from modelkeep.entities import ArtifactRecord
from modelkeep.exceptions import ConflictError, NotFoundError, UnsafePathError


def files_under(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_download_of_a_file_returns_its_local_path(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    dst = tmp_path / "dst"
    assert repo.download(logged, "a/y/z.txt", dst) == dst.resolve() / "a" / "y" / "z.txt"


def test_download_of_a_file_writes_only_that_file(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    repo.download(logged, "a/x.txt", tmp_path / "dst")
    assert files_under(tmp_path / "dst") == {"a/x.txt": b"a/x.txt"}


def test_download_of_a_directory_returns_its_local_path(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    assert repo.download(logged, "a", tmp_path / "dst") == (tmp_path / "dst" / "a").resolve()


def test_download_of_a_directory_keeps_the_layout(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    repo.download(logged, "a", tmp_path / "dst")
    assert files_under(tmp_path / "dst") == {"a/x.txt": b"a/x.txt", "a/y/z.txt": b"a/y/z.txt"}


def test_download_of_the_whole_tree_returns_dst(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    assert repo.download(logged, "", tmp_path / "dst") == (tmp_path / "dst").resolve()


def test_download_of_the_whole_tree_writes_every_file(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    repo.download(logged, "", tmp_path / "dst")
    assert sorted(files_under(tmp_path / "dst")) == ["a/x.txt", "a/y/z.txt", "ab/c.txt", "b.txt"]


def test_download_overwrites_an_earlier_download(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    repo.log_bytes(run_id, b"v1", "f.txt")
    repo.download(run_id, "f.txt", tmp_path / "dst")
    repo.log_bytes(run_id, b"v2", "f.txt")
    assert repo.download(run_id, "f.txt", tmp_path / "dst").read_bytes() == b"v2"


def test_download_leaves_no_temp_files(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    repo.download(logged, "", tmp_path / "dst")
    assert [p.name for p in (tmp_path / "dst").rglob(".mk-download-*")] == []


def test_download_of_unknown_path_raises_not_found(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        repo.download(logged, "nothing/here", tmp_path / "dst")


def test_download_of_unknown_run_raises_not_found(
    repo: StoreArtifactRepository, missing_run: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        repo.download(missing_run, "", tmp_path / "dst")


def test_download_replaces_a_symlink_instead_of_writing_through_it(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    (tmp_path / "dst" / "a").mkdir(parents=True)
    (tmp_path / "dst" / "a" / "x.txt").symlink_to(victim)
    repo.download(logged, "a/x.txt", tmp_path / "dst")
    assert victim.read_bytes() == b"untouched"


def test_download_refuses_a_directory_symlinked_out_of_dst(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        repo.download(logged, "a", tmp_path / "dst")


def test_refused_symlinked_download_writes_nothing_outside(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        repo.download(logged, "a/x.txt", tmp_path / "dst")
    assert list(outside.iterdir()) == []


def test_download_of_a_file_where_a_directory_exists_is_a_conflict(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    repo.log_bytes(run_id, b"x", "x")
    (tmp_path / "dst" / "x").mkdir(parents=True)
    with pytest.raises(ConflictError):
        repo.download(run_id, "x", tmp_path / "dst")


class HostileRepository(StoreArtifactRepository):
    """Lists a path that climbs out, as a compromised tracking server could."""

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        return [ArtifactRecord(run_id, "../escaped.txt", "0" * 64, 4)]

    def open(self, run_id: str, path: str) -> BinaryIO:
        return io.BytesIO(b"evil")


def test_download_refuses_a_listed_path_that_climbs_out(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    hostile = HostileRepository(repo.store, repo.blobs)
    with pytest.raises(UnsafePathError):
        hostile.download(logged, "", tmp_path / "dst")


def test_download_of_hostile_listing_writes_nothing_outside(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    hostile = HostileRepository(repo.store, repo.blobs)
    with pytest.raises(UnsafePathError):
        hostile.download(logged, "", tmp_path / "dst")
    assert not (tmp_path / "escaped.txt").exists()


def test_download_of_tree_holding_file_and_directory_of_one_name_is_a_conflict(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    repo.log_bytes(run_id, b"file", "x")
    repo.log_bytes(run_id, b"nested", "x/y")
    with pytest.raises(ConflictError):
        repo.download(run_id, "", tmp_path / "dst")


class PartlyHostileRepository(StoreArtifactRepository):
    """Lists one good path, then one that climbs out."""

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        return [
            ArtifactRecord(run_id, "good.txt", "0" * 64, 4),
            ArtifactRecord(run_id, "../escaped.txt", "0" * 64, 4),
        ]

    def open(self, run_id: str, path: str) -> BinaryIO:
        return io.BytesIO(b"data")


def test_hostile_listing_is_refused_before_any_file_is_written(
    repo: StoreArtifactRepository, logged: str, tmp_path: Path
) -> None:
    hostile = PartlyHostileRepository(repo.store, repo.blobs)
    with pytest.raises(UnsafePathError):
        hostile.download(logged, "", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
