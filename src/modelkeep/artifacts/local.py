"""A content-addressed blob store in a local directory.

Layout under the store root::

    blobs/ab/cdef...   one read-only file per blob, named by its sha256 digest (2-level fan-out)
    tmp/blob-*.tmp     files being written; renamed into blobs/ once complete and durable

Writing a blob: stream into a fresh temp file under ``tmp/`` (same file system as ``blobs/``, so
the rename is atomic), hash while writing, ``fsync`` the file, ``os.replace`` it onto its digest
path, ``fsync`` the directory. A writer killed at any point leaves at most a temp file, never a
partial blob under a digest. Writers hold an exclusive ``flock`` on their temp file, so the
clean-up run when a store is opened removes only abandoned temp files: old enough *and* unlocked.

Every path is built from a validated digest and checked, after resolving symlinks, to lie inside
the root; symlinks planted in the store are refused rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from modelkeep.artifacts.base import CHUNK_SIZE, BaseArtifactStore, BlobInfo, validate_digest
from modelkeep.exceptions import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnsafePathError,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: fall back to the age rule alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_STALE_TEMP_SECONDS", "LocalArtifactStore", "fsync_dir"]

logger = logging.getLogger(__name__)

DEFAULT_STALE_TEMP_SECONDS = 15 * 60
_TMP_PREFIX = "blob-"
_TMP_SUFFIX = ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class LocalArtifactStore(BaseArtifactStore):
    """Blob store in a directory on the local file system.

    Args:
        root: the store directory; created if missing. Nothing outside it is ever touched.
        stale_temp_seconds: on opening, remove unlocked temp files older than this (left by
            writers that died).

    Raises:
        UnsafePathError: ``root/blobs`` or ``root/tmp`` is a symlink leading out of the root.

    Example:
        >>> store = LocalArtifactStore(tmp_path)  # doctest: +SKIP
        >>> info = store.put_bytes(b"hello")  # doctest: +SKIP
        >>> store.size(info.digest)  # doctest: +SKIP
        5
    """

    def __init__(
        self, root: Path | str, *, stale_temp_seconds: float = DEFAULT_STALE_TEMP_SECONDS
    ) -> None:
        given = Path(root)
        given.mkdir(parents=True, exist_ok=True)
        self._root = given.resolve()
        self._blobs = self._own_dir("blobs")
        self._tmp = self._own_dir("tmp")
        self.remove_stale_temp_files(stale_temp_seconds)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        """The resolved store root."""
        return self._root

    # ---- BaseArtifactStore -----------------------------------------------------------------
    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> BlobInfo:
        """See :meth:`BaseArtifactStore.put_stream`."""
        if max_bytes is not None and max_bytes < 0:
            raise InvalidInputError("max_bytes must not be negative", field="max_bytes")
        fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=self._tmp)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                _lock_exclusive(out.fileno())
                info = _copy_hashing(stream, out, max_bytes)
                out.flush()
                os.fchmod(out.fileno(), 0o444)  # blobs are immutable
                os.fsync(out.fileno())
                # Publish while still holding the lock so the clean-up never races the rename.
                self._publish(temp, info)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return info

    def open(self, digest: str) -> BinaryIO:
        """See :meth:`BaseArtifactStore.open`."""
        path = self._blob_path(digest)
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except FileNotFoundError:
            raise NotFoundError(f"no blob with digest {digest}", field="digest") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePathError(f"blob {digest} is a symlink", field="digest") from exc
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFoundError(f"no blob with digest {digest}", field="digest")
        return os.fdopen(fd, "rb")

    def exists(self, digest: str) -> bool:
        """See :meth:`BaseArtifactStore.exists`."""
        return self._regular_file_size(self._blob_path(digest)) is not None

    def size(self, digest: str) -> int:
        """See :meth:`BaseArtifactStore.size`."""
        size = self._regular_file_size(self._blob_path(digest))
        if size is None:
            raise NotFoundError(f"no blob with digest {digest}", field="digest")
        return size

    # ---- maintenance -----------------------------------------------------------------------
    def remove_stale_temp_files(self, older_than_seconds: float) -> int:
        """Delete temp files abandoned by dead writers.

        A temp file is removed only if it was last modified more than ``older_than_seconds``
        ago and no live writer holds its lock, so a slow writer keeps its file.

        Returns:
            How many files were removed.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                if not (entry.name.startswith(_TMP_PREFIX) and entry.name.endswith(_TMP_SUFFIX)):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_mtime > cutoff:
                    continue
                if stat.S_ISREG(info.st_mode) and _is_locked(entry.path):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        if removed:
            logger.info("removed %d abandoned temp file(s) from %s", removed, self._tmp)
        return removed

    # ---- internals -------------------------------------------------------------------------
    def _own_dir(self, name: str) -> Path:
        path = self._root / name
        path.mkdir(exist_ok=True)
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root) or not resolved.is_dir():
            raise UnsafePathError(f"{path} leads outside the store root {self._root}")
        return resolved

    def _blob_path(self, digest: str) -> Path:
        validate_digest(digest)
        path = self._blobs / digest[:2] / digest[2:]
        if not path.resolve().is_relative_to(self._blobs):
            raise UnsafePathError(f"blob {digest} resolves outside the store", field="digest")
        return path

    @staticmethod
    def _regular_file_size(path: Path) -> int | None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def _publish(self, temp: Path, info: BlobInfo) -> None:
        final = self._blob_path(info.digest)
        if self._regular_file_size(final) == info.size:
            temp.unlink()  # already stored: deduplicate
            return
        fan_out = final.parent
        if not fan_out.is_dir():
            fan_out.mkdir(exist_ok=True)
            fsync_dir(self._blobs)
        os.replace(temp, final)
        fsync_dir(fan_out)


def _copy_hashing(stream: BinaryIO, out: BinaryIO, max_bytes: int | None) -> BlobInfo:
    """Copy ``stream`` to ``out`` chunk by chunk, hashing and counting as it goes."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLargeError(f"artifact is larger than the limit of {max_bytes} bytes")
        hasher.update(chunk)
        out.write(chunk)
    return BlobInfo(hasher.hexdigest(), size)


def _lock_exclusive(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _is_locked(path: str) -> bool:
    """Whether a live writer holds the lock on this temp file."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot inspect it (another user's?): leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also releases the lock we may have taken
    return False


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot fsync a directory; there is nothing more to do there.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
