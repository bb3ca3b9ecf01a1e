"""``modelkeep models ...`` and ``modelkeep keys generate`` on a real SQLite store."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import Invoke
from sklearn.linear_model import LogisticRegression

from modelkeep.config import Settings
from modelkeep.tracking import Client


@pytest.fixture
def model_uri(store_uri: str) -> str:
    """A logistic regression logged to a run of the test store; returns its runs:/ URI."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    target = (frame["x"] > 0).astype(int)
    clf = LogisticRegression().fit(frame, target)
    settings = Settings(tracking_uri=store_uri)
    with Client(store_uri, settings=settings) as client:
        run = client.create_run(client.get_or_create_experiment("e").id)
        return client.log_model(run.id, clf, input_example=frame.head(3)).uri


def _json(cli: Invoke, *args: str) -> object:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_register_list_show_versions(cli: Invoke, model_uri: str) -> None:
    result = cli("models", "register", model_uri, "--name", "churn", "--tag", "team=a")
    assert result.exit_code == 0, result.output
    assert "models:/churn/1" in result.stdout
    models = _json(cli, "models", "list")
    assert isinstance(models, list) and models[0]["name"] == "churn"
    shown = _json(cli, "models", "show", "churn")
    assert isinstance(shown, dict) and shown["versions"][0]["tags"] == {"team": "a"}
    page = _json(cli, "models", "versions", "churn", "--filter", "tags.team = 'a'")
    assert isinstance(page, dict) and [v["version"] for v in page["versions"]] == [1]
    table = cli("models", "versions")
    assert table.exit_code == 0 and "churn" in table.stdout


def test_alias_set_move_and_history(cli: Invoke, model_uri: str) -> None:
    for _ in range(2):
        assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    assert cli("models", "alias", "churn", "champion", "1", "--reason", "first").exit_code == 0
    moved = cli("models", "alias", "churn", "champion", "2", "--reason", "better")
    assert moved.exit_code == 0 and "was version 1" in moved.stdout
    shown = _json(cli, "models", "show", "churn")
    assert isinstance(shown, dict)
    assert shown["aliases"] == {"champion": 2}
    assert [h["reason"] for h in shown["alias_history"]] == ["first", "better"]


def test_delete_aliased_version_needs_force(cli: Invoke, model_uri: str) -> None:
    assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    assert cli("models", "alias", "churn", "champion", "1").exit_code == 0
    refused = cli("models", "delete", "churn", "--version", "1", "--yes")
    assert refused.exit_code == 1
    assert "Error:" in refused.stderr and "Traceback" not in refused.output
    forced = cli("models", "delete", "churn", "--version", "1", "--yes", "--force")
    assert forced.exit_code == 0, forced.output


def test_keys_sign_verify_and_required_signatures(
    cli: Invoke, model_uri: str, tmp_path: Path
) -> None:
    prefix = tmp_path / "keys" / "release"
    generated = cli("keys", "generate", str(prefix))
    assert generated.exit_code == 0, generated.output
    assert (prefix.with_suffix(".key").stat().st_mode & 0o777) == 0o600
    assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    public = str(prefix.with_suffix(".pub"))
    updated = cli("models", "update", "churn", "--require-signatures", "--trust-key", public)
    assert updated.exit_code == 0, updated.output
    unsigned = cli("models", "alias", "churn", "champion", "1")
    assert unsigned.exit_code == 1 and "sign" in unsigned.stderr.lower()
    not_yet = cli("models", "verify", "models:/churn/1")
    assert not_yet.exit_code == 1
    signed = cli("models", "sign", "models:/churn/1", "--key", str(prefix.with_suffix(".key")))
    assert signed.exit_code == 0, signed.output
    report = _json(cli, "models", "verify", "models:/churn/1")
    assert isinstance(report, dict) and report["ok"] is True
    assert cli("models", "alias", "churn", "champion", "1").exit_code == 0


def test_export_import_and_card(cli: Invoke, model_uri: str, tmp_path: Path) -> None:
    assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    archive = tmp_path / "churn.tar.gz"
    exported = cli("models", "export", "models:/churn/1", "--output", str(archive))
    assert exported.exit_code == 0, exported.output
    assert tarfile.is_tarfile(archive)
    imported = _json(cli, "models", "import", str(archive), "--name", "copy")
    assert isinstance(imported, dict) and imported["name"] == "copy"
    card = cli("models", "card", "models:/copy/1", "--output", str(tmp_path / "card"))
    assert card.exit_code == 0, card.output
    assert (tmp_path / "card" / "copy-v1.md").exists()
    assert (tmp_path / "card" / "copy-v1.html").exists()


def test_import_of_a_hostile_archive_is_refused_cleanly(cli: Invoke, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload.txt"
    payload.write_text("x")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="../escape.txt")
    result = cli("models", "import", str(archive))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert not (tmp_path.parent / "escape.txt").exists()
    assert _json(cli, "models", "list") == []


def test_bad_uri_is_one_clear_line(cli: Invoke) -> None:
    result = cli("models", "card", "s3://nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: bad model URI")


def test_predict_scores_a_csv_like_the_model(
    cli: Invoke, model_uri: str, tmp_path: Path, store_uri: str
) -> None:
    assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    rows = pd.DataFrame({"x": [-1.0, 2.0, 0.5], "y": [0.0, 1.0, -3.0]})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = cli("models", "predict", "models:/churn/1", "--input", str(tmp_path / "rows.csv"))
    assert result.exit_code == 0, result.output
    with Client(store_uri, settings=Settings(tracking_uri=store_uri)) as client:
        expected = client.load_model("models:/churn/1").predict(rows)
    assert result.stdout.splitlines() == ["prediction", *[str(v) for v in expected]]
    proba = cli(
        "models", "predict", "models:/churn/1", "-i", str(tmp_path / "rows.csv"), "--proba"
    )
    assert proba.exit_code == 0 and proba.stdout.splitlines()[0] == "0,1"


def test_predict_reports_every_schema_problem(cli: Invoke, model_uri: str, tmp_path: Path) -> None:
    assert cli("models", "register", model_uri, "--name", "churn").exit_code == 0
    pd.DataFrame({"x": ["a"], "z": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    result = cli("models", "predict", "models:/churn/1", "--input", str(tmp_path / "bad.csv"))
    assert result.exit_code == 1
    assert "'y'" in result.stderr and "'z'" in result.stderr and "'x'" in result.stderr
