"""``modelkeep audit pii FILE``: findings as a table or JSON, and --block's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from modelkeep.cli import audit
from modelkeep.cli.app import ModelkeepGroup


def _invoke(*args: str) -> Result:
    root = typer.Typer(cls=ModelkeepGroup)
    root.add_typer(audit.app, name="audit")
    return CliRunner().invoke(root, ["audit", *args])


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    pd.DataFrame(
        {
            "email": ["jane@example.com", "bob@corp.io", "ann@example.org"],
            "card": ["4111 1111 1111 1111"] * 3,
            "plan": ["Gold Plus", "Silver Basic", "Gold Plus"],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.csv"
    pd.DataFrame({"plan": ["Gold Plus", "Silver Basic"], "x": [1.5, 2.5]}).to_csv(path)
    return path


def test_findings_are_printed_masked(people: Path) -> None:
    result = _invoke("pii", str(people))
    assert result.exit_code == 0, result.output
    assert "Personal data in people.csv" in result.output
    assert "j***@example.com" in result.output and "jane@" not in result.output
    assert "**** **** **** 1111" in result.output
    assert "plan" not in result.output
    assert "3 of 3 rows scanned" in result.output


def test_json_output(people: Path) -> None:
    result = _invoke("pii", str(people), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(f["column"], f["kind"]) for f in data["findings"]] == [
        ("email", "email"),
        ("card", "card_number"),
    ]


def test_block_exits_1_when_anything_is_found(people: Path) -> None:
    result = _invoke("pii", str(people), "--block")
    assert result.exit_code == 1
    assert "personal data found in people.csv: email, card" in result.output


def test_block_exits_0_on_clean_data(clean: Path) -> None:
    result = _invoke("pii", str(clean), "--block")
    assert result.exit_code == 0, result.output
    assert "clean.csv: no personal data found" in result.output


def test_sample_and_share_options(people: Path) -> None:
    result = _invoke("pii", str(people), "--sample-rows", "2", "--min-share", "1.0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sampled_rows"] == 2


def test_an_unreadable_file_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("a,b\n")
    result = _invoke("pii", str(path))
    assert result.exit_code == 1
    assert "Error: cannot read data.txt" in result.output
