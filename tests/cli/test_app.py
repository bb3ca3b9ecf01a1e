from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import modelkeep
from modelkeep.cli.app import app


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelkeep.cli.app", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"modelkeep {modelkeep.__version__}"


def test_no_arguments_shows_help() -> None:
    result = CliRunner().invoke(app, [])
    assert "experiments" in result.output
    assert "quickstart" in result.output


def test_store_comes_from_the_environment_when_not_given(store_uri: str) -> None:
    runner = CliRunner(env={"MODELKEEP_TRACKING_URI": store_uri})
    assert runner.invoke(app, ["experiments", "create", "from-env"]).exit_code == 0
    listed = CliRunner().invoke(app, ["--store", store_uri, "experiments", "list", "--json"])
    assert [e["name"] for e in json.loads(listed.stdout)] == ["from-env"]


def test_bad_filter_in_a_real_process_exits_1_with_one_line_and_no_traceback(
    store_uri: str,
) -> None:
    result = _run_module("--store", store_uri, "runs", "search", "--filter", "metrics.acc >> 1")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: Unexpected token '>' at position 13: expected a number"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unreachable_server_store_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["--store", "http://127.0.0.1:9", "experiments", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: tracking server http://127.0.0.1:9 unreachable")


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(app, ["runs", "show"])
    assert result.exit_code == 2


def test_help_does_not_import_the_server_or_data_stacks(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from modelkeep.cli.app import app\n"
        "try:\n"
        "    app(['--help'], prog_name='modelkeep')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('fastapi', 'uvicorn', 'pandas', 'numpy', 'sqlalchemy')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stderr.strip() == "[]"
