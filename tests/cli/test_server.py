from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import Invoke

from modelkeep.config import Settings
from modelkeep.tracking import Client


def test_non_loopback_without_auth_is_refused_with_the_runners_message(cli: Invoke) -> None:
    result = cli("server", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: refusing to bind '0.0.0.0' without authentication")
    assert "Traceback" not in result.output


def test_non_loopback_with_auth_but_no_token_is_refused(cli: Invoke) -> None:
    result = cli("server", "--host", "0.0.0.0", "--auth")
    assert result.exit_code == 1
    assert "no active writer or admin token" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"server did not become healthy:\n{log.read_text()}")


@pytest.fixture
def auth_server(cli: Invoke, store_uri: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``modelkeep server --auth --artifact-root`` in a subprocess; yields (url, admin secret)."""
    secret = cli("token", "create", "--name", "admin", "--role", "admin").stdout.strip()
    port = _free_port()
    log = tmp_path / "server.log"
    args = ["--store", store_uri, "server", "--port", str(port), "--auth"]
    args += ["--artifact-root", str(tmp_path / "blobs")]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelkeep.cli.app", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield base, secret
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_auth_server_requires_the_token_created_with_the_cli(
    auth_server: tuple[str, str],
) -> None:
    base, secret = auth_server
    anonymous = httpx.get(f"{base}/api/v1/experiments", timeout=5)
    with_token = httpx.get(
        f"{base}/api/v1/experiments", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert (anonymous.status_code, with_token.status_code) == (401, 200)


def test_server_keeps_blobs_under_artifact_root(
    auth_server: tuple[str, str], tmp_path: Path
) -> None:
    base, secret = auth_server
    settings = Settings(tracking_token=secret)
    with Client(base, settings=settings) as client:
        run = client.create_run(client.create_experiment("remote").id)
        client.log_bytes(run.id, b"remote bytes", "note.txt")
    assert any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))
