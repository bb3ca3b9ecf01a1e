"""Safe extraction of a version archive's tar stream (see :mod:`modelkeep.registry.archive`).

The archive is hostile until proven otherwise. Members are read one by one from the gunzipped
stream and each is written here by hand (``O_EXCL | O_NOFOLLOW``, fixed modes); tarfile's
``data_filter`` runs as a second opinion. Any member that is absolute, climbs with ``..``, has a
backslash or control character in its name, is a link, device or FIFO, lies outside
``VERSION.json`` and ``model/``, repeats an earlier member, or passes :class:`ArchiveLimits` is
refused with an :class:`~modelkeep.exceptions.UnsafeArchiveError` whose ``field`` is the entry.
Decompressed bytes are counted as they inflate, headers included, so a gzip bomb stops early.
Cleaning up after a refusal is the caller's job.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from modelkeep.exceptions import InvalidInputError, UnsafeArchiveError

__all__ = ["METADATA_FILE", "PACKAGE_DIR", "ArchiveLimits", "extract_archive"]

METADATA_FILE = "VERSION.json"
PACKAGE_DIR = "model"

_MIB = 1 << 20
_GIB = 1 << 30
_CHUNK = 1 << 20
_MAX_METADATA_BYTES = _MIB
# Tar headers, padding and pax records inflate on top of member data; allow that much per entry.
_HEADER_ALLOWANCE_PER_MEMBER = 8 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds :func:`~modelkeep.registry.archive.import_version` enforces on an archive.

    Attributes:
        max_members: most entries (files and directories) the archive may hold.
        max_member_bytes: largest size of one file.
        max_total_bytes: largest sum of file sizes.
        max_ratio: largest ratio of decompressed bytes to archive bytes (a gzip bomb guard),
            enforced once more than ``ratio_min_bytes`` have been decompressed, so small archives
            of very compressible files still import.
        ratio_min_bytes: decompressed size below which the ratio is not checked.
    """

    max_members: int = 10_000
    max_member_bytes: int = 8 * _GIB
    max_total_bytes: int = 16 * _GIB
    max_ratio: float = 200.0
    ratio_min_bytes: int = 64 * _MIB

    def __post_init__(self) -> None:
        for name in ("max_members", "max_member_bytes", "max_total_bytes", "max_ratio"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"{name} must be positive", field=name)
        if self.ratio_min_bytes < 0:
            raise InvalidInputError(
                "ratio_min_bytes must not be negative", field="ratio_min_bytes"
            )


def extract_archive(
    raw: IO[bytes], label: str, dest: Path, limits: ArchiveLimits
) -> dict[str, Any]:
    """Extract the ``.tar.gz`` read from ``raw`` into the empty directory ``dest``.

    Returns the parsed ``VERSION.json``; ``label`` names the archive in error messages. Raises
    UnsafeArchiveError for a corrupt archive or a refused entry, leaving cleanup to the caller.
    """
    compressed = max(os.fstat(raw.fileno()).st_size, 1)
    with gzip.GzipFile(filename="", mode="rb", fileobj=raw) as gz:
        stream = _GunzipStream(gz, label, compressed, limits)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                return _Extractor(dest, limits, compressed).extract(tar, stream)
        except tarfile.TarError as exc:
            raise UnsafeArchiveError(
                f"{label} is not a valid .tar.gz archive ({exc}); export the version again",
                field=stream.entry,
            ) from None


class _GunzipStream:
    """The decompressed bytes for tarfile, counted so that a gzip bomb (in member data or in
    headers) is refused while it inflates rather than after it filled the disk or memory."""

    def __init__(self, gz: gzip.GzipFile, label: str, compressed: int, limits: ArchiveLimits):
        self._gz, self._label, self._compressed, self._limits = gz, label, compressed, limits
        self._cap = limits.max_total_bytes + (limits.max_members + 1) * (
            _HEADER_ALLOWANCE_PER_MEMBER
        )
        self.total = 0
        self.entry = label  # error field: the entry being read, else the archive

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self._gz.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnsafeArchiveError(
                f"{self._label} is not a valid .tar.gz file ({exc}); export the version again",
                field=self.entry,
            ) from None
        self.total += len(data)
        if self.total > self._cap:
            raise UnsafeArchiveError(
                f"{self._label} expands past {self._cap} bytes; raise ArchiveLimits."
                "max_total_bytes only if you trust the archive",
                field=self.entry,
            )
        _check_ratio(self.total, self._compressed, self._limits, self.entry)
        return data

    def write(self, data: bytes, /) -> int:
        raise io.UnsupportedOperation("the archive stream is read-only")

    def tell(self) -> int:
        return self.total

    def seek(self, pos: int, /) -> int:
        raise io.UnsupportedOperation("the archive stream is not seekable")

    def close(self) -> None:
        """The gzip file is closed by its owner."""


def _check_ratio(expanded: int, compressed: int, limits: ArchiveLimits, entry: str) -> None:
    if expanded > limits.ratio_min_bytes and expanded > limits.max_ratio * compressed:
        raise UnsafeArchiveError(
            f"archive expands more than {limits.max_ratio:g}x its {compressed} bytes (at entry "
            f"{entry}): refusing a possible compression bomb; raise ArchiveLimits.max_ratio "
            "only if you trust the archive",
            field=entry,
        )


