"""``modelkeep data suggest`` and ``modelkeep data validate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_support import Invoke

import modelkeep.cli.data_rules  # noqa: F401 - registers the commands, as the app does


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, size=30),
            "city": rng.choice(["oslo", "rome"], size=30),
            "score": rng.normal(size=30),
        }
    )
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def bad_table(table: Path, tmp_path: Path) -> Path:
    frame = pd.read_csv(table)
    frame.loc[[2, 5], "age"] = [7, 140]
    frame.loc[3, "city"] = "paris"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def test_suggest_prints_rules_that_the_table_passes(cli: Invoke, table: Path) -> None:
    result = cli("data", "suggest", str(table))
    assert result.exit_code == 0, result.output
    rules = yaml.safe_load(result.stdout)
    assert rules["columns"]["city"]["allowed"] == ["oslo", "rome"]
    assert rules["columns"]["age"]["dtype"] == "integer"


def test_suggest_writes_a_file_and_validate_passes(
    cli: Invoke, table: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    result = cli("data", "suggest", str(table), "--target", "city", "--output", str(rules))
    assert result.exit_code == 0, result.output
    assert f"to {rules}" in result.stderr and result.stdout == ""
    checked = cli("data", "validate", str(table), "--rules", str(rules))
    assert checked.exit_code == 0, checked.output
    assert "rules passed on 30 rows" in checked.stdout


def test_validate_lists_failures_and_exits_1(
    cli: Invoke, table: Path, bad_table: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    assert cli("data", "suggest", str(table), "-o", str(rules)).exit_code == 0
    result = cli("data", "validate", str(bad_table), "--rules", str(rules))
    assert result.exit_code == 1
    assert "2 failed" in result.stdout
    assert "paris" in result.stdout and "140" in result.stdout


def test_validate_json_reports_counts_and_example_rows(
    cli: Invoke, table: Path, bad_table: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    assert cli("data", "suggest", str(table), "-o", str(rules)).exit_code == 0
    result = cli("data", "validate", str(bad_table), "--rules", str(rules), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {(f["column"], f["kind"]): f for f in report["failures"]}
    assert sorted(failed) == [("age", "range"), ("city", "allowed")]
    assert failed[("age", "range")]["failed_count"] == 2
    assert [ex["row"] for ex in failed[("age", "range")]["examples"]] == [2, 5]


def test_a_malformed_rules_file_is_one_error_line(
    cli: Invoke, table: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("columns:\n  age: {rnage: {min: 0}}\n", encoding="utf-8")
    result = cli("data", "validate", str(table), "--rules", str(rules))
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "columns.age.rnage" in result.stderr


def test_missing_files_are_errors(cli: Invoke, table: Path, tmp_path: Path) -> None:
    missing_rules = cli("data", "validate", str(table), "--rules", str(tmp_path / "no.yaml"))
    assert missing_rules.exit_code == 1 and "rules file not found" in missing_rules.stderr
    missing_data = cli("data", "suggest", str(tmp_path / "none.csv"))
    assert missing_data.exit_code == 1 and "Error:" in missing_data.stderr
