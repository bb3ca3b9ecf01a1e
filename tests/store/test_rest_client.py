"""RestStore and RestArtifactRepository: the HTTP client side of the tracking server.

The full BaseStore contract runs against RestStore in the conformance suite; these tests cover
what only the client has: the wire encoding of NaN/inf, error classes rebuilt from answers,
retries, unreachable servers, and streaming artifact transfer.
"""

from __future__ import annotations

import io
import math
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.entities import Metric, Param, Role
from modelkeep.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    ImmutableParamError,
    InvalidFilterError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
)
from modelkeep.server import create_app
from modelkeep.server.auth import create_api_token
from modelkeep.store.rest import RestStore
from modelkeep.store.rest_artifacts import RestArtifactRepository
from modelkeep.store.sql import SqlStore

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; RestStore is built on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

MAX_BODY_BYTES = 256 * 1024


@pytest.fixture
def sql_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path}/mk.db")
    yield store
    store.close()


def _app(tmp_path: Path, sql_store: SqlStore, *, auth: bool = False) -> FastAPI:
    settings = Settings(home=tmp_path / "home", max_body_bytes=MAX_BODY_BYTES)
    blobs = LocalArtifactStore(tmp_path / "artifacts")
    return create_app(settings, sql_store, blobs, auth_enabled=auth)


@pytest.fixture
def rest(tmp_path: Path, sql_store: SqlStore) -> Iterator[RestStore]:
    with TestClient(_app(tmp_path, sql_store)) as client:
        yield RestStore("http://testserver", client=client)


@pytest.fixture
def run_id(rest: RestStore) -> str:
    return rest.create_run(rest.create_experiment("client-tests").id).id


@pytest.fixture
def repo(rest: RestStore) -> RestArtifactRepository:
    return RestArtifactRepository(rest)


@pytest.fixture
def live_url(tmp_path: Path, sql_store: SqlStore) -> Iterator[str]:
    """The app on real uvicorn (127.0.0.1, ephemeral port), for network-level behaviour."""
    config = uvicorn.Config(
        _app(tmp_path, sql_store), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)


