"""Bearer-token auth: minting, hashing, and deny-by-default proven by walking every route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelkeep.entities import Role
from modelkeep.exceptions import AuthenticationError, InvalidInputError
from modelkeep.server.auth import (
    TOKEN_PREFIX,
    authenticate,
    create_api_token,
    has_active_write_token,
    hash_token,
)
from modelkeep.server.deps import PUBLIC, PublicAccess, access_rule_of, check_access_rules, require
from modelkeep.store.sql import SqlStore

PUBLIC_PATHS = {"/health"}
# Destructive registry writes need more than a writer token, and so does reading the audit log.
ADMIN_ROUTES = {
    ("DELETE", "/api/v1/models/{name}"),
    ("DELETE", "/api/v1/models/{name}/versions/{version}"),
    ("GET", "/api/v1/audit-events"),
}


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, concrete URL, route) for every API route, path parameters filled in."""
    found: list[tuple[str, str, APIRoute]] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            url = re.sub(r"\{[^}]+\}", "x", route.path)
            found.extend((method, url, route) for method in sorted(route.methods or ()))
    return found


def _needed(route: APIRoute) -> Role | None:
    rule = access_rule_of(route)
    assert rule is not None, f"{route.path} has no access rule"
    return None if isinstance(rule, PublicAccess) else rule.role


def test_every_route_declares_exactly_one_access_rule(auth_app: FastAPI) -> None:
    for _, _, route in _routes(auth_app):
        assert access_rule_of(route) is not None, route.path


def test_only_health_is_public(auth_app: FastAPI) -> None:
    public = {route.path for _, _, route in _routes(auth_app) if _needed(route) is None}
    assert public == PUBLIC_PATHS


def test_every_protected_route_rejects_a_request_without_token(
    auth_client: TestClient, auth_app: FastAPI
) -> None:
    for method, url, route in _routes(auth_app):
        if _needed(route) is not None:
            response = auth_client.request(method, url)
            assert response.status_code == 401, f"{method} {url}"
            assert response.json()["error"]["code"] == "unauthenticated"


def test_every_protected_route_rejects_a_revoked_token(
    auth_client: TestClient, auth_app: FastAPI, secrets: Any
) -> None:
    headers = {"Authorization": f"Bearer {secrets.revoked}"}
    for method, url, route in _routes(auth_app):
        if _needed(route) is not None:
            assert auth_client.request(method, url, headers=headers).status_code == 401, url


def test_every_protected_route_rejects_an_unknown_token(
    auth_client: TestClient, auth_app: FastAPI
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN_PREFIX}not-a-real-token"}
    for method, url, route in _routes(auth_app):
        if _needed(route) is not None:
            assert auth_client.request(method, url, headers=headers).status_code == 401, url


@pytest.mark.parametrize("role", [Role.READER, Role.WRITER])
def test_routes_above_a_role_answer_403_to_it(
    auth_client: TestClient, auth_app: FastAPI, secrets: Any, role: Role
) -> None:
    checked = 0
    for method, url, route in _routes(auth_app):
        needed = _needed(route)
        if needed is not None and not role.allows(needed):
            response = auth_client.request(method, url, headers=secrets.header(role))
            assert response.status_code == 403, f"{method} {url}"
            assert response.json()["error"]["code"] == "permission_denied"
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("role", list(Role))
def test_routes_within_a_role_let_it_through(
    auth_client: TestClient, auth_app: FastAPI, secrets: Any, role: Role
) -> None:
    for method, url, route in _routes(auth_app):
        needed = _needed(route)
        if needed is None or role.allows(needed):
            response = auth_client.request(method, url, headers=secrets.header(role))
            assert response.status_code not in (401, 403), f"{method} {url}"


def test_writes_need_writer_and_reads_need_reader(auth_app: FastAPI) -> None:
    for method, _, route in _routes(auth_app):
        needed = _needed(route)
        if route.path.startswith("/api/v1/tokens") or (method, route.path) in ADMIN_ROUTES:
            assert needed is Role.ADMIN, route.path
        elif method in ("GET", "HEAD") or route.path == "/api/v1/runs/search":
            assert needed in (Role.READER, None), route.path
        else:
            assert needed is Role.WRITER, f"{method} {route.path}"


