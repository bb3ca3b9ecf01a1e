"""Version archives: a faithful, deterministic round trip, and refusal of every unsafe entry
with nothing left behind."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelkeep.exceptions import (
    InvalidInputError,
    NotFoundError,
    PackageIntegrityError,
    UnsafeArchiveError,
)
from modelkeep.registry.archive import ArchiveLimits, export_version, import_version
from modelkeep.registry.manifest import (
    Manifest,
    hash_package_files,
    verify_package,
    write_manifest,
)

Member = tuple[tarfile.TarInfo, bytes | None]


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A small real package and the registry metadata of its version."""
    root = tmp_path / "pkg"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (root / "sub" / "params.json").write_text('{"alpha": 0.5}\n')
    (root / "sub" / "deeper" / "notes.txt").write_text("deep file\n")
    (root / "données.txt").write_text("a non-ASCII file name\n")
    manifest = Manifest(flavor="sklearn", files=hash_package_files(root), python_version="3.11.7")
    digest = write_manifest(root, manifest)
    metadata = {
        "name": "churn",
        "version": 3,
        "description": "predicts churn",
        "tags": {"team": "growth"},
        "root_digest": digest,
        "signatures": [],
        "flavor": "sklearn",
        "source": "runs:/abc123/model",
    }
    return root, metadata


@pytest.fixture
def archive(tmp_path: Path, package: tuple[Path, dict[str, Any]]) -> Path:
    return export_version(package[0], package[1], tmp_path / "churn-3.tar.gz")


def _members(archive: Path) -> list[Member]:
    with tarfile.open(archive, "r:gz") as tar:
        out: list[Member] = []
        for info in tar.getmembers():
            handle = tar.extractfile(info)
            out.append((info, handle.read() if handle is not None else None))
        return out


def _craft(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def _files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ---- export and round trip ---------------------------------------------------------------------


def test_round_trip_restores_package_and_metadata(
    tmp_path: Path, package: tuple[Path, dict[str, Any]], archive: Path
) -> None:
    package_dir, metadata = import_version(archive, tmp_path / "out")
    assert package_dir == tmp_path / "out" / "model"
    assert metadata == package[1]
    assert _files_of(package_dir) == _files_of(package[0])
    assert verify_package(package_dir)[1] == package[1]["root_digest"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["VERSION.json", "model"]


def test_export_twice_gives_identical_bytes(
    tmp_path: Path, package: tuple[Path, dict[str, Any]], archive: Path
) -> None:
    for path in package[0].rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    again = export_version(package[0], dict(reversed(package[1].items())), tmp_path / "b.tar.gz")
    assert again.read_bytes() == archive.read_bytes()


def test_export_members_are_sorted_with_fixed_owner_time_and_mode(archive: Path) -> None:
    infos = [info for info, _ in _members(archive)]
    names = [i.name for i in infos]
    assert names[:2] == ["VERSION.json", "model"]
    assert names[2:] == sorted(names[2:])
    assert "model/sub/deeper/notes.txt" in names and "model/données.txt" in names
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, 0, "", "")}
    assert {i.mode for i in infos if i.isdir()} == {0o755}
    assert {i.mode for i in infos if i.isfile()} == {0o644}


def test_export_refuses_a_changed_package(
    tmp_path: Path, package: tuple[Path, dict[str, Any]]
) -> None:
    (package[0] / "weights.bin").write_bytes(b"swapped")
    with pytest.raises(PackageIntegrityError) as info:
        export_version(package[0], package[1], tmp_path / "x.tar.gz")
    assert info.value.field == "weights.bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_export_needs_the_root_digest(
    tmp_path: Path, package: tuple[Path, dict[str, Any]]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        export_version(package[0], {"name": "churn"}, tmp_path / "x.tar.gz")
    assert info.value.field == "root_digest"


# ---- refusals ----------------------------------------------------------------------------------


def _nul_name() -> Member:
    info, data = _file("model/placeholder", b"x")
    info.pax_headers = {"path": "model/a\x00b"}
    return info, data


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (_file("/etc/evil", b"x"), "absolute"),
        (_file("../evil", b"x"), "'..'"),
        (_file("model/../../evil", b"x"), "'..'"),
        (_file("model/a\\..\\b", b"x"), "backslash"),
        (_file("model/line\nbreak", b"x"), "control character"),
        (_nul_name(), "control character"),
        (_file("model/./x", b"x"), "'.' path component"),
        (_file("elsewhere/x", b"x"), "outside"),
        (_special("model/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (_special("model/hard", tarfile.LNKTYPE, "model/MODEL.json"), "hard link"),
        (_special("model/tty", tarfile.CHRTYPE), "character device"),
        (_special("model/disk", tarfile.BLKTYPE), "block device"),
        (_special("model/pipe", tarfile.FIFOTYPE), "FIFO"),
        (_file("model/MODEL.json", b"{}"), "appears twice"),
        (_file("model/weights.bin/inner", b"x"), "under or replace a file"),
        (_file("model/sub", b"x"), "appears twice"),
        (_special("model/sub", tarfile.DIRTYPE), "appears twice"),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v[0].name),
)
def test_unsafe_entry_is_refused_and_nothing_is_left(
    tmp_path: Path, archive: Path, bad: Member, fragment: str
) -> None:
    crafted = _craft(tmp_path / "bad.tar.gz", [*_members(archive), bad])
    with pytest.raises(UnsafeArchiveError) as info:
        import_version(crafted, tmp_path / "out")
    assert fragment in str(info.value)
    assert info.value.field == bad[0].pax_headers.get("path", bad[0].name)
    assert not (tmp_path / "out").exists()


