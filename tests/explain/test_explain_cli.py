"""``modelkeep explain MODEL_URI ROWS_FILE`` through a local Typer app with the command added
as the lead registers it (``app.command("explain")(explain_command)``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from modelkeep.cli.app import ModelkeepGroup
from modelkeep.cli.context import CliState
from modelkeep.cli.explain import explain_command
from modelkeep.config import Settings

Invoke = Callable[..., Result]


def _app() -> typer.Typer:
    app = typer.Typer(cls=ModelkeepGroup, add_completion=False)

    @app.callback()
    def root(
        ctx: typer.Context, store: Annotated[str | None, typer.Option("--store")] = None
    ) -> None:
        ctx.obj = CliState(store_uri=store)

    app.command("explain")(explain_command)
    return app


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    monkeypatch.delenv("MODELKEEP_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> Result:
        store = settings.resolved_tracking_uri()
        return CliRunner().invoke(_app(), ["--store", store, "explain", *args])

    return invoke


def test_writes_the_attributions_as_csv_and_prints_the_largest(
    run: Invoke, uris: dict[str, str], rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "attributions.csv"

    result = run(uris["forest"], str(tmp_path / "rows.csv"), "--output", str(out))

    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == [
        "signal", "weak", "noise", "plan", "base_value", "output", "explained_class",
    ]  # fmt: skip
    assert len(written) == len(rows)
    total = written[["signal", "weak", "noise", "plan"]].sum(axis=1) + written["base_value"]
    assert (total - written["output"]).abs().max() < 1e-6
    assert "Attributions (tree, probability)" in result.output
    assert "signal" in result.output
    assert "additivity error" in result.output


def test_json_output_and_method_option(
    run: Invoke, uris: dict[str, str], rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows.iloc[:3].to_csv(tmp_path / "rows.csv", index=False)

    result = run(uris["ridge"], str(tmp_path / "rows.csv"), "--method", "linear", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == "linear"
    assert data["output_space"] == "prediction"
    assert len(data["attributions"]) == 3
    assert data["additivity_error"] < 1e-6


def test_importance_is_computed_printed_and_stored(
    run: Invoke, uris: dict[str, str], valid: pd.DataFrame, tmp_path: Path
) -> None:
    valid.drop(columns=["y3", "yr"]).to_csv(tmp_path / "valid.csv", index=False)
    out = tmp_path / "importance.json"

    result = run(
        uris["hist"], str(tmp_path / "valid.csv"), "--importance", "--target", "y",
        "--repeats", "2", "--output", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["ranking"][0] == "signal"
    assert written["n_repeats"] == 2
    assert written["run_id"] is not None
    assert "Importance (accuracy" in result.output
    assert "stored with run" in result.output


def test_importance_without_target_and_a_bad_output_suffix_are_errors(
    run: Invoke, uris: dict[str, str], valid: pd.DataFrame, tmp_path: Path
) -> None:
    valid.to_csv(tmp_path / "valid.csv", index=False)

    no_target = run(uris["hist"], str(tmp_path / "valid.csv"), "--importance")
    bad_suffix = run(uris["hist"], str(tmp_path / "valid.csv"), "-o", str(tmp_path / "x.txt"))

    assert no_target.exit_code == 1
    assert "--target" in no_target.output
    assert bad_suffix.exit_code == 1
    assert ".csv or .json" in bad_suffix.output