def _name_problem(name: str) -> str | None:
    """Why ``name`` may not be extracted, or None."""
    parts = name.split("/")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return "has a control character (such as NUL or a newline) in its name"
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/"):
        return "is an absolute path"
    if ".." in parts:
        return "climbs out of the archive with '..'"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' path component"
    try:
        too_long = any(len(part.encode("utf-8")) > 255 for part in parts)
    except UnicodeEncodeError:
        return "has a name that is not valid UTF-8"
    if too_long:
        return "has a path component longer than 255 bytes"
    if name != METADATA_FILE and parts[0] != PACKAGE_DIR:
        return f"is outside {METADATA_FILE} and {PACKAGE_DIR}/"
    return None


def _refuse(name: str, problem: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"archive entry {name!r} {problem}; refusing to import the archive", field=name
    )


class _Extractor:
    """Checks and writes members in stream order, remembering what it has written."""

    def __init__(self, dest: Path, limits: ArchiveLimits, compressed: int) -> None:
        self._dest, self._limits, self._compressed = dest, limits, compressed
        self._seen: set[str] = set()
        self._files: set[str] = set()
        self._dirs: set[str] = set()
        self._declared = 0
        self._metadata: dict[str, Any] | None = None

    def extract(self, tar: tarfile.TarFile, stream: _GunzipStream) -> dict[str, Any]:
        for member in tar:
            stream.entry = member.name
            self._admit(member)
            if member.isdir():
                self._make_dirs(member.name.split("/"))
            else:
                self._write_file(tar, member)
        if self._metadata is None:
            raise UnsafeArchiveError(
                f"archive has no {METADATA_FILE}; it is not a modelkeep version export",
                field=METADATA_FILE,
            )
        return self._metadata

    def _admit(self, member: tarfile.TarInfo) -> None:
        name = member.name
        if len(self._seen) >= self._limits.max_members:
            raise _refuse(name, f"is past the limit of {self._limits.max_members} entries")
        problem = _name_problem(name) or self._type_problem(member) or self._clash(member)
        if problem is not None:
            raise _refuse(name, problem)
        self._seen.add(name)
        self._check_size(member)
        try:
            tarfile.data_filter(member, str(self._dest))
        except tarfile.FilterError as exc:
            raise _refuse(name, f"fails tarfile's data filter ({exc})") from None

    def _type_problem(self, member: tarfile.TarInfo) -> str | None:
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
            kind = _KINDS.get(member.type, f"of tar type {member.type!r}")
            return f"is {kind}; only regular files and directories may be imported"
        if member.name == METADATA_FILE and member.isdir():
            return "must be a file"
        if member.name == PACKAGE_DIR and not member.isdir():
            return "must be a directory"
        return None

    def _clash(self, member: tarfile.TarInfo) -> str | None:
        name = member.name
        if name in self._seen:
            return "appears twice in the archive"
        parts = name.split("/")
        ancestors = ("/".join(parts[:i]) for i in range(1, len(parts)))
        if any(a in self._files for a in ancestors) or (member.isdir() and name in self._files):
            return "would go under or replace a file of the archive"
        if not member.isdir() and name in self._dirs:
            return "would replace a directory of the archive"
        return None

    def _check_size(self, member: tarfile.TarInfo) -> None:
        name, limits = member.name, self._limits
        if member.size > limits.max_member_bytes:
            raise _refuse(
                name, f"is {member.size} bytes, over the {limits.max_member_bytes} byte limit"
            )
        if name == METADATA_FILE and member.size > _MAX_METADATA_BYTES:
            raise _refuse(name, f"is over {_MAX_METADATA_BYTES} bytes")
        self._declared += member.size
        if self._declared > limits.max_total_bytes:
            raise _refuse(name, f"takes the total past the {limits.max_total_bytes} byte limit")
        _check_ratio(self._declared, self._compressed, limits, name)

    def _make_dirs(self, parts: list[str]) -> None:
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if rel not in self._dirs:
                self._dest.joinpath(*parts[:i]).mkdir(mode=0o755, exist_ok=True)
                self._dirs.add(rel)

    def _write_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = member.name.split("/")
        self._make_dirs(parts[:-1])
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - _admit lets only regular files reach here
            raise _refuse(member.name, "has no data")
        metadata = None
        if member.name == METADATA_FILE:
            metadata = source.read()
            self._metadata = _parse_metadata(metadata)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self._dest.joinpath(*parts), flags, 0o644)
        except FileExistsError:
            # Only a case-insensitive file system gets here: the name differs only by case.
            raise _refuse(member.name, "clashes with another entry on this file system") from None
        with os.fdopen(fd, "wb") as out:
            if metadata is not None:
                out.write(metadata)
            else:
                shutil.copyfileobj(source, out, _CHUNK)
        self._files.add(member.name)


def _parse_metadata(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UnsafeArchiveError(
            f"{METADATA_FILE} is not valid UTF-8 JSON; export the version again",
            field=METADATA_FILE,
        ) from None
    if not isinstance(parsed, dict):
        raise UnsafeArchiveError(f"{METADATA_FILE} is not a JSON object", field=METADATA_FILE)
    root = parsed.get("root_digest")
    if not isinstance(root, str) or not _HEX64.fullmatch(root):
        raise UnsafeArchiveError(
            f"{METADATA_FILE} has no valid root_digest; export the version again",
            field=METADATA_FILE,
        )
    return parsed
