"""``modelkeep serve``: refusals as one error line, and a real multi-worker server process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_support import Invoke
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from modelkeep.tracking import Client


@pytest.fixture
def champion(client: Client) -> RandomForestClassifier:
    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y)
    run = client.create_run(client.get_or_create_experiment("e").id)
    info = client.log_model(run.id, model, "model", input_example=X.head(3))
    client.set_terminated(run.id)
    version = client.register_model(info.uri, "m").version
    client.set_alias("m", "champion", version)
    return model


def _one_error_line(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    assert getattr(result, "exit_code", None) == 1, stderr
    assert getattr(result, "exception", None) is None or isinstance(
        getattr(result, "exception", None), SystemExit
    )
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def test_binding_a_public_address_without_auth_is_refused(
    cli: Invoke, champion: RandomForestClassifier
) -> None:
    line = _one_error_line(cli("serve", "models:/m@champion", "--host", "0.0.0.0"))
    assert "--auth" in line


def test_auth_without_any_token_still_refuses_a_public_address(
    cli: Invoke, champion: RandomForestClassifier
) -> None:
    line = _one_error_line(cli("serve", "models:/m@champion", "--host", "0.0.0.0", "--auth"))
    assert "token" in line


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--runtime", "gpu"], "runtime"),
        (["--canary", "nonsense"], "canary"),
    ],
)
def test_bad_options_are_one_error_line(
    cli: Invoke, champion: RandomForestClassifier, args: list[str], word: str
) -> None:
    assert word in _one_error_line(cli("serve", "models:/m@champion", *args))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_worker_processes_serve_the_model(
    store_uri: str, champion: RandomForestClassifier, tmp_path: Path
) -> None:
    port = _free_port()
    command = [
        sys.executable, "-m", "modelkeep.cli.app", "--store", store_uri, "serve",
        "models:/m@champion", "--port", str(port), "--workers", "2",
    ]  # fmt: skip
    env = {**os.environ, "MODELKEEP_HOME": str(tmp_path / "home")}
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):  # not listening yet
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.2)
        X = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
        body = {"dataframe_split": {"columns": list(X.columns), "data": X.head(8).values.tolist()}}
        answers = [httpx.post(f"{url}/invocations", json=body, timeout=30) for _ in range(10)]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)

    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["predictions"] == champion.predict(X.head(8)).tolist() for a in answers)
    assert "Traceback" not in err
