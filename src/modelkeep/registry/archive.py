"""Export and import of one model version as a single ``.tar.gz`` file.

An archive holds exactly two things at its top::

    VERSION.json    the version's registry metadata (name, version, description, tags,
                    root_digest, signatures, flavor, source), JSON with sorted keys
    model/          the model package, ``MODEL.json`` included

:func:`export_version` is deterministic: members are sorted and carry fixed times, owners and
modes, and the gzip header has no name or time, so exporting the same version twice gives the
same bytes (and the same sha256 to publish next to it).

:func:`import_version` treats the archive as hostile
(:mod:`modelkeep.registry.archive_extract` reads it): it refuses, with an
:class:`~modelkeep.exceptions.UnsafeArchiveError` naming the entry, any member that is absolute,
climbs with ``..``, has a backslash or control character in its name, is a link, a device or a
FIFO, lies outside ``VERSION.json`` and ``model/``, repeats an earlier member, or passes the
:class:`ArchiveLimits` (entry count, entry size, total size, compression ratio, watched while the
stream inflates so a gzip bomb stops early). Then the package is re-hashed against
``MODEL.json`` and the root digest of ``VERSION.json``
(:func:`~modelkeep.registry.manifest.verify_package`). On any error the destination is left as
it was found.

Example:
    >>> export_version(package_dir, version.to_dict(), archive)  # doctest: +SKIP
    >>> package, metadata = import_version(archive, Path("imported"))  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from modelkeep.artifacts.local import fsync_dir
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.registry.archive_extract import (
    METADATA_FILE,
    PACKAGE_DIR,
    ArchiveLimits,
    extract_archive,
)
from modelkeep.registry.manifest import manifest_files, verify_package

__all__ = ["METADATA_FILE", "PACKAGE_DIR", "ArchiveLimits", "export_version", "import_version"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DEFAULT_LIMITS = ArchiveLimits()

# ---- export -----------------------------------------------------------------------------------


def export_version(package_dir: Path, metadata: Mapping[str, Any], destination: Path) -> Path:
    """Write one model version as a deterministic ``.tar.gz``.

    The package is verified against its manifest and ``metadata["root_digest"]`` first, so an
    archive never carries a changed package. The file appears atomically (temp file, fsync,
    rename); an existing ``destination`` is replaced.

    Args:
        package_dir: the model package directory (holds ``MODEL.json``).
        metadata: the version's registry metadata; must hold its ``root_digest``.
        destination: path of the archive to write; parent directories are created.

    Returns:
        ``destination``.

    Raises:
        InvalidInputError: ``metadata`` lacks a root digest or is not JSON-serialisable.
        PackageIntegrityError: the package does not match its manifest or the root digest.

    Example:
        >>> export_version(pkg, {"name": "churn", "version": 3, "root_digest": root},
        ...                tmp_path / "churn-3.tar.gz")  # doctest: +SKIP
    """
    root = metadata.get("root_digest")
    if not isinstance(root, str) or not _HEX64.fullmatch(root):
        raise InvalidInputError(
            "metadata needs the version's root_digest (64 lowercase hex characters)",
            field="root_digest",
        )
    manifest, _ = verify_package(package_dir, expected_root_digest=root)
    metadata_bytes = _metadata_json(metadata)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            _write_archive(raw, package_dir, manifest_files(manifest), metadata_bytes)
            raw.flush()
            # mkstemp makes 0600; an export is meant to be shared, like any file cp would make.
            os.fchmod(raw.fileno(), 0o644)
            os.fsync(raw.fileno())
        os.replace(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(destination.parent)
    return destination


def _metadata_json(metadata: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(dict(metadata), indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"version metadata is not plain JSON: {exc}", field="metadata"
        ) from None
    return (text + "\n").encode("utf-8")


def _write_archive(raw: IO[bytes], package_dir: Path, files: Iterable[str], meta: bytes) -> None:
    # filename="" and mtime=0 keep the temp file's name and the clock out of the gzip header.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_tar_info(METADATA_FILE, len(meta)), io.BytesIO(meta))
        for rel in _with_parent_dirs(files):
            name = f"{PACKAGE_DIR}/{rel}" if rel else PACKAGE_DIR
            path = package_dir / rel
            if rel and not path.is_dir():
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    tar.addfile(_tar_info(name, size), handle)
            else:
                tar.addfile(_tar_info(name, None))


def _with_parent_dirs(files: Iterable[str]) -> list[str]:
    """Package-relative files plus every directory above them ("" is the package root), sorted
    so a directory always precedes what it holds."""
    entries = {""}
    for rel in files:
        parts = rel.split("/")
        entries.update("/".join(parts[:i]) for i in range(1, len(parts)))
        entries.add(rel)
    return sorted(entries)


def _tar_info(name: str, size: int | None) -> tarfile.TarInfo:
    """A member with fixed owner, time and mode; ``size`` None makes a directory."""
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, size
    return info


def import_version(
    archive: Path, destination_dir: Path, limits: ArchiveLimits = _DEFAULT_LIMITS
) -> tuple[Path, dict[str, Any]]:
    """Safely extract an archive written by :func:`export_version` and verify its package.

    ``destination_dir`` (new, or an empty directory) receives ``VERSION.json`` and ``model/``.

    Args:
        archive: the ``.tar.gz`` file.
        destination_dir: where to extract; must not exist or be empty.
        limits: size and count bounds (see :class:`ArchiveLimits`).

    Returns:
        ``(package_dir, metadata)``: the extracted package (``destination_dir / "model"``) and
        the parsed ``VERSION.json``.

    Raises:
        NotFoundError: ``archive`` does not exist.
        InvalidInputError: ``destination_dir`` is not empty.
        UnsafeArchiveError: the archive is corrupt or holds an entry that may not be extracted;
            ``field`` names the entry.
        PackageIntegrityError: an extracted file differs from ``MODEL.json``, or the package
            root differs from ``VERSION.json``'s ``root_digest``; the message names the file.

    Example:
        >>> package, meta = import_version(archive, tmp_path / "in")  # doctest: +SKIP
    """
    try:
        raw = open(archive, "rb")  # opened before any mkdir; closed below
    except (FileNotFoundError, IsADirectoryError):
        raise NotFoundError(f"archive {archive} does not exist", field="archive") from None
    with raw:
        created = _prepare_destination(destination_dir)
        try:
            metadata = extract_archive(raw, archive.name, destination_dir, limits)
            package_dir = destination_dir / PACKAGE_DIR
            verify_package(package_dir, expected_root_digest=metadata["root_digest"])
        except BaseException:
            _remove_extracted(destination_dir, created)
            raise
    return package_dir, metadata


def _prepare_destination(destination_dir: Path) -> bool:
    """Create ``destination_dir`` (True) or check that it is an empty directory (False)."""
    if destination_dir.is_symlink() or destination_dir.exists():
        if not destination_dir.is_dir() or any(destination_dir.iterdir()):
            raise InvalidInputError(
                f"{destination_dir} is not an empty directory; import into a new or empty one",
                field="destination_dir",
            )
        return False
    destination_dir.mkdir(parents=True)
    return True


def _remove_extracted(destination_dir: Path, created: bool) -> None:
    if created:
        shutil.rmtree(destination_dir, ignore_errors=True)
        return
    for child in destination_dir.iterdir():
        # Extraction never makes links, so anything here is a real file or directory of ours.
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
