"""``modelkeep logs tail|export`` on a real inference log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from cli_support import Invoke

from modelkeep.cli.logs import parse_time
from modelkeep.exceptions import InvalidInputError
from modelkeep.serve.inference_log import Feedback, InferenceLog, InferenceRecord

T0 = int(datetime(2025, 11, 27, 13, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000


def write_log(root: Path, model: str = "churn", rows: int = 5) -> None:
    """``rows`` predictions a minute apart (r0 at 13:00 UTC...), feedback for r1 and r3."""
    with InferenceLog(root / "inference") as log:
        log.append(
            [
                InferenceRecord(
                    f"r{i}",
                    T0 + i * MINUTE,
                    model,
                    "2",
                    "primary" if i % 2 else "canary",
                    {"age": 30 + i, "plan": "pro"},
                    i % 2,
                    [0.25, 0.75],
                    1.5,
                )
                for i in range(rows)
            ]
        )
        log.append_feedback(model, [Feedback("r1", 0, T0 + 99 * MINUTE)])
        log.append_feedback(model, [Feedback("r3", 1, T0 + 99 * MINUTE)])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """MODELKEEP_HOME of the CLI tests (set by conftest), holding a log of model churn."""
    path = tmp_path / "home"
    write_log(path)
    return path


def test_tail_json_gives_the_latest_rows_as_records(cli: Invoke, home: Path) -> None:
    result = cli("logs", "tail", "churn", "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["request_id"] for row in rows] == ["r3", "r4"]
    assert rows[0] == {
        "request_id": "r3",
        "timestamp": "2025-11-27T13:03:00.000Z",
        "timestamp_ms": T0 + 3 * MINUTE,
        "model": "churn",
        "version": "2",
        "variant": "primary",
        "latency_ms": 1.5,
        "prediction": 1,
        "proba": [0.25, 0.75],
        "inputs": {"age": 33, "plan": "pro"},
    }


def test_tail_table_for_people(cli: Invoke, home: Path) -> None:
    result = cli("logs", "tail", "churn")
    assert result.exit_code == 0, result.output
    assert "2025-11-27 13:04:00.000" in result.stdout
    assert all(f"r{i}" in result.stdout for i in range(5))
    assert "age=34, plan=pro" in result.stdout


def test_tail_reads_another_home(cli: Invoke, tmp_path: Path) -> None:
    write_log(tmp_path / "elsewhere", model="fraud", rows=3)
    result = cli("logs", "tail", "fraud", "--home", str(tmp_path / "elsewhere"), "--json")
    assert result.exit_code == 0, result.output
    assert [row["request_id"] for row in json.loads(result.stdout)] == ["r0", "r1", "r2"]


def test_export_parquet_with_feedback(cli: Invoke, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    result = cli("logs", "export", "churn", "-o", str(out), "--with-feedback", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"model": "churn", "rows": 5, "output": str(out)}
    frame = pd.read_parquet(out)
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(5)]
    assert frame["input.age"].tolist() == [30, 31, 32, 33, 34]
    labels = frame["label"].tolist()
    assert labels[1] == 0 and labels[3] == 1
    assert all(pd.isna(labels[i]) for i in (0, 2, 4))
    assert list(frame["proba"].iloc[0]) == [0.25, 0.75]
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_csv_since_until(cli: Invoke, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = cli(
        "logs",
        "export",
        "churn",
        "-o",
        str(out),
        "--since",
        "2025-11-27T13:01",
        "--until",
        "2025-11-27T14:03+01:00",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Wrote 2 rows of churn to {out}"
    frame = pd.read_csv(out)
    assert frame["request_id"].tolist() == ["r1", "r2"]
    assert frame["proba"].map(json.loads).tolist() == [[0.25, 0.75], [0.25, 0.75]]
    assert frame["input.plan"].tolist() == ["pro", "pro"]


def test_unknown_model_is_one_error_line(cli: Invoke, home: Path) -> None:
    result = cli("logs", "tail", "nope")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: no inference log for model 'nope'")
    assert "churn" in lines[0]  # the models that do have a log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "nope", "-o", "x.parquet"), "Error: no inference log for model 'nope'"),
        (("export", "churn", "-o", "x.json"), "Error: --output x.json must end in"),
        (("export", "churn", "-o", "x.csv", "--since", "yesterday"), "Error: --since 'yesterday'"),
    ],
)
def test_export_errors(cli: Invoke, home: Path, args: tuple[str, ...], message: str) -> None:
    result = cli("logs", *args)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(message)


def test_parse_time_reads_utc_and_offsets() -> None:
    assert parse_time("2025-11-27T13:00", "--since") == T0
    assert parse_time("2025-11-27T13:00:00Z", "--since") == T0
    assert parse_time("2025-11-27T14:00+01:00", "--since") == T0
    assert parse_time("2025-11-27", "--since") == T0 - 13 * 60 * MINUTE
    with pytest.raises(InvalidInputError) as caught:
        parse_time("13h", "--until")
    assert caught.value.field == "--until"
