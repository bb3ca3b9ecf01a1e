"""``modelkeep audit security MODEL_URI [--json]``: the check table, JSON, and exit code 1 when a
check fails, on models registered in a temporary store named by MODELKEEP_TRACKING_URI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

import modelkeep.cli.audit_security  # noqa: F401 - adds `security` to the audit group
from modelkeep.cli import audit
from modelkeep.cli.app import ModelkeepGroup
from modelkeep.config import Settings
from modelkeep.tracking import Client


def _invoke(*args: str) -> Result:
    root = typer.Typer(cls=ModelkeepGroup)
    root.add_typer(audit.app, name="audit")
    return CliRunner().invoke(root, ["audit", *args])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``clean`` v1 (skops) and ``pickled`` v1 (pickle flavor) registered."""
    root = tmp_path_factory.mktemp("security-cli")
    uri = f"sqlite:///{root / 'mk.db'}"
    settings = Settings(home=root / "home").model_copy(update={"tracking_uri": uri})
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.normal(size=(30, 2)), np.arange(30) % 2)
    with Client(uri, settings=settings) as client:
        for name, flavor in (("clean", None), ("pickled", "pickle")):
            run = client.store.create_run(client.store.get_or_create_experiment("cli").id)
            info = client.log_model(run.id, model, flavor=flavor)
            client.register_model(info.uri, name)
    return root, uri


@pytest.fixture(autouse=True)
def environment(store: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    root, uri = store
    monkeypatch.setenv("MODELKEEP_HOME", str(root / "home"))
    monkeypatch.setenv("MODELKEEP_TRACKING_URI", uri)
    monkeypatch.setenv("COLUMNS", "200")


def test_a_clean_model_prints_the_checks_and_exits_0() -> None:
    result = _invoke("security", "models:/clean/1")

    assert result.exit_code == 0, result.output
    for name in ("integrity", "signature", "serialization", "requirements"):
        assert name in result.output
    assert "PASSED: every check" in result.output


def test_a_pickled_model_fails_with_exit_code_1_naming_the_global() -> None:
    result = _invoke("security", "models:/pickled/1", "--no-record")

    assert result.exit_code == 1
    assert "FAILED: serialization" in result.output
    assert "LogisticRegression" in result.output


def test_json_output_and_allow_code() -> None:
    strict = _invoke("security", "models:/pickled/1", "--json")
    allowed = _invoke("security", "models:/pickled/1", "--json", "--allow-code")

    assert strict.exit_code == 1
    report = json.loads(strict.output)
    assert report["passed"] is False
    assert {c["name"]: c["passed"] for c in report["checks"]} == {
        "integrity": True,
        "signature": True,
        "serialization": False,
        "requirements": True,
    }
    assert allowed.exit_code == 0
    assert json.loads(allowed.output)["passed"] is True


def test_an_unknown_model_is_one_error_line() -> None:
    result = _invoke("security", "models:/nothing/1")

    assert result.exit_code == 1
    assert "nothing" in result.output
