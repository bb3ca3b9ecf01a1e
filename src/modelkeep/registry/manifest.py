"""``MODEL.json``: the manifest of a model package, and the integrity checks built on it.

A model package is a directory. ``MODEL.json`` at its top says which flavor saved it, with what
library and Python versions, the signature and input example, requirements, lineage (source run,
dataset digests), a metrics snapshot, when it was made, and the sha256 of every other file.

The *root digest* of a package is the sha256 of the text made of one line per file,
``"<sha256>  <path>\\n"``, sorted by path, where the files are every file of the manifest plus
``MODEL.json`` itself (its sha256 over its exact bytes). It pins the whole package: changing any
byte of any file, the manifest included, changes the root. The registry stores it for each
version, and signatures sign it (:mod:`modelkeep.registry.signing`).

:func:`verify_package` is run before every load: a changed, missing or unlisted file, a symlink,
or a root digest other than the registry's refuses the package with a
:class:`~modelkeep.exceptions.PackageIntegrityError` that names the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from modelkeep.exceptions import PackageIntegrityError

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "Manifest",
    "hash_package_files",
    "manifest_files",
    "read_manifest",
    "root_digest",
    "sha256_file",
    "verify_package",
    "write_manifest",
]

MANIFEST_FILE = "MODEL.json"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parsed ``MODEL.json``.

    Attributes:
        flavor: name of the flavor that saved the model (``sklearn``, ``lightgbm``...).
        files: relative POSIX path -> sha256 hex, for every file but ``MODEL.json``.
        flavor_options: what the flavor needs to load (file names, trusted types...).
        library_versions: distribution name -> version at save time.
        python_version: ``major.minor.micro`` at save time.
        signature: the model signature as a dict (:mod:`modelkeep.registry.signature`), or None.
        input_example: relative path of the stored input example, or None.
        requirements: pip requirement strings to recreate the environment.
        source_run_id: the run the package was logged from, or None.
        datasets: lineage: ``{"name", "digest", "context"}`` of each dataset the run consumed.
        metrics: latest metric values of the source run when the package was made (finite only).
        created_time: milliseconds since the epoch.
    """

    flavor: str
    files: Mapping[str, str]
    flavor_options: Mapping[str, Any] = field(default_factory=dict)
    library_versions: Mapping[str, str] = field(default_factory=dict)
    python_version: str = ""
    signature: Mapping[str, Any] | None = None
    input_example: str | None = None
    requirements: tuple[str, ...] = ()
    source_run_id: str | None = None
    datasets: tuple[Mapping[str, Any], ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    created_time: int = 0
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "flavor_options": dict(self.flavor_options),
            "library_versions": dict(self.library_versions),
            "python_version": self.python_version,
            "signature": None if self.signature is None else dict(self.signature),
            "input_example": self.input_example,
            "requirements": list(self.requirements),
            "source_run_id": self.source_run_id,
            "datasets": [dict(d) for d in self.datasets],
            "metrics": {k: v for k, v in self.metrics.items() if math.isfinite(v)},
            "created_time": self.created_time,
            "files": dict(sorted(self.files.items())),
        }

    def to_json(self) -> bytes:
        """Canonical bytes: sorted keys, two-space indent, trailing newline."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Parse a manifest dict; PackageIntegrityError (naming MODEL.json) when malformed."""
        try:
            version = int(data.get("format_version", FORMAT_VERSION))
            if version > FORMAT_VERSION:
                raise ValueError(f"format_version {version} is newer than this modelkeep knows")
            files = {str(k): str(v) for k, v in dict(data["files"]).items()}
            for path in files:
                _check_relative(path)
            example = data.get("input_example")
            if example is not None and (not isinstance(example, str) or example not in files):
                raise ValueError(f"input_example {example!r} is not one of the package's files")
            return cls(
                flavor=str(data["flavor"]),
                files=files,
                flavor_options=dict(data.get("flavor_options") or {}),
                library_versions={
                    str(k): str(v) for k, v in (data.get("library_versions") or {}).items()
                },
                python_version=str(data.get("python_version", "")),
                signature=data.get("signature"),
                input_example=example,
                requirements=tuple(str(r) for r in data.get("requirements") or ()),
                source_run_id=data.get("source_run_id"),
                datasets=tuple(dict(d) for d in data.get("datasets") or ()),
                metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
                created_time=int(data.get("created_time", 0)),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageIntegrityError(
                f"{MANIFEST_FILE} is malformed: {exc}", field=MANIFEST_FILE
            ) from None


def _check_relative(path: str) -> None:
    pure = PurePosixPath(path)
    if (
        pure.is_absolute()
        or ".." in pure.parts
        or "\\" in path
        or not path
        or path == MANIFEST_FILE
    ):
        raise ValueError(f"file path {path!r} is not a plain relative path")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def root_digest(files: Mapping[str, str], manifest_sha256: str) -> str:
    """The root digest over per-file digests plus the manifest's own digest (see module doc)."""
    entries = dict(files)
    entries[MANIFEST_FILE] = manifest_sha256
    text = "".join(f"{entries[path]}  {path}\n" for path in sorted(entries))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_package_files(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root`` except ``MODEL.json``, by relative path.

    Symlinks and special files are refused (PackageIntegrityError) rather than followed.
    """
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            if (base / name).is_symlink():
                rel = (base / name).relative_to(root).as_posix()
                raise PackageIntegrityError(f"package holds a symlink: {rel}", field=rel)
        for name in filenames:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST_FILE:
                continue
            if not path.is_file():
                raise PackageIntegrityError(f"package holds a special file: {rel}", field=rel)
            found[rel] = sha256_file(path)
    return found


def write_manifest(root: Path, manifest: Manifest) -> str:
    """Write ``MODEL.json`` into ``root``; returns the package's root digest."""
    data = manifest.to_json()
    (root / MANIFEST_FILE).write_bytes(data)
    return root_digest(manifest.files, hashlib.sha256(data).hexdigest())


def read_manifest(root: Path) -> Manifest:
    """Parse ``root/MODEL.json`` (PackageIntegrityError if missing or malformed)."""
    try:
        data = (root / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise PackageIntegrityError(
            f"{root} has no {MANIFEST_FILE}; it is not a model package", field=MANIFEST_FILE
        ) from None
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PackageIntegrityError(
            f"{MANIFEST_FILE} is not valid JSON: {exc}", field=MANIFEST_FILE
        ) from None
    if not isinstance(parsed, dict):
        raise PackageIntegrityError(f"{MANIFEST_FILE} is not a JSON object", field=MANIFEST_FILE)
    return Manifest.from_dict(parsed)


def verify_package(root: Path, expected_root_digest: str | None = None) -> tuple[Manifest, str]:
    """Re-hash every file of the package at ``root`` against its manifest.

    Returns ``(manifest, root_digest)``. Raises PackageIntegrityError naming the first file
    (in path order) that changed, is missing, is not listed, or is a link; or, when
    ``expected_root_digest`` is given (the registry's), when the root differs from it.
    """
    manifest = read_manifest(root)
    actual = hash_package_files(root)
    for path in sorted(set(manifest.files) | set(actual)):
        if path not in actual:
            raise PackageIntegrityError(f"package file {path} is missing", field=path)
        if path not in manifest.files:
            raise PackageIntegrityError(
                f"package file {path} is not in {MANIFEST_FILE}", field=path
            )
        if actual[path] != manifest.files[path]:
            raise PackageIntegrityError(
                f"package file {path} was changed: its sha256 does not match {MANIFEST_FILE}",
                field=path,
            )
    digest = root_digest(manifest.files, sha256_file(root / MANIFEST_FILE))
    if expected_root_digest is not None and digest != expected_root_digest:
        raise PackageIntegrityError(
            f"{MANIFEST_FILE} was changed: the package root digest {digest[:12]}... is not the "
            f"registered {expected_root_digest[:12]}...",
            field=MANIFEST_FILE,
        )
    return manifest, digest


def manifest_files(manifest: Manifest) -> Sequence[str]:
    """Every path of the package, ``MODEL.json`` first."""
    return [MANIFEST_FILE, *sorted(manifest.files)]
