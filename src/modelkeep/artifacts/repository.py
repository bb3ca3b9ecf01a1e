"""Run-level artifact API: log, list, read and download the files of a run.

A run's artifact tree maps logical paths (validated by
:func:`~modelkeep.artifacts.paths.validate_artifact_path`) to content-addressed blobs.
:class:`BaseRunArtifactRepository` is the contract; :class:`StoreArtifactRepository` implements it
on a metadata store (:class:`~modelkeep.store.base.BaseStore`) plus a blob store
(:class:`~modelkeep.artifacts.base.BaseArtifactStore`). A REST implementation speaks the same
contract over HTTP.

Semantics follow MLflow: ``artifact_path`` arguments name a *directory* of the tree, so
``log_file(run, Path("roc.png"), "plots")`` stores ``plots/roc.png``. Logging a path again
replaces what it points at (last write wins), except inside a model package: a folder holding
``MODEL.json`` is sealed (its files are pinned by digest and may be registered and signed), so
writing anything under it raises :class:`~modelkeep.exceptions.ConflictError`. ``log_dir``
writes a folder's ``MODEL.json`` last, after the files it lists.

Example:
    >>> repo = StoreArtifactRepository(store, LocalArtifactStore(root))  # doctest: +SKIP
    >>> repo.log_bytes(run.id, b"lr=0.1", "notes/params.txt").path  # doctest: +SKIP
    'notes/params.txt'
    >>> repo.read_bytes(run.id, "notes/params.txt")  # doctest: +SKIP
    b'lr=0.1'
"""

from __future__ import annotations

import abc
import builtins
import io
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from modelkeep.artifacts.base import BaseArtifactStore
from modelkeep.artifacts.paths import safe_join, validate_artifact_path
from modelkeep.entities import ArtifactRecord
from modelkeep.exceptions import ConflictError, InvalidInputError, NotFoundError, UnsafePathError
from modelkeep.store.base import BaseStore

__all__ = ["SEALING_FILE", "BaseRunArtifactRepository", "StoreArtifactRepository"]

#: A folder holding this file is a model package (``registry/manifest.py``'s ``MANIFEST_FILE``):
#: sealed, nothing more is written into it.
SEALING_FILE = "MODEL.json"

logger = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _join_logical(directory: str | None, name: str) -> str:
    """``directory/name`` (or ``name``), validated."""
    if directory is None or directory == "":
        return validate_artifact_path(name)
    return validate_artifact_path(f"{validate_artifact_path(directory)}/{name}")


