"""The uvicorn runner's bind policy: loopback freely, anything else only with auth and a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.config import Settings
from modelkeep.entities import Role
from modelkeep.exceptions import InvalidInputError
from modelkeep.server.auth import create_api_token
from modelkeep.server.runner import check_bind_allowed, is_loopback, run_server
from modelkeep.store.sql import SqlStore


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "", "localhost.evil"]
)
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_run_server_refuses_public_bind_without_auth(tmp_path: Path, host: str) -> None:
    with pytest.raises(InvalidInputError, match="without authentication") as info:
        run_server(f"sqlite:///{tmp_path}/mk.db", host, 0, auth_enabled=False, settings=Settings())
    assert info.value.field == "host"


def test_run_server_refuses_public_bind_with_auth_but_no_token(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no active writer or admin token"):
        run_server(
            f"sqlite:///{tmp_path}/mk.db", "0.0.0.0", 0, auth_enabled=True, settings=Settings()
        )


def test_public_bind_refused_when_only_reader_tokens_exist(sql_store: SqlStore) -> None:
    create_api_token(sql_store, "r", Role.READER)
    with pytest.raises(InvalidInputError):
        check_bind_allowed("0.0.0.0", sql_store, auth_enabled=True)


def test_public_bind_refused_when_the_writer_token_is_revoked(sql_store: SqlStore) -> None:
    token, _ = create_api_token(sql_store, "w", Role.WRITER)
    sql_store.revoke_token(token.id)
    with pytest.raises(InvalidInputError):
        check_bind_allowed("0.0.0.0", sql_store, auth_enabled=True)


@pytest.mark.parametrize("role", [Role.WRITER, Role.ADMIN])
def test_public_bind_allowed_with_auth_and_a_write_token(sql_store: SqlStore, role: Role) -> None:
    create_api_token(sql_store, "t", role)
    check_bind_allowed("0.0.0.0", sql_store, auth_enabled=True)


def test_public_bind_refused_with_token_but_auth_off(sql_store: SqlStore) -> None:
    create_api_token(sql_store, "t", Role.ADMIN)
    with pytest.raises(InvalidInputError):
        check_bind_allowed("0.0.0.0", sql_store, auth_enabled=False)


def test_loopback_bind_needs_nothing(sql_store: SqlStore) -> None:
    check_bind_allowed("127.0.0.1", sql_store, auth_enabled=False)


def test_run_server_refuses_bad_port(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        run_server(
            f"sqlite:///{tmp_path}/mk.db",
            "127.0.0.1",
            70000,
            auth_enabled=False,
            settings=Settings(),
        )
    assert info.value.field == "port"