class FlakyTransport(httpx.BaseTransport):
    """A real HTTP transport whose first ``failures`` connections fail (a restarting server)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self._real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise httpx.ConnectError("connection refused", request=request)
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- wire encoding ---------------------------------------------------------------------------
def test_nan_and_infinities_round_trip_in_history(rest: RestStore, run_id: str) -> None:
    values = [math.nan, math.inf, -math.inf, 0.1, -0.0, 1e308, 5e-324]
    rest.log_batch(run_id, metrics=[Metric("m", v, i, 7) for i, v in enumerate(values)])
    back = [m.value for m in rest.get_metric_history(run_id, "m")]
    assert math.isnan(back[0]) and back[1:] == values[1:]
    assert math.copysign(1.0, back[4]) == -1.0


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_latest_value_round_trips(rest: RestStore, run_id: str, value: float) -> None:
    rest.log_metric(run_id, "m", value)
    assert rest.get_run(run_id).metrics["m"] == value


def test_nan_latest_value_round_trips(rest: RestStore, run_id: str) -> None:
    rest.log_metric(run_id, "m", math.nan)
    assert math.isnan(rest.get_run(run_id).metrics["m"])


def test_unserialisable_value_is_invalid_input(rest: RestStore, run_id: str) -> None:
    with pytest.raises(InvalidInputError):
        rest.log_batch(run_id, params=[Param("k", object())])  # type: ignore[arg-type]


# ---- errors rebuilt from answers -------------------------------------------------------------
def test_unknown_run_raises_not_found(rest: RestStore) -> None:
    with pytest.raises(NotFoundError):
        rest.get_run("0" * 32)


def test_param_change_raises_immutable_param_error(rest: RestStore, run_id: str) -> None:
    rest.log_param(run_id, "lr", 0.1)
    with pytest.raises(ImmutableParamError):
        rest.log_param(run_id, "lr", 0.2)


def test_duplicate_experiment_raises_already_exists(rest: RestStore) -> None:
    rest.create_experiment("dup")
    with pytest.raises(AlreadyExistsError):
        rest.create_experiment("dup")


def test_filter_error_keeps_its_position(rest: RestStore, run_id: str) -> None:
    experiment_id = rest.get_run(run_id).experiment_id
    with pytest.raises(InvalidFilterError) as info:
        rest.search_runs([experiment_id], "metrics.acc > 0.5 and and")
    assert info.value.position is not None and info.value.position > 0


def test_invalid_input_keeps_its_field(rest: RestStore) -> None:
    with pytest.raises(InvalidInputError) as info:
        rest.list_experiments(view="sideways")
    assert info.value.field == "view"


def test_unsafe_artifact_path_raises_unsafe_path_error(rest: RestStore, run_id: str) -> None:
    with pytest.raises(UnsafePathError):
        rest.record_artifact(run_id, "../escape", "0" * 64, 1)


def test_missing_token_raises_authentication_error(tmp_path: Path, sql_store: SqlStore) -> None:
    with TestClient(_app(tmp_path, sql_store, auth=True)) as client:
        with pytest.raises(AuthenticationError):
            RestStore("http://testserver", client=client).list_experiments()


def test_reader_token_writing_raises_permission_denied(
    tmp_path: Path, sql_store: SqlStore
) -> None:
    _, secret = create_api_token(sql_store, "r", Role.READER)
    with TestClient(_app(tmp_path, sql_store, auth=True)) as client:
        store = RestStore("http://testserver", client=client, token=secret)
        with pytest.raises(PermissionDeniedError):
            store.create_experiment("x")


def test_token_is_sent_as_bearer(tmp_path: Path, sql_store: SqlStore) -> None:
    _, secret = create_api_token(sql_store, "w", Role.WRITER)
    with TestClient(_app(tmp_path, sql_store, auth=True)) as client:
        store = RestStore("http://testserver", client=client, token=secret)
        assert store.create_experiment("x").name == "x"


def test_non_json_error_answer_raises_store_error() -> None:
    # A proxy in front of the server answering for it, in HTML.
    proxy = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad Gateway"))
    with httpx.Client(transport=proxy) as http, pytest.raises(StoreError):
        RestStore("http://tracking", client=http).list_experiments()


def test_non_http_uri_is_invalid() -> None:
    with pytest.raises(InvalidInputError):
        RestStore("sqlite:///x.db")


# ---- network failures --------------------------------------------------------------------------
def test_unreachable_server_raises_store_unavailable() -> None:
    with RestStore(f"http://127.0.0.1:{_closed_port()}", timeout=2) as store:
        with pytest.raises(StoreUnavailableError):
            store.list_experiments()


def test_get_is_retried_after_connection_errors(live_url: str) -> None:
    transport = FlakyTransport(failures=2)
    with httpx.Client(transport=transport) as http:
        assert RestStore(live_url, client=http).list_experiments() == []
    assert transport.attempts == 3


def test_get_gives_up_after_three_attempts(live_url: str) -> None:
    transport = FlakyTransport(failures=3)
    with httpx.Client(transport=transport) as http, pytest.raises(StoreUnavailableError):
        RestStore(live_url, client=http).list_experiments()
    assert transport.attempts == 3


def test_write_is_not_retried(live_url: str) -> None:
    transport = FlakyTransport(failures=1)
    with httpx.Client(transport=transport) as http, pytest.raises(StoreUnavailableError):
        RestStore(live_url, client=http).create_experiment("x")
    assert transport.attempts == 1


def test_one_store_is_shared_by_threads(live_url: str) -> None:
    with RestStore(live_url) as store:
        run_id = store.create_run(store.create_experiment("threads").id).id
        threads = [
            threading.Thread(target=store.log_metric, args=(run_id, "m", float(i), i))
            for i in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.get_metric_history(run_id, "m")) == 16


# ---- artifacts ---------------------------------------------------------------------------------
def test_log_bytes_then_read_bytes(repo: RestArtifactRepository, run_id: str) -> None:
    record = repo.log_bytes(run_id, b"hello", "notes/hello.txt")
    assert (record.path, record.size) == ("notes/hello.txt", 5)
    assert repo.read_bytes(run_id, "notes/hello.txt") == b"hello"


def test_log_file_uses_the_file_name(
    repo: RestArtifactRepository, run_id: str, tmp_path: Path
) -> None:
    local = tmp_path / "model.bin"
    local.write_bytes(b"\x00" * 100_000)
    assert repo.log_file(run_id, local, "models").path == "models/model.bin"


def test_open_streams_content_in_pieces(repo: RestArtifactRepository, run_id: str) -> None:
    data = bytes(range(256)) * 800
    repo.log_bytes(run_id, data, "big.bin")
    with repo.open(run_id, "big.bin") as stream:
        pieces = [stream.read(1000) for _ in range(205)]
    assert b"".join(pieces) == data


def test_download_directory(repo: RestArtifactRepository, run_id: str, tmp_path: Path) -> None:
    repo.log_bytes(run_id, b"a", "d/a.txt")
    repo.log_bytes(run_id, b"b", "d/e/b.txt")
    repo.download(run_id, "d", tmp_path / "out")
    assert (tmp_path / "out" / "d" / "e" / "b.txt").read_bytes() == b"b"


def test_list_with_prefix(repo: RestArtifactRepository, run_id: str) -> None:
    for path in ["a/x", "ab/y", "a/z"]:
        repo.log_bytes(run_id, b".", path)
    assert [r.path for r in repo.list(run_id, "a")] == ["a/x", "a/z"]


def test_unsafe_path_is_refused_before_sending(repo: RestArtifactRepository, run_id: str) -> None:
    with pytest.raises(UnsafePathError):
        repo.log_bytes(run_id, b"x", "../../etc/passwd")


def test_client_side_size_limit(repo: RestArtifactRepository, run_id: str) -> None:
    with pytest.raises(PayloadTooLargeError):
        repo.log_stream(run_id, io.BytesIO(b"x" * 11), "f.bin", max_bytes=10)
    assert repo.list(run_id) == []


def test_server_size_limit_raises_payload_too_large(
    repo: RestArtifactRepository, run_id: str
) -> None:
    with pytest.raises(PayloadTooLargeError):
        repo.log_bytes(run_id, b"x" * (MAX_BODY_BYTES + 1), "big.bin")


def test_upload_to_unknown_run_raises_not_found(repo: RestArtifactRepository) -> None:
    with pytest.raises(NotFoundError):
        repo.log_bytes("0" * 32, b"x", "a.txt")


def test_open_unknown_artifact_raises_not_found(repo: RestArtifactRepository, run_id: str) -> None:
    with pytest.raises(NotFoundError):
        repo.open(run_id, "missing.txt")


def test_artifacts_over_real_http(live_url: str, tmp_path: Path) -> None:
    with RestStore(live_url) as store:
        run_id = store.create_run(store.create_experiment("live").id).id
        repo = RestArtifactRepository(store)
        data = b"0123456789" * 20_000
        repo.log_bytes(run_id, data, "blob.bin")
        assert repo.read_bytes(run_id, "blob.bin") == data


def test_server_size_limit_over_real_http(live_url: str) -> None:
    with RestStore(live_url) as store:
        run_id = store.create_run(store.create_experiment("live").id).id
        with pytest.raises(PayloadTooLargeError):
            RestArtifactRepository(store).log_bytes(run_id, b"x" * (40 * MAX_BODY_BYTES), "b.bin")