def test_file_replacing_an_implied_directory_is_refused(tmp_path: Path, archive: Path) -> None:
    files_only = [(info, data) for info, data in _members(archive) if not info.isdir()]
    crafted = _craft(tmp_path / "bad.tar.gz", [*files_only, _file("model/sub/deeper", b"x")])
    with pytest.raises(UnsafeArchiveError, match="replace a directory"):
        import_version(crafted, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refused_entry_before_any_file_leaves_an_empty_destination_empty(
    tmp_path: Path, archive: Path
) -> None:
    crafted = _craft(tmp_path / "bad.tar.gz", [*_members(archive)[:3], _file("../x", b"x")])
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeArchiveError):
        import_version(crafted, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        (ArchiveLimits(max_member_bytes=1000), "over the 1000 byte limit"),
        (ArchiveLimits(max_total_bytes=5000), "past the 5000 byte limit"),
        (ArchiveLimits(max_members=4), "past the limit of 4 entries"),
    ],
)
def test_limits_are_enforced(
    tmp_path: Path, archive: Path, limits: ArchiveLimits, fragment: str
) -> None:
    with pytest.raises(UnsafeArchiveError) as info:
        import_version(archive, tmp_path / "out", limits)
    assert fragment in str(info.value)
    assert not (tmp_path / "out").exists()


def test_gzip_bomb_is_refused(tmp_path: Path, archive: Path) -> None:
    bomb = _craft(tmp_path / "bomb.tar.gz", [*_members(archive), _file("model/z", bytes(4 << 20))])
    limits = ArchiveLimits(max_ratio=20, ratio_min_bytes=1 << 20)
    with pytest.raises(UnsafeArchiveError) as info:
        import_version(bomb, tmp_path / "out", limits)
    assert "compression bomb" in str(info.value)
    assert info.value.field == "model/z"
    assert not (tmp_path / "out").exists()


def test_header_bomb_is_stopped_while_inflating(tmp_path: Path, archive: Path) -> None:
    info, data = _file("model/small", b"x")
    info.pax_headers = {"comment": "A" * (4 << 20)}
    bomb = _craft(tmp_path / "bomb.tar.gz", [*_members(archive), (info, data)])
    with pytest.raises(UnsafeArchiveError, match="compression bomb"):
        import_version(
            bomb, tmp_path / "out", ArchiveLimits(max_ratio=20, ratio_min_bytes=1 << 20)
        )
    assert not (tmp_path / "out").exists()


def test_small_compressible_archive_passes_the_default_ratio_check(
    tmp_path: Path, package: tuple[Path, dict[str, Any]]
) -> None:
    root, metadata = package
    (root / "zeros.bin").write_bytes(bytes(2 << 20))
    manifest = Manifest(flavor="sklearn", files=hash_package_files(root))
    metadata = {**metadata, "root_digest": write_manifest(root, manifest)}
    exported = export_version(root, metadata, tmp_path / "z.tar.gz")
    assert (2 << 20) / exported.stat().st_size > 200
    package_dir, _ = import_version(exported, tmp_path / "out")
    assert (package_dir / "zeros.bin").stat().st_size == 2 << 20


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"this is plain text, not gzip",
        gzip.compress(b"gzip of something that is not a tar file" * 20, mtime=0),
    ],
    ids=["empty", "not-gzip", "gzip-not-tar"],
)
def test_not_a_tarball_is_refused_clearly(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(content)
    with pytest.raises(UnsafeArchiveError, match=r"junk\.tar\.gz is not a valid \.tar\.gz"):
        import_version(tmp_path / "junk.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_truncated_archive_is_refused(tmp_path: Path, archive: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(UnsafeArchiveError, match="not a valid"):
        import_version(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_file_fails_verification_naming_it(tmp_path: Path, archive: Path) -> None:
    members = [
        _file(info.name, b"tampered weights") if info.name == "model/weights.bin" else (info, data)
        for info, data in _members(archive)
    ]
    with pytest.raises(PackageIntegrityError, match="weights.bin") as info:
        import_version(_craft(tmp_path / "t.tar.gz", members), tmp_path / "out")
    assert info.value.field == "weights.bin"
    assert not (tmp_path / "out").exists()


def test_metadata_with_another_root_digest_fails_verification(
    tmp_path: Path, package: tuple[Path, dict[str, Any]], archive: Path
) -> None:
    forged = f'{{"name": "churn", "root_digest": "{"0" * 64}"}}'.encode()
    members = [_file("VERSION.json", forged), *_members(archive)[1:]]
    with pytest.raises(PackageIntegrityError, match="root digest"):
        import_version(_craft(tmp_path / "f.tar.gz", members), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("version_json", "fragment"),
    [(None, "no VERSION.json"), (b"[1, 2]", "not a JSON object"), (b"{", "not valid UTF-8 JSON")],
)
def test_missing_or_malformed_version_json_is_refused(
    tmp_path: Path, archive: Path, version_json: bytes | None, fragment: str
) -> None:
    head = [] if version_json is None else [_file("VERSION.json", version_json)]
    crafted = _craft(tmp_path / "m.tar.gz", [*head, *_members(archive)[1:]])
    with pytest.raises(UnsafeArchiveError, match=fragment) as info:
        import_version(crafted, tmp_path / "out")
    assert info.value.field == "VERSION.json"
    assert not (tmp_path / "out").exists()


def test_destination_must_be_empty(tmp_path: Path, archive: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInputError) as info:
        import_version(archive, tmp_path / "out")
    assert info.value.field == "destination_dir"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_missing_archive_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        import_version(tmp_path / "nope.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInputError) as info:
        ArchiveLimits(max_members=0)
    assert info.value.field == "max_members"