def test_docs_and_openapi_need_a_reader_token_when_auth_is_on(
    auth_client: TestClient, secrets: Any
) -> None:
    assert auth_client.get("/docs").status_code == 401
    assert auth_client.get("/openapi.json").status_code == 401
    assert auth_client.get("/openapi.json", headers=secrets.header(Role.READER)).status_code == 200


def test_health_answers_without_token(auth_client: TestClient) -> None:
    assert auth_client.get("/health").status_code == 200


def test_with_auth_off_every_route_is_open(client: TestClient, app: FastAPI) -> None:
    for method, url, _ in _routes(app):
        assert client.request(method, url).status_code not in (401, 403), f"{method} {url}"


def test_writer_token_can_log(auth_client: TestClient, secrets: Any) -> None:
    response = auth_client.post(
        "/api/v1/experiments", json={"name": "e"}, headers=secrets.header(Role.WRITER)
    )
    assert response.status_code == 201


def test_revoking_a_token_stops_it_at_once(
    auth_client: TestClient, sql_store: SqlStore, secrets: Any
) -> None:
    token = sql_store.get_token_by_hash(hash_token(secrets.reader))
    assert token is not None
    admin = secrets.header(Role.ADMIN)
    assert auth_client.post(f"/api/v1/tokens/{token.id}/revoke", headers=admin).status_code == 204
    assert (
        auth_client.get("/api/v1/experiments", headers=secrets.header(Role.READER)).status_code
        == 401
    )


@pytest.mark.parametrize("header", ["mk_abc", "Basic dXNlcjpwdw==", "Bearer", "Bearer  "])
def test_malformed_authorization_header_is_401(auth_client: TestClient, header: str) -> None:
    response = auth_client.get("/api/v1/experiments", headers={"Authorization": header})
    assert response.status_code == 401


def test_401_answers_carry_www_authenticate(auth_client: TestClient) -> None:
    assert auth_client.get("/api/v1/experiments").headers["www-authenticate"] == "Bearer"


def test_token_secret_has_prefix_and_is_stored_only_hashed(sql_store: SqlStore) -> None:
    token, secret = create_api_token(sql_store, "ci", Role.WRITER)
    assert secret.startswith(TOKEN_PREFIX) and len(secret) > 40
    assert sql_store.get_token_by_hash(hash_token(secret)) == token


def test_each_token_secret_is_different(sql_store: SqlStore) -> None:
    secrets_made = {create_api_token(sql_store, f"t{i}", Role.READER)[1] for i in range(5)}
    assert len(secrets_made) == 5


def test_authenticate_returns_the_token(sql_store: SqlStore) -> None:
    token, secret = create_api_token(sql_store, "ci", Role.READER)
    assert authenticate(sql_store, f"Bearer {secret}") == token


def test_authenticate_refuses_revoked_token(sql_store: SqlStore) -> None:
    token, secret = create_api_token(sql_store, "ci", Role.READER)
    sql_store.revoke_token(token.id)
    with pytest.raises(AuthenticationError):
        authenticate(sql_store, f"Bearer {secret}")


def test_empty_token_name_is_invalid(sql_store: SqlStore) -> None:
    with pytest.raises(InvalidInputError):
        create_api_token(sql_store, " ", Role.READER)


def test_has_active_write_token_ignores_readers_and_revoked(sql_store: SqlStore) -> None:
    create_api_token(sql_store, "r", Role.READER)
    writer, _ = create_api_token(sql_store, "w", Role.WRITER)
    sql_store.revoke_token(writer.id)
    assert not has_active_write_token(sql_store)


def test_app_with_a_route_lacking_an_access_rule_is_refused() -> None:
    app = FastAPI()
    app.get("/open")(lambda: {})
    with pytest.raises(RuntimeError, match="/open"):
        check_access_rules(app)


def test_app_with_a_route_with_two_access_rules_is_refused() -> None:
    app = FastAPI()
    rules = [Depends(PUBLIC), Depends(require(Role.READER))]
    app.get("/twice", dependencies=rules)(lambda: {})
    with pytest.raises(RuntimeError, match="/twice"):
        check_access_rules(app)
