"""LocalArtifactStore: the conformance suite plus what only a local directory can show."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelkeep.artifacts import BaseArtifactStore, LocalArtifactStore
from modelkeep.exceptions import PayloadTooLargeError, UnsafePathError
from modelkeep.testing.artifact_conformance import ArtifactStoreConformance, chunked_stream

KILLED_CHUNK = bytes(range(256)) * 4096  # 1 MiB
KILLED_CHUNKS = 20
KILLED_DATA = KILLED_CHUNK * KILLED_CHUNKS

# The child streams 1 MiB chunks, says so after the third, then slows down so the parent
# can kill it while the blob is half written.
WRITER = textwrap.dedent(
    f"""
    import sys, time
    from pathlib import Path
    from modelkeep.artifacts import LocalArtifactStore

    CHUNK = bytes(range(256)) * 4096

    class SlowStream:
        sent = 0

        def read(self, size=-1):
            if self.sent == 3:
                sys.stdout.write("mid-write\\n")
                sys.stdout.flush()
            if self.sent >= {KILLED_CHUNKS}:
                return b""
            if self.sent >= 3:
                time.sleep(0.5)
            self.sent += 1
            return CHUNK

    LocalArtifactStore(Path(sys.argv[1])).put_stream(SlowStream())
    sys.stdout.write("finished\\n")
    """
)


class TestLocalArtifactStoreConformance(ArtifactStoreConformance):
    @pytest.fixture
    def artifact_store(self, tmp_path: Path) -> BaseArtifactStore:
        return LocalArtifactStore(tmp_path / "store")


def blob_files(root: Path) -> list[Path]:
    return sorted(path for path in (root / "blobs").rglob("*") if not path.is_dir())


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "tmp").iterdir())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> LocalArtifactStore:
    return LocalArtifactStore(root)


# ---- layout and deduplication -----------------------------------------------------------
def test_blob_is_stored_under_two_level_fan_out(store: LocalArtifactStore, root: Path) -> None:
    info = store.put_bytes(b"layout")
    assert blob_files(root) == [root.resolve() / "blobs" / info.digest[:2] / info.digest[2:]]


def test_same_content_is_stored_once_on_disk(store: LocalArtifactStore, root: Path) -> None:
    store.put_bytes(b"twice")
    store.put_bytes(b"twice")
    assert len(blob_files(root)) == 1


def test_concurrent_puts_of_same_content_store_one_blob(
    store: LocalArtifactStore, root: Path
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = set(pool.map(lambda _: store.put_bytes(b"race" * 100_000), range(16)))
    assert (len(infos), len(blob_files(root))) == (1, 1)


def test_blobs_are_read_only(store: LocalArtifactStore, root: Path) -> None:
    store.put_bytes(b"immutable")
    assert blob_files(root)[0].stat().st_mode & 0o222 == 0


def test_successful_put_leaves_no_temp_file(store: LocalArtifactStore, root: Path) -> None:
    store.put_bytes(b"clean")
    assert temp_files(root) == []


def test_failed_stream_leaves_no_temp_file(store: LocalArtifactStore, root: Path) -> None:
    with pytest.raises(ConnectionResetError):
        store.put_stream(chunked_stream([b"half"], fail_with=ConnectionResetError()))
    assert (temp_files(root), blob_files(root)) == ([], [])


def test_oversized_stream_leaves_no_file(store: LocalArtifactStore, root: Path) -> None:
    with pytest.raises(PayloadTooLargeError):
        store.put_stream(chunked_stream([b"x" * 60, b"x" * 60]), max_bytes=100)
    assert (temp_files(root), blob_files(root)) == ([], [])


def test_store_accepts_a_string_root(tmp_path: Path) -> None:
    assert LocalArtifactStore(str(tmp_path / "s")).root == (tmp_path / "s").resolve()


# ---- stale temp files -------------------------------------------------------------------
def make_temp_file(root: Path, name: str, age_seconds: float) -> Path:
    path = root / "tmp" / name
    path.write_bytes(b"partial")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_reopening_removes_old_abandoned_temp_file(store: LocalArtifactStore, root: Path) -> None:
    make_temp_file(root, "blob-dead.tmp", age_seconds=3600)
    LocalArtifactStore(root)
    assert temp_files(root) == []


def test_reopening_keeps_fresh_temp_file(store: LocalArtifactStore, root: Path) -> None:
    fresh = make_temp_file(root, "blob-fresh.tmp", age_seconds=5)
    LocalArtifactStore(root)
    assert temp_files(root) == [fresh]


def test_reopening_keeps_old_temp_file_a_live_writer_locks(
    store: LocalArtifactStore, root: Path
) -> None:
    import fcntl

    slow = make_temp_file(root, "blob-slow.tmp", age_seconds=3600)
    with slow.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        LocalArtifactStore(root, stale_temp_seconds=0)
        assert temp_files(root) == [slow]


def test_reopening_keeps_files_it_did_not_write(store: LocalArtifactStore, root: Path) -> None:
    foreign = make_temp_file(root, "notes.txt", age_seconds=3600)
    LocalArtifactStore(root, stale_temp_seconds=0)
    assert temp_files(root) == [foreign]


# ---- symlinks leading out of the root ---------------------------------------------------
def test_blobs_dir_symlinked_out_of_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "blobs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        LocalArtifactStore(root)


def test_put_refuses_fan_out_dir_symlinked_out_of_root(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    digest = hashlib.sha256(b"escape").hexdigest()
    (root / "blobs" / digest[:2]).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        store.put_bytes(b"escape")
    assert list(outside.iterdir()) == []


def test_open_refuses_blob_symlinked_out_of_root(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    digest = hashlib.sha256(b"secret").hexdigest()
    (root / "blobs" / digest[:2]).mkdir()
    (root / "blobs" / digest[:2] / digest[2:]).symlink_to(secret)
    with pytest.raises(UnsafePathError):
        store.open(digest)


def test_open_refuses_blob_symlinked_inside_root(store: LocalArtifactStore, root: Path) -> None:
    real = store.put_bytes(b"real")
    digest = hashlib.sha256(b"alias").hexdigest()
    (root / "blobs" / digest[:2]).mkdir(exist_ok=True)
    target = root / "blobs" / real.digest[:2] / real.digest[2:]
    (root / "blobs" / digest[:2] / digest[2:]).symlink_to(target)
    with pytest.raises(UnsafePathError):
        store.open(digest)


def test_exists_refuses_blob_symlinked_out_of_root(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").write_bytes(b"x")
    digest = hashlib.sha256(b"x").hexdigest()
    (root / "blobs" / digest[:2]).mkdir()
    (root / "blobs" / digest[:2] / digest[2:]).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        store.exists(digest)


# ---- a writer killed with SIGKILL mid-write ---------------------------------------------
@pytest.fixture
def killed_writer_root(root: Path) -> Iterator[Path]:
    """A store whose only writer was SIGKILLed with 3 of 20 chunks written."""
    LocalArtifactStore(root)
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "mid-write\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    yield root


def test_killed_writer_was_killed_mid_write(killed_writer_root: Path) -> None:
    [partial] = temp_files(killed_writer_root)
    assert 0 < partial.stat().st_size < len(KILLED_DATA)


def test_killed_writer_leaves_no_visible_blob(killed_writer_root: Path) -> None:
    assert blob_files(killed_writer_root) == []


def test_killed_writer_leaves_no_blob_under_the_digest(killed_writer_root: Path) -> None:
    store = LocalArtifactStore(killed_writer_root)
    assert not store.exists(hashlib.sha256(KILLED_DATA).hexdigest())


def test_store_reopens_after_killed_writer(killed_writer_root: Path) -> None:
    store = LocalArtifactStore(killed_writer_root)
    assert store.put_bytes(b"still works").size == 11


def test_fresh_put_after_killed_writer_stores_the_data(killed_writer_root: Path) -> None:
    store = LocalArtifactStore(killed_writer_root)
    info = store.put_bytes(KILLED_DATA)
    with store.open(info.digest) as stream:
        assert stream.read() == KILLED_DATA


def test_reopening_removes_the_killed_writers_temp_file(killed_writer_root: Path) -> None:
    LocalArtifactStore(killed_writer_root, stale_temp_seconds=0)
    assert temp_files(killed_writer_root) == []
