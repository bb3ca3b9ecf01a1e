from __future__ import annotations

import json
from pathlib import Path

from cli_support import Invoke, Seeded


def test_list_json_gives_paths_sizes_and_digests(cli: Invoke, seeded: Seeded) -> None:
    result = cli("artifacts", "list", seeded.run_ids["b"], "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(a["path"], a["size"]) for a in listed] == [
        ("model/weights.json", 8),
        ("notes.txt", 5),
    ]
    assert all(len(a["digest"]) == 64 for a in listed)


def test_list_under_a_directory(cli: Invoke, seeded: Seeded) -> None:
    result = cli("artifacts", "list", seeded.run_ids["b"], "model", "--json")
    assert [a["path"] for a in json.loads(result.stdout)] == ["model/weights.json"]


def test_list_table(cli: Invoke, seeded: Seeded) -> None:
    result = cli("artifacts", "list", seeded.run_ids["b"])
    assert result.exit_code == 0
    assert "notes.txt" in result.stdout


def test_list_of_a_run_without_artifacts(cli: Invoke, seeded: Seeded) -> None:
    result = cli("artifacts", "list", seeded.run_ids["a"])
    assert result.stdout.strip() == "No artifacts."


def test_get_file_downloads_it_and_prints_its_path(
    cli: Invoke, seeded: Seeded, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    result = cli("artifacts", "get", seeded.run_ids["b"], "notes.txt", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    local = Path(result.stdout.strip())
    assert local == (dest / "notes.txt").absolute()
    assert local.read_bytes() == b"hello"


def test_get_directory_keeps_the_tree(cli: Invoke, seeded: Seeded, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = cli("artifacts", "get", seeded.run_ids["b"], "model", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "model" / "weights.json").read_bytes() == b'{"w": 1}'


def test_get_unsafe_path_is_refused_and_writes_nothing(
    cli: Invoke, seeded: Seeded, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    result = cli("artifacts", "get", seeded.run_ids["b"], "../notes.txt", "--dest", str(dest))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unsafe artifact path '../notes.txt'")
    assert "Traceback" not in result.output
    assert not dest.exists()


def test_list_unsafe_prefix_is_refused(cli: Invoke, seeded: Seeded) -> None:
    result = cli("artifacts", "list", seeded.run_ids["b"], "%2e%2e%2fetc")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unsafe artifact path")


def test_get_missing_artifact_is_an_error(cli: Invoke, seeded: Seeded, tmp_path: Path) -> None:
    result = cli("artifacts", "get", seeded.run_ids["b"], "nope.txt", "--dest", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: run ")