class BaseRunArtifactRepository(abc.ABC):
    """Abstract run-level artifact repository.

    Subclasses implement :meth:`log_stream`, :meth:`list` and :meth:`open`; the other methods
    are built on those three and may be overridden when a backend can do better.

    Contract every implementation keeps:

    * Every logical path is validated before use; an unsafe one raises
      :class:`~modelkeep.exceptions.UnsafePathError` and nothing is stored or written.
    * An unknown run raises :class:`~modelkeep.exceptions.NotFoundError`, as does an unknown
      artifact path.
    * A record only ever points at a blob that is completely stored.
    * Nothing is written under a folder that holds ``MODEL.json`` (ConflictError).
    * Nothing is ever read or written on the local file system outside the directories the
      caller names.

    Thread safety: an instance may be shared by threads.
    """

    # ---- primitives ------------------------------------------------------------------------
    @abc.abstractmethod
    def log_stream(
        self, run_id: str, stream: BinaryIO, path: str, max_bytes: int | None = None
    ) -> ArtifactRecord:
        """Store everything ``stream`` yields as the artifact ``path`` of the run.

        Args:
            run_id: the run that owns the artifact.
            stream: binary stream, read to EOF in chunks.
            path: the logical file path inside the run's artifact tree.
            max_bytes: refuse content longer than this (``None``: no limit).

        Returns:
            The stored record (normalised path, sha256 digest, size).

        Raises:
            UnsafePathError: ``path`` is not a safe logical path.
            NotFoundError: the run does not exist.
            PayloadTooLargeError: the content exceeds ``max_bytes``.
        """

    @abc.abstractmethod
    def list(self, run_id: str, prefix: str = "") -> builtins.list[ArtifactRecord]:
        """Artifacts of a run whose path is ``prefix`` or lies under it, sorted by path.

        ``prefix`` is a whole logical path, not a string prefix: ``"a"`` matches ``a`` and
        ``a/b`` but not ``ab``. The empty prefix lists the whole tree.

        Raises:
            UnsafePathError: a non-empty ``prefix`` is not a safe logical path.
            NotFoundError: the run does not exist.
        """

    @abc.abstractmethod
    def open(self, run_id: str, path: str) -> BinaryIO:
        """Open one artifact of the run for reading; the caller closes the stream.

        Raises:
            UnsafePathError: ``path`` is not a safe logical path.
            NotFoundError: the run or the artifact does not exist.
        """

    # ---- helpers built only from the primitives --------------------------------------------
    def log_bytes(self, run_id: str, data: bytes, path: str) -> ArtifactRecord:
        """Store ``data`` as the artifact ``path`` (a file path) of the run.

        Raises:
            UnsafePathError: ``path`` is not a safe logical path.
            NotFoundError: the run does not exist.
        """
        return self.log_stream(run_id, io.BytesIO(data), path)

    def log_file(
        self, run_id: str, local_path: Path, artifact_path: str | None = None
    ) -> ArtifactRecord:
        """Store a local file as ``artifact_path/<file name>`` (or ``<file name>``).

        Args:
            run_id: the run that owns the artifact.
            local_path: the file to upload.
            artifact_path: directory of the run's artifact tree to put it in.

        Raises:
            NotFoundError: the run or ``local_path`` does not exist.
            InvalidInputError: ``local_path`` is not a regular file.
            UnsafePathError: the resulting logical path is not safe.
        """
        local_path = Path(local_path)
        logical = _join_logical(artifact_path, local_path.name)
        if not local_path.exists():
            raise NotFoundError(f"no such file: {local_path}", field="local_path")
        if not local_path.is_file():
            raise InvalidInputError(f"not a regular file: {local_path}", field="local_path")
        with local_path.open("rb") as stream:
            return self.log_stream(run_id, stream, logical)

    def log_dir(
        self, run_id: str, local_dir: Path, artifact_path: str | None = None
    ) -> builtins.list[ArtifactRecord]:
        """Store every file under ``local_dir``, recursively, under ``artifact_path``.

        The contents of ``local_dir`` (not the directory itself) go under ``artifact_path``,
        keeping their relative layout. Symlinked files are stored only if they resolve inside
        ``local_dir`` (others are skipped with a log message); symlinked directories are not
        descended, which avoids loops and escapes.

        Returns:
            The stored records, sorted by path.

        Raises:
            NotFoundError: the run or ``local_dir`` does not exist.
            InvalidInputError: ``local_dir`` is not a directory.
            UnsafePathError: ``artifact_path`` or a file name is not a safe logical path;
                checked for every file before anything is stored.
        """
        local_dir = Path(local_dir)
        if not local_dir.exists():
            raise NotFoundError(f"no such directory: {local_dir}", field="local_dir")
        if not local_dir.is_dir():
            raise InvalidInputError(f"not a directory: {local_dir}", field="local_dir")
        files = _files_inside(local_dir)
        planned = [(_join_logical(artifact_path, rel), src) for rel, src in files]
        # A folder's MODEL.json goes last: it seals the folder as a finished model package.
        planned.sort(key=lambda item: item[0].rsplit("/", 1)[-1] == SEALING_FILE)
        records = []
        for logical, src in planned:
            with src.open("rb") as stream:
                records.append(self.log_stream(run_id, stream, logical))
        return sorted(records, key=lambda record: record.path)

    def read_bytes(self, run_id: str, path: str) -> bytes:
        """The whole content of one artifact; see :meth:`open`."""
        with self.open(run_id, path) as stream:
            return stream.read()

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        """Copy one artifact, or every artifact under a directory path, into ``dst``.

        Files land at ``dst/<logical path>``, keeping the tree's layout (MLflow semantics).
        Each file is written to a temp file beside its destination, then renamed, so a
        symlink already at a destination is replaced, never written through.

        Args:
            run_id: the run.
            path: a file path, a directory path, or ``""`` for the whole tree.
            dst: local directory to write into; created if missing.

        Returns:
            The local path of the file or directory downloaded (``dst`` itself for ``""``).

        Raises:
            NotFoundError: the run does not exist or nothing lies at ``path``.
            UnsafePathError: ``path`` (or a stored path) is unsafe, or a destination would
                resolve outside ``dst``.
            ConflictError: the tree holds both a file ``x`` and files under ``x/``.
        """
        logical = "" if path == "" else validate_artifact_path(path)
        records = self.list(run_id, logical)
        if not records:
            raise NotFoundError(f"run {run_id} has no artifact at {path!r}", field="path")
        exact = [record for record in records if record.path == logical]
        if exact:
            records = exact  # a file wins over same-named directory entries
        for record in records:  # refuse a hostile listing before writing anything
            validate_artifact_path(record.path)
        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        written = [_download_one(self, run_id, record.path, dst) for record in records]
        if exact:
            return written[0]
        return dst.resolve() if logical == "" else safe_join(dst, logical)


