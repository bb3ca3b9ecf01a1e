from __future__ import annotations

import json

from cli_support import Invoke

from modelkeep.server.auth import authenticate
from modelkeep.store import open_store


def test_create_prints_the_secret_once_on_stdout_with_a_warning(cli: Invoke) -> None:
    result = cli("token", "create", "--name", "ci", "--role", "writer")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("mk_")
    assert "will not be shown again" in result.stderr


def test_created_secret_authenticates_with_its_role(cli: Invoke, store_uri: str) -> None:
    secret = cli("token", "create", "--name", "ci", "--role", "admin").stdout.strip()
    with open_store(store_uri) as store:
        token = authenticate(store, f"Bearer {secret}")
    assert (token.name, token.role.value) == ("ci", "admin")


def test_list_json_shows_tokens_but_no_secret(cli: Invoke) -> None:
    secret = cli("token", "create", "--name", "ci", "--role", "reader").stdout.strip()
    result = cli("token", "list", "--json")
    assert result.exit_code == 0
    [token] = json.loads(result.stdout)
    assert (token["name"], token["role"], token["revoked"]) == ("ci", "reader", False)
    assert secret not in result.stdout


def test_list_table(cli: Invoke) -> None:
    cli("token", "create", "--name", "alice-laptop", "--role", "reader")
    result = cli("token", "list")
    assert "alice-laptop" in result.stdout


def test_revoke_marks_the_token_revoked(cli: Invoke) -> None:
    cli("token", "create", "--name", "ci", "--role", "writer")
    [token] = json.loads(cli("token", "list", "--json").stdout)
    result = cli("token", "revoke", token["id"])
    assert result.exit_code == 0, result.output
    [after] = json.loads(cli("token", "list", "--json").stdout)
    assert after["revoked"] is True


def test_revoke_unknown_token_is_an_error(cli: Invoke) -> None:
    result = cli("token", "revoke", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Token 'nope' does not exist"


def test_unknown_role_is_a_usage_error(cli: Invoke) -> None:
    result = cli("token", "create", "--name", "ci", "--role", "boss")
    assert result.exit_code == 2
