"""``modelkeep predict MODEL_URI INPUT -o OUT`` on a real SQLite store and real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import Invoke
from sklearn.linear_model import LogisticRegression

from modelkeep.tracking import Client


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})


@pytest.fixture
def fitted(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame, (frame["x"] + frame["y"] > 0).astype(int))


@pytest.fixture
def model_uri(client: Client, frame: pd.DataFrame, fitted: LogisticRegression) -> str:
    """The model registered as version 1 of ``churn``; returns ``models:/churn/1``."""
    run = client.create_run(client.get_or_create_experiment("e").id)
    info = client.log_model(run.id, fitted, input_example=frame.head(3))
    version = client.register_model(info.uri, "churn")
    return f"models:/churn/{version.version}"


def test_scores_parquet_with_id_and_probabilities_as_json(
    cli: Invoke,
    model_uri: str,
    frame: pd.DataFrame,
    fitted: LogisticRegression,
    tmp_path: Path,
) -> None:
    source, output = tmp_path / "rows.parquet", tmp_path / "scores.parquet"
    frame.assign(cid=np.arange(500) + 1000).to_parquet(source)

    result = cli(
        "predict", model_uri, str(source), "-o", str(output),
        "--chunk-size", "120", "--id-column", "cid", "--proba", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["chunks"], summary["output"]) == (500, 5, str(output))
    scores = pd.read_parquet(output)
    assert scores.columns.tolist() == ["cid", "prediction", "proba_0", "proba_1"]
    assert scores["cid"].tolist() == list(range(1000, 1500))
    assert scores["prediction"].tolist() == fitted.predict(frame).tolist()
    np.testing.assert_allclose(scores["proba_1"], fitted.predict_proba(frame)[:, 1])


def test_scores_csv_to_csv_and_says_what_it_wrote(
    cli: Invoke, model_uri: str, frame: pd.DataFrame, fitted: LogisticRegression, tmp_path: Path
) -> None:
    source, output = tmp_path / "rows.csv", tmp_path / "scores.csv"
    frame.to_csv(source, index=False)

    result = cli("predict", model_uri, str(source), "--output", str(output))

    assert result.exit_code == 0, result.output
    assert "Wrote 500 predictions to" in result.stdout and "scores.csv" in result.stdout
    scores = pd.read_csv(output)
    assert scores["row"].tolist() == list(range(500))
    assert scores["prediction"].tolist() == fitted.predict(frame).tolist()


def test_bad_chunk_is_one_error_line_naming_rows_and_no_output(
    cli: Invoke, model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    source, output = tmp_path / "rows.csv", tmp_path / "scores.parquet"
    broken = frame.astype({"y": object})
    broken.loc[260, "y"] = "oops"
    broken.to_csv(source, index=False)

    result = cli("predict", model_uri, str(source), "-o", str(output), "--chunk-size", "100")

    assert result.exit_code == 1
    assert "Error:" in result.stderr and "rows 200-299" in result.stderr
    assert "'y'" in result.stderr and "Traceback" not in result.output
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_unknown_model_is_an_error(cli: Invoke, frame: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    result = cli("predict", "models:/nope/1", str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1 and "Error:" in result.stderr


def test_output_option_is_required(cli: Invoke, model_uri: str, tmp_path: Path) -> None:
    result = cli("predict", model_uri, str(tmp_path / "rows.csv"))
    assert result.exit_code == 2
