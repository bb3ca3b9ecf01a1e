"""The model registry end to end against real ``modelkeep server`` processes (uvicorn on
loopback): one with ``--auth`` and three tokens, one without auth, started once per module.

The Python API, the CLI (in-process, pointed at the server) and raw HTTP are driven as a user
would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner, Result

import modelkeep as mk
from modelkeep.cli.app import app
from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelkeep.registry.flavors.onnx import PROBA_ATOL, PROBA_RTOL
from modelkeep.server.auth import create_api_token
from modelkeep.store.sql import SqlStore
from modelkeep.tracking import Client, fluent

_ENV_CLEARED = (
    "MODELKEEP_TRACKING_URI",
    "MODELKEEP_TRACKING_TOKEN",
    "MODELKEEP_ARTIFACT_ROOT",
    "MODELKEEP_EXPERIMENT_NAME",
)


@dataclass(frozen=True)
class LiveServer:
    url: str
    admin: str | None = None
    writer: str | None = None
    reader: str | None = None

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, settings=Settings(tracking_token=token))

    def http(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(root: Path, auth: bool) -> Iterator[str]:
    port = _free_port()
    log = root / "server.log"
    args = ["--store", f"sqlite:///{root / 'mk.db'}", "server", "--port", str(port)]
    args += ["--artifact-root", str(root / "blobs"), *(["--auth"] if auth else [])]
    env = {k: v for k, v in os.environ.items() if k not in _ENV_CLEARED}
    env["MODELKEEP_HOME"] = str(root / "home")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelkeep.cli.app", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not become healthy:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("auth-server")
    store = SqlStore(f"sqlite:///{root / 'mk.db'}")
    secrets = {role: create_api_token(store, f"{role.value}-token", role)[1] for role in Role}
    store.close()
    for url in _serve(root, auth=True):
        yield LiveServer(url, secrets[Role.ADMIN], secrets[Role.WRITER], secrets[Role.READER])


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    for url in _serve(tmp_path_factory.mktemp("open-server"), auth=False):
        yield LiveServer(url)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELKEEP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    yield
    fluent.reset()
    mk.set_tracking_uri(None)


# ---- data and models --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 80).astype("int64"),
            "income": rng.normal(50, 10, 80),
            "city": rng.choice(["oslo", "rome", "lima"], 80),
        }
    )
    target = ((frame["age"] > 45) ^ (frame["income"] > 52)).astype(int).to_numpy()
    return frame, target


@pytest.fixture(scope="module")
def pipeline(table: tuple[pd.DataFrame, np.ndarray]) -> Pipeline:
    frame, target = table
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    return Pipeline([("columns", columns), ("forest", forest)]).fit(frame, target)


def _cli(server: LiveServer, token: str | None, *args: str) -> Result:
    env = {"MODELKEEP_TRACKING_TOKEN": token} if token else {}
    return CliRunner().invoke(app, ["--store", server.url, *args], env=env)


def _assert_clean_error(result: Result) -> None:
    """One ``Error: ...`` line on stderr, exit 1, no exception escaping the CLI."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


def _log_and_register(client: Client, model: object, name: str, example: object) -> str:
    experiment = client.store.get_or_create_experiment("live")
    run = client.store.create_run(experiment.id)
    info = client.log_model(run.id, model, name="model", input_example=example)
    version = client.register_model(info.uri, name)
    return f"models:/{name}/{version.version}"


# ---- end to end ---------------------------------------------------------------------------------


