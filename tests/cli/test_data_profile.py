"""``modelkeep data profile``: tables for people, strict JSON for scripts, an HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import Invoke

from modelkeep.tracking.datasets import describe_dataset


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "color": rng.choice(["red", "blue"], size=n),
            "constant": 1,
            "y": (x + rng.normal(size=n) > 0).astype(int),
        }
    )
    frame.loc[:9, "color"] = None
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def test_profile_prints_statistics_and_problems(cli: Invoke, table_path: Path) -> None:
    result = cli("data", "profile", str(table_path), "--target", "y")
    assert result.exit_code == 0, result.output
    assert "200 rows x 4 columns" in result.output
    assert "y (target)" in result.output
    assert "Problems" in result.output
    assert "constant_column" in result.output and "missing_values" in result.output


def test_profile_json_is_strict_and_complete(cli: Invoke, table_path: Path) -> None:
    result = cli("data", "profile", str(table_path), "--target", "y", "--json", "--bins", "4")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    assert data["digest"] == describe_dataset(pd.read_csv(table_path)).digest
    assert len(data["columns"]["x"]["histogram"]["counts"]) == 4
    assert set(data["class_balance"]) == {"0", "1"}
    assert [p["kind"] for p in data["problems"]] == ["missing_values", "constant_column"]


def test_profile_writes_an_html_report(cli: Invoke, table_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = cli("data", "profile", str(table_path), "--json", "--html", str(report))
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the "Wrote" note goes to stderr
    assert f"Wrote {report}" in result.stderr
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_unknown_target_is_one_error_line(cli: Invoke, table_path: Path) -> None:
    result = cli("data", "profile", str(table_path), "--target", "label")
    assert result.exit_code == 1
    assert "Error: target column 'label' is not in the data" in result.stderr


def test_missing_file_is_one_error_line(cli: Invoke, tmp_path: Path) -> None:
    result = cli("data", "profile", str(tmp_path / "absent.csv"))
    assert result.exit_code == 1
    assert "Error: data file not found" in result.stderr
