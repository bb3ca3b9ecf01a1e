"""Logical artifact path validation and safe joining."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelkeep.artifacts import TRAVERSAL_PAYLOADS, safe_join, validate_artifact_path
from modelkeep.exceptions import InvalidInputError, UnsafePathError

LEGAL = {
    "a/b.txt": "a/b.txt",
    "plots/roc curve.png": "plots/roc curve.png",
    "a..b/c": "a..b/c",
    "....": "....",
    "...": "...",
    ".hidden/file": ".hidden/file",
    "model/MLmodel": "model/MLmodel",
    "100%.txt": "100%.txt",
    "a%20b.txt": "a%20b.txt",
    "données/文件.txt": "données/文件.txt",
    "a/b/": "a/b",
    "a//b": "a/b",
    "./a": "a",
    "a/./b": "a/b",
    "x..": "x..",
}


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_traversal_payload_is_refused(payload: str) -> None:
    with pytest.raises(UnsafePathError):
        validate_artifact_path(payload)


@pytest.mark.parametrize("payload", TRAVERSAL_PAYLOADS)
def test_safe_join_refuses_traversal_payload(payload: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, payload)


def test_payload_list_covers_at_least_twenty_distinct_attacks() -> None:
    assert len(set(TRAVERSAL_PAYLOADS)) >= 20


def test_unsafe_path_error_names_the_path_field() -> None:
    with pytest.raises(UnsafePathError) as caught:
        validate_artifact_path("../x")
    assert caught.value.field == "path"


def test_unsafe_path_error_is_invalid_input() -> None:
    assert issubclass(UnsafePathError, InvalidInputError)


def test_empty_path_is_refused() -> None:
    with pytest.raises(UnsafePathError):
        validate_artifact_path("")


def test_path_of_1024_characters_is_accepted() -> None:
    path = "d/" + "x" * 1022
    assert validate_artifact_path(path) == path


def test_path_of_1025_characters_is_refused() -> None:
    with pytest.raises(UnsafePathError):
        validate_artifact_path("d/" + "x" * 1023)


def test_six_levels_of_percent_encoding_are_refused() -> None:
    encoded = "%2e"
    for _ in range(6):
        encoded = encoded.replace("%", "%25")
    with pytest.raises(UnsafePathError):
        validate_artifact_path(f"a/{encoded}")


def test_non_string_path_is_refused() -> None:
    with pytest.raises(UnsafePathError):
        validate_artifact_path(b"a/b")  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "normalised"), LEGAL.items())
def test_legal_path_is_normalised(raw: str, normalised: str) -> None:
    assert validate_artifact_path(raw) == normalised


@pytest.mark.parametrize("raw", LEGAL)
def test_safe_join_keeps_legal_path_inside_root(raw: str, tmp_path: Path) -> None:
    assert safe_join(tmp_path, raw).is_relative_to(tmp_path.resolve())


def test_safe_join_builds_the_nested_path(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"


def test_safe_join_refuses_symlinked_directory_leading_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        safe_join(root, "escape/secret.txt")


def test_safe_join_refuses_symlinked_file_leading_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "passwd").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "passwd")
    with pytest.raises(UnsafePathError):
        safe_join(root, "link.txt")


def test_safe_join_allows_symlink_staying_inside_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert safe_join(tmp_path, "alias/f.txt") == tmp_path.resolve() / "real" / "f.txt"


def test_safe_join_works_through_a_symlinked_root(tmp_path: Path) -> None:
    (tmp_path / "real-root").mkdir()
    os.symlink(tmp_path / "real-root", tmp_path / "root-link")
    assert safe_join(tmp_path / "root-link", "f.txt") == tmp_path.resolve() / "real-root" / "f.txt"