def test_fluent_api_through_the_auth_server_records_the_token_as_actor(
    auth_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    pipeline: Pipeline,
    table: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, _ = table
    monkeypatch.setenv("MODELKEEP_TRACKING_URI", auth_server.url)
    assert auth_server.writer is not None
    monkeypatch.setenv("MODELKEEP_TRACKING_TOKEN", auth_server.writer)
    with mk.start_run(experiment="live-fluent") as run:
        run.log_metric("auc", 0.8)
        info = run.log_model(pipeline, input_example=frame.head(5))
    mv = mk.register_model(info.uri, name="fluent-churn", description="who leaves")
    change = mk.set_alias("fluent-churn", "champion", version=mv.version, reason="first")
    model = mk.load_model("models:/fluent-churn@champion")

    assert np.array_equal(model.predict(frame), pipeline.predict(frame))
    assert np.array_equal(model.predict_proba(frame), pipeline.predict_proba(frame))
    assert (mv.created_by, mv.updated_by, change.actor) == ("writer-token",) * 3
    assert model.version is not None and model.version.aliases == ("champion",)
    found = mk.search_model_versions(filter="name = 'fluent-churn' and aliases = 'champion'")
    assert [v.version for v in found] == [mv.version]


def test_boosting_and_onnx_round_trip_through_the_server(
    auth_server: LiveServer, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, target = table
    numeric = frame[["age", "income"]].astype("float64")
    lgbm = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(numeric, target)
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(numeric, target)
    floats = numeric.to_numpy(np.float32)
    logistic = LogisticRegression().fit(floats, target)
    onnx_model = to_onnx(logistic, floats[:2], options={id(logistic): {"zipmap": False}})
    with auth_server.client(auth_server.writer) as client:
        for name, model, data in (
            ("live-lgbm", lgbm, numeric),
            ("live-xgb", xgb, numeric),
        ):
            loaded = client.load_model(_log_and_register(client, model, name, data.head(5)))
            assert np.array_equal(loaded.predict(data), model.predict(data))
            assert np.array_equal(loaded.predict_proba(data), model.predict_proba(data))
        loaded = client.load_model(_log_and_register(client, onnx_model, "live-onnx", floats[:5]))
        np.testing.assert_allclose(
            loaded.predict_proba(floats),
            logistic.predict_proba(floats),
            rtol=PROBA_RTOL,
            atol=PROBA_ATOL,
        )


def test_cli_sign_verify_card_export_import_predict_against_the_auth_server(
    auth_server: LiveServer,
    pipeline: Pipeline,
    table: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    frame, _ = table
    with auth_server.client(auth_server.writer) as client:
        uri = _log_and_register(client, pipeline, "cli-churn", frame.head(5))
    writer, admin = auth_server.writer, auth_server.admin
    assert _cli(auth_server, None, "keys", "generate", "release").exit_code == 0
    trust = ["models", "update", "cli-churn", "--require-signatures", "--trust-key", "release.pub"]
    _assert_clean_error(_cli(auth_server, writer, *trust))  # policy changes need admin
    assert _cli(auth_server, admin, *trust).exit_code == 0
    _assert_clean_error(_cli(auth_server, writer, "models", "alias", "cli-churn", "champion", "1"))

    assert _cli(auth_server, writer, "models", "sign", uri, "--key", "release.key").exit_code == 0
    verified = _cli(auth_server, auth_server.reader, "models", "verify", uri, "--json")
    assert verified.exit_code == 0 and '"ok": true' in verified.stdout
    assert '"signed_by": "writer-token"' in verified.stdout
    moved = _cli(auth_server, writer, "models", "alias", "cli-churn", "champion", "1")
    assert moved.exit_code == 0, moved.output

    card = _cli(auth_server, auth_server.reader, "models", "card", "models:/cli-churn@champion")
    assert card.exit_code == 0
    markdown = (tmp_path / "cli-churn-v1.md").read_text()
    assert "champion" in markdown and "writer-token" in markdown

    exported = _cli(auth_server, writer, "models", "export", uri, "-o", "churn.tar.gz")
    assert exported.exit_code == 0
    imported = _cli(auth_server, writer, "models", "import", "churn.tar.gz", "--name", "copy")
    assert imported.exit_code == 0 and "models:/copy/1" in imported.stdout
    with auth_server.client(auth_server.reader) as client:
        copy = client.get_model_version("copy", 1)
        original = client.get_model_version("cli-churn", 1)
    assert copy.root_digest == original.root_digest and len(copy.signatures) == 1

    frame.to_csv(tmp_path / "rows.csv", index=False)
    predicted = _cli(
        auth_server, auth_server.reader, "models", "predict", "models:/cli-churn@champion",
        "-i", "rows.csv",
    )  # fmt: skip
    assert predicted.exit_code == 0
    rows = predicted.stdout.strip().splitlines()
    assert rows[0] == "prediction"
    assert [int(r) for r in rows[1:]] == pipeline.predict(frame).tolist()


def test_reader_cannot_register_and_writer_cannot_delete(
    auth_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = table
    with auth_server.client(auth_server.writer) as writer:
        uri = _log_and_register(writer, pipeline, "guarded", frame.head(3))
        writer.set_alias("guarded", "champion", 1)
        source = writer.get_model_version("guarded", 1).source
        with pytest.raises(PermissionDeniedError):
            writer.store.delete_model_version("guarded", 1, force=True)
    with auth_server.client(auth_server.reader) as reader:
        with pytest.raises(PermissionDeniedError):
            reader.register_model(source, "guarded")
        assert reader.get_registered_model("guarded").latest_version == 1
        assert reader.load_model(uri).version is not None


def test_deleting_an_aliased_version_over_http_needs_force(
    auth_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = table
    with auth_server.client(auth_server.writer) as writer:
        _log_and_register(writer, pipeline, "doomed", frame.head(3))
        writer.set_alias("doomed", "champion", 1, reason="keep")
    with auth_server.http(auth_server.admin) as http:
        refused = http.delete("/models/doomed/versions/1")
        assert refused.status_code == 409
        assert refused.json()["error"]["field"] == "version"
        refused = http.delete("/models/doomed")
        assert refused.status_code == 409 and refused.json()["error"]["field"] == "name"
        assert http.get("/models/doomed/aliases/champion").json()["version"] == 1
        assert (
            http.delete("/models/doomed/versions/1", params={"force": "true"}).status_code == 204
        )
        history = http.get("/models/doomed/alias-history").json()["changes"]
    assert (history[-1]["version"], history[-1]["previous_version"]) == (None, 1)
    assert history[-1]["actor"] == "admin-token"


# ---- hostile names and bodies over HTTP ---------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "body", "field"),
    [
        ("latest", {"version": 1}, "alias"),
        ("12", {"version": 1}, "alias"),
        ("a@b", {"version": 1}, "alias"),
        ("%20padded", {"version": 1}, "alias"),
        ("a%00b", {"version": 1}, "alias"),
        ("ok", {"version": "one"}, "version"),
        ("ok", {"version": 99999999999999999999999}, "version"),
        ("ok", {}, "version"),
        ("ok", {"version": 1, "reason": 5}, "reason"),
    ],
)
def test_bad_alias_requests_are_400_with_the_field(
    auth_server: LiveServer,
    pipeline: Pipeline,
    table: tuple[pd.DataFrame, np.ndarray],
    alias: str,
    body: dict[str, object],
    field: str,
) -> None:
    with auth_server.http(auth_server.reader) as http:
        exists = http.get("/models/hostile").status_code == 200
    if not exists:
        with auth_server.client(auth_server.writer) as writer:
            _log_and_register(writer, pipeline, "hostile", table[0].head(3))
    with auth_server.http(auth_server.writer) as http:
        answer = http.put(f"/models/hostile/aliases/{alias}", json=body)
        history = http.get("/models/hostile/alias-history").json()["changes"]
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field
    assert history == []


def test_non_positive_version_in_alias_body_is_a_400(auth_server: LiveServer) -> None:
    with auth_server.http(auth_server.writer) as http:
        http.post("/models", json={"name": "numbers"})
        answer = http.put("/models/numbers/aliases/champion", json={"version": -1})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "version"


@pytest.mark.parametrize("name", ["..", ".", "a%2Fb", "a?b", "a#b", "%", "a;b", "ünï cödé"])
def test_odd_model_names_round_trip_through_the_server(
    open_server: LiveServer,
    pipeline: Pipeline,
    table: tuple[pd.DataFrame, np.ndarray],
    name: str,
) -> None:
    with open_server.client() as client:
        uri = _log_and_register(client, pipeline, name, table[0].head(3))
        client.set_alias(name, "al.ias%", 1)
        loaded = client.load_model(f"models:/{name}@al.ias%")
        assert loaded.version is not None and loaded.version.name == name
        assert client.get_model_version(name, 1).name == name
        assert client.load_model(uri).root_digest == loaded.root_digest


def test_open_server_takes_the_clients_actor(
    open_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    with open_server.client() as client:
        experiment = client.store.get_or_create_experiment("live")
        run = client.store.create_run(experiment.id)
        info = client.log_model(run.id, pipeline, input_example=table[0].head(3))
        version = client.register_model(info.uri, "actors", actor="alice")
        change = client.set_alias("actors", "champion", version.version, actor="bob")
    assert (version.created_by, change.actor) == ("alice", "bob")


def test_concurrent_alias_moves_through_the_server_keep_an_unbroken_history(
    open_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    with open_server.client() as client:
        _log_and_register(client, pipeline, "race", table[0].head(3))
        first = client.get_model_version("race", 1)
        for _ in range(3):
            client.store.create_model_version("race", first.source, first.root_digest)
    errors: list[BaseException] = []

    def move(worker: int) -> None:
        with open_server.client() as own:
            for step in range(5):
                try:
                    own.set_alias("race", "champion", (worker + step) % 4 + 1)
                except BaseException as exc:  # noqa: BLE001 - asserted below
                    errors.append(exc)

    threads = [threading.Thread(target=move, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_server.client() as client:
        history = client.store.list_alias_history("race", "champion")
        final = client.store.get_model_version_by_alias("race", "champion").version
    assert len(history) == 20
    assert all(b.previous_version == a.version for a, b in zip(history, history[1:], strict=False))
    assert final == history[-1].version


# ---- CLI errors a user can cause ----------------------------------------------------------------


@pytest.fixture
def cli_model(
    open_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> str:
    """``cli-errors`` (with a signature) and ``cli-nosig`` (without), registered once."""
    with open_server.client() as client:
        try:
            client.get_registered_model("cli-errors")
        except NotFoundError:
            _log_and_register(client, pipeline, "cli-errors", table[0].head(3))
            experiment = client.store.get_or_create_experiment("live")
            run = client.store.create_run(experiment.id)
            info = client.log_model(run.id, pipeline, name="nosig")
            client.register_model(info.uri, "cli-nosig")
    return "models:/cli-errors/1"


@pytest.mark.parametrize(
    "args",
    [
        ("models", "predict", "models:/cli-errors@nope", "-i", "rows.csv"),
        ("models", "predict", "models:/cli-errors/0", "-i", "rows.csv"),
        ("models", "predict", "models:/cli-errors/1", "-i", "other.csv"),
        ("models", "predict", "models:/cli-errors/1", "-i", "missing.csv"),
        ("models", "alias", "cli-errors", "latest", "1"),
        ("models", "alias", "cli-errors", "a/b", "1"),
        ("models", "alias", "cli-errors", "x", "99"),
        ("models", "register", "runs:/abc/../../x", "--name", "x"),
        ("models", "register", "runs:/abc/model", "--name", "a@b"),
        ("models", "delete", "cli-errors", "--version", "1", "-y"),
        ("models", "verify", "models:/cli-errors/1", "--key", "AAAA"),
        ("models", "sign", "models:/cli-errors/1", "--key", "rows.csv"),
        ("models", "import", "rows.csv"),
        ("models", "import", "missing.tar.gz"),
    ],
)
def test_cli_user_errors_are_one_line(
    open_server: LiveServer, cli_model: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "rows.csv").write_text("age,income,city\n30,50.0,oslo\n")
    (tmp_path / "other.csv").write_text("x\n1\n")
    with open_server.client() as client:
        client.set_alias("cli-errors", "champion", 1)
    _assert_clean_error(_cli(open_server, None, *args))


@pytest.mark.parametrize(
    "args",
    [
        ("models", "predict", "models:/cli-errors/1", "-i", "empty.csv"),
        ("models", "predict", "models:/cli-errors/1", "-i", "bad.json"),
        ("models", "predict", "models:/cli-nosig/1", "-i", "other.csv"),
        ("models", "predict", "models:/cli-errors/1", "-i", "rows.csv", "-o", "no/dir/out.csv"),
        ("models", "export", "models:/cli-errors/1", "-o", "."),
        ("models", "card", "models:/cli-errors/1", "-o", "rows.csv"),
        ("keys", "generate", "/proc/modelkeep-review/key"),
    ],
)
def test_cli_os_and_data_errors_are_one_line(
    open_server: LiveServer, cli_model: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "rows.csv").write_text("age,income,city\n30,50.0,oslo\n")
    (tmp_path / "other.csv").write_text("x\n1\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.json").write_text("{not json")
    _assert_clean_error(_cli(open_server, None, *args))


def test_cli_verify_of_a_self_signed_version_fails(
    open_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    with open_server.client() as client:
        uri = _log_and_register(client, pipeline, "self-signed", table[0].head(3))
    assert _cli(open_server, None, "keys", "generate", "mallory").exit_code == 0
    assert _cli(open_server, None, "models", "sign", uri, "--key", "mallory.key").exit_code == 0
    assert _cli(open_server, None, "models", "verify", uri).exit_code == 1


def test_conflicting_and_invalid_library_calls_over_http_change_nothing(
    open_server: LiveServer, pipeline: Pipeline, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    with open_server.client() as client:
        _log_and_register(client, pipeline, "stable", table[0].head(3))
        client.set_alias("stable", "champion", 1)
        with pytest.raises(ConflictError):
            client.store.delete_registered_model("stable")
        with pytest.raises(InvalidInputError):
            client.store.update_registered_model("stable", require_signatures=True)
        model = client.get_registered_model("stable")
    assert model.aliases == {"champion": 1} and not model.require_signatures
