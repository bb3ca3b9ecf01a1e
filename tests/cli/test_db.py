from __future__ import annotations

from pathlib import Path

from cli_support import Invoke
from typer.testing import CliRunner

from modelkeep.cli.app import app
from modelkeep.store.sql.migrate import head_revision


def test_upgrade_creates_a_fresh_store_at_head(cli: Invoke, tmp_path: Path) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database is at revision {head_revision()} (head)"
    assert (tmp_path / "mk.db").is_file()


def test_upgrade_store_option_overrides_the_global_one(cli: Invoke, tmp_path: Path) -> None:
    other = tmp_path / "sub" / "other.db"
    result = cli("db", "upgrade", "--store", f"sqlite:///{other}")
    assert result.exit_code == 0, result.output
    assert other.is_file()
    assert not (tmp_path / "mk.db").exists()


def test_upgrade_is_idempotent(cli: Invoke) -> None:
    assert cli("db", "upgrade").exit_code == 0
    assert cli("db", "upgrade").exit_code == 0


def test_upgrade_of_a_server_uri_is_refused(cli: Invoke) -> None:
    result = cli("db", "upgrade", "--store", "http://127.0.0.1:5000")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: db upgrade needs a SQL store")


def test_default_store_lives_under_modelkeep_home(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "modelkeep.db").is_file()
