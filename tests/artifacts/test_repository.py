"""StoreArtifactRepository on a real SQLite metadata store and a local blob store."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from modelkeep.artifacts import LocalArtifactStore, StoreArtifactRepository
from modelkeep.entities import ArtifactRecord
from modelkeep.exceptions import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnsafePathError,
)


def paths(records: list[ArtifactRecord]) -> list[str]:
    return [record.path for record in records]


# ---- logging ----------------------------------------------------------------------------
def test_log_bytes_round_trips(repo: StoreArtifactRepository, run_id: str) -> None:
    repo.log_bytes(run_id, b"notes", "notes/a.txt")
    assert repo.read_bytes(run_id, "notes/a.txt") == b"notes"


def test_log_bytes_returns_the_normalised_record(
    repo: StoreArtifactRepository, run_id: str
) -> None:
    record = repo.log_bytes(run_id, b"abc", "notes//./a.txt")
    assert (record.run_id, record.path, record.size) == (run_id, "notes/a.txt", 3)


def test_log_bytes_records_the_sha256_digest(repo: StoreArtifactRepository, run_id: str) -> None:
    record = repo.log_bytes(run_id, b"abc", "a.txt")
    assert record.digest == hashlib.sha256(b"abc").hexdigest()


def test_logging_a_path_again_replaces_it(repo: StoreArtifactRepository, run_id: str) -> None:
    repo.log_bytes(run_id, b"old", "a.txt")
    repo.log_bytes(run_id, b"new", "a.txt")
    assert repo.read_bytes(run_id, "a.txt") == b"new"


def test_same_content_under_two_paths_shares_one_blob(
    repo: StoreArtifactRepository, run_id: str, blobs: LocalArtifactStore
) -> None:
    repo.log_bytes(run_id, b"shared", "a.txt")
    repo.log_bytes(run_id, b"shared", "b/c.txt")
    assert len([p for p in (blobs.root / "blobs").rglob("*") if p.is_file()]) == 1


def test_log_stream_over_max_bytes_records_nothing(
    repo: StoreArtifactRepository, run_id: str
) -> None:
    with pytest.raises(PayloadTooLargeError):
        repo.log_stream(run_id, io.BytesIO(b"x" * 11), "big.bin", max_bytes=10)
    assert repo.list(run_id) == []


def test_log_to_unknown_run_raises_not_found(
    repo: StoreArtifactRepository, missing_run: str
) -> None:
    with pytest.raises(NotFoundError):
        repo.log_bytes(missing_run, b"x", "a.txt")


def test_log_file_without_artifact_path_uses_file_name(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    assert repo.log_file(run_id, local_tree / "top.txt").path == "top.txt"


def test_log_file_puts_file_inside_artifact_path(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    assert repo.log_file(run_id, local_tree / "top.txt", "plots/2024/").path == (
        "plots/2024/top.txt"
    )


def test_log_file_content_round_trips(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    record = repo.log_file(run_id, local_tree / "sub" / "deeper" / "low.bin", "bin")
    assert repo.read_bytes(run_id, record.path) == b"\x00\x01"


def test_log_file_of_missing_file_raises_not_found(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        repo.log_file(run_id, tmp_path / "missing.txt")


def test_log_file_of_directory_is_invalid(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    with pytest.raises(InvalidInputError):
        repo.log_file(run_id, local_tree / "sub")


@pytest.mark.parametrize("artifact_path", ["../up", "/abs", "a/%2e%2e/..", "a\\b"])
def test_log_file_refuses_unsafe_artifact_path(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path, artifact_path: str
) -> None:
    with pytest.raises(UnsafePathError):
        repo.log_file(run_id, local_tree / "top.txt", artifact_path)


def test_log_dir_stores_every_file_with_its_relative_path(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    records = repo.log_dir(run_id, local_tree)
    assert paths(records) == ["sub/deeper/low.bin", "sub/mid.txt", "top.txt"]


def test_log_dir_puts_contents_under_artifact_path(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    repo.log_dir(run_id, local_tree, "model")
    assert paths(repo.list(run_id)) == [
        "model/sub/deeper/low.bin",
        "model/sub/mid.txt",
        "model/top.txt",
    ]


def test_log_dir_content_round_trips(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    repo.log_dir(run_id, local_tree, "model")
    assert repo.read_bytes(run_id, "model/sub/mid.txt") == b"mid"


def test_log_dir_of_empty_directory_logs_nothing(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    assert repo.log_dir(run_id, tmp_path / "empty") == []


def test_log_dir_of_missing_directory_raises_not_found(
    repo: StoreArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        repo.log_dir(run_id, tmp_path / "missing")


def test_log_dir_of_a_file_is_invalid(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    with pytest.raises(InvalidInputError):
        repo.log_dir(run_id, local_tree / "top.txt")


def test_log_dir_skips_symlinked_file_leading_outside(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (local_tree / "leak.txt").symlink_to(tmp_path / "secret.txt")
    assert "leak.txt" not in paths(repo.log_dir(run_id, local_tree))


def test_log_dir_does_not_descend_symlinked_directory_leading_outside(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path, tmp_path: Path
) -> None:
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.pem").write_text("key")
    (local_tree / "linked").symlink_to(tmp_path / "private", target_is_directory=True)
    assert paths(repo.log_dir(run_id, local_tree)) == [
        "sub/deeper/low.bin",
        "sub/mid.txt",
        "top.txt",
    ]


def test_log_dir_stores_symlinked_file_staying_inside(
    repo: StoreArtifactRepository, run_id: str, local_tree: Path
) -> None:
    (local_tree / "alias.txt").symlink_to(local_tree / "top.txt")
    repo.log_dir(run_id, local_tree)
    assert repo.read_bytes(run_id, "alias.txt") == b"top"


# ---- listing and reading ----------------------------------------------------------------
def test_list_without_prefix_gives_the_whole_tree_sorted(
    repo: StoreArtifactRepository, logged: str
) -> None:
    assert paths(repo.list(logged)) == ["a/x.txt", "a/y/z.txt", "ab/c.txt", "b.txt"]


def test_list_prefix_matches_whole_segments_only(
    repo: StoreArtifactRepository, logged: str
) -> None:
    assert paths(repo.list(logged, "a")) == ["a/x.txt", "a/y/z.txt"]


def test_list_prefix_may_name_one_file(repo: StoreArtifactRepository, logged: str) -> None:
    assert paths(repo.list(logged, "a/x.txt")) == ["a/x.txt"]


def test_list_of_unknown_run_raises_not_found(
    repo: StoreArtifactRepository, missing_run: str
) -> None:
    with pytest.raises(NotFoundError):
        repo.list(missing_run)


def test_open_streams_the_content(repo: StoreArtifactRepository, logged: str) -> None:
    with repo.open(logged, "a/y/z.txt") as stream:
        assert stream.read() == b"a/y/z.txt"


def test_read_of_unknown_path_raises_not_found(repo: StoreArtifactRepository, logged: str) -> None:
    with pytest.raises(NotFoundError):
        repo.read_bytes(logged, "a/missing.txt")


def test_read_of_unknown_run_raises_not_found(
    repo: StoreArtifactRepository, missing_run: str
) -> None:
    with pytest.raises(NotFoundError):
        repo.read_bytes(missing_run, "a.txt")