class StoreArtifactRepository(BaseRunArtifactRepository):
    """Artifacts kept in a blob store, indexed by a metadata store.

    Logging puts the blob first and records it second, so a crash in between leaves at most an
    unreferenced blob, never a record without its content.

    Args:
        store: the metadata store holding the runs and their artifact records.
        blobs: the blob store holding the content.
    """

    def __init__(self, store: BaseStore, blobs: BaseArtifactStore) -> None:
        self.store = store
        self.blobs = blobs

    def log_stream(
        self, run_id: str, stream: BinaryIO, path: str, max_bytes: int | None = None
    ) -> ArtifactRecord:
        """See :meth:`BaseRunArtifactRepository.log_stream`."""
        logical = validate_artifact_path(path)
        self._refuse_sealed(run_id, logical)
        info = self.blobs.put_stream(stream, max_bytes=max_bytes)
        return self.store.record_artifact(run_id, logical, info.digest, info.size)

    def _refuse_sealed(self, run_id: str, logical: str) -> None:
        """A folder holding ``MODEL.json`` is a finished model package: its files are pinned
        by digest (and maybe registered and signed), so nothing more is written into it."""
        parts = logical.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            try:
                self.store.get_artifact(run_id, f"{folder}/{SEALING_FILE}")
            except NotFoundError:
                continue
            raise ConflictError(
                f"{logical!r} lies inside the model package {folder!r}, which is sealed once "
                "written; log it under another path",
                field="path",
            )

    def list(self, run_id: str, prefix: str = "") -> builtins.list[ArtifactRecord]:
        """See :meth:`BaseRunArtifactRepository.list`."""
        logical = "" if prefix == "" else validate_artifact_path(prefix)
        return self.store.list_artifacts(run_id, logical)

    def open(self, run_id: str, path: str) -> BinaryIO:
        """See :meth:`BaseRunArtifactRepository.open`."""
        record = self.store.get_artifact(run_id, validate_artifact_path(path))
        return self.blobs.open(record.digest)


def _files_inside(local_dir: Path) -> builtins.list[tuple[str, Path]]:
    """(relative ``/`` path, file) for each file under ``local_dir`` that is safe to read."""
    root = local_dir.resolve()
    found = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            src = Path(dirpath, name)
            if src.is_symlink() and not _resolves_inside(src, root):
                logger.warning("skipping %s: symlink leading outside %s", src, root)
                continue
            if not src.is_file():
                continue  # sockets, fifos, broken links
            found.append((src.relative_to(root).as_posix(), src))
    return sorted(found)


def _resolves_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # broken link or a loop
        return False


def _download_one(repo: BaseRunArtifactRepository, run_id: str, logical: str, dst: Path) -> Path:
    """Download one artifact to ``dst/<logical>`` and return that local path."""
    parent_logical, _, name = validate_artifact_path(logical).rpartition("/")
    # Resolve only the parent: a symlink at the file name itself is replaced, not followed.
    parent = dst.resolve() if parent_logical == "" else safe_join(dst, parent_logical)
    target = parent / name
    with repo.open(run_id, logical) as stream:
        _write_atomically(stream, target, dst)
    return target


def _write_atomically(stream: BinaryIO, target: Path, dst: Path) -> None:
    """Write ``stream`` to ``target`` (inside ``dst``) through a temp file and a rename."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ConflictError(f"{target.parent} is a file in the artifact tree") from exc
    if target.is_dir() and not target.is_symlink():
        raise ConflictError(f"{target} is a directory in the artifact tree")
    # A symlink swapped in while mkdir ran could redirect the parent: check it again.
    if not target.parent.resolve().is_relative_to(dst.resolve()):
        raise UnsafePathError(f"{target.parent} resolves outside {dst}", field="path")
    temp = target.parent / f".mk-download-{secrets.token_hex(8)}.tmp"
    # os.open with 0o666 lets the user's umask decide the final permissions.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
