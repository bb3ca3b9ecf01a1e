"""Model-registry routes over HTTP: URL scheme, auth matrix, actor, error format."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from modelkeep.entities import ModelVersionStatus, Role
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.signing import public_key_b64, sign_root_digest
from modelkeep.store.rest import RestStore
from modelkeep.store.sql import SqlStore

MODELS = "/api/v1/models"
DIGEST = "ab" * 32
OTHER_DIGEST = "cd" * 32


def _version_body(digest: str = DIGEST, **extra: Any) -> dict[str, Any]:
    return {"source": "runs:/0/model", "root_digest": digest, **extra}


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
def model(sql_store: SqlStore) -> str:
    """A model with two versions; the alias ``champion`` points at version 1."""
    name = "churn model v1.2"
    sql_store.create_model_version(name, "runs:/0/model", DIGEST)
    sql_store.create_model_version(name, "runs:/0/model", OTHER_DIGEST)
    sql_store.set_model_alias(name, "champion", 1)
    return name


# ---- registered models -------------------------------------------------------------------------
def test_create_model_answers_201_with_the_model(client: TestClient) -> None:
    body = {"name": "churn", "description": "d", "tags": {"team": "a"}, "actor": "alice"}
    response = client.post(MODELS, json=body)
    assert response.status_code == 201
    got = response.json()
    assert (got["name"], got["description"], got["tags"]) == ("churn", "d", {"team": "a"})
    assert (got["created_by"], got["latest_version"], got["aliases"]) == ("alice", None, {})


def test_create_existing_model_is_409(client: TestClient) -> None:
    client.post(MODELS, json={"name": "churn"})
    response = client.post(MODELS, json={"name": "churn"})
    assert (response.status_code, _error(response)["code"]) == (409, "already_exists")


@pytest.mark.parametrize("name", ["a@b", " lead", "", "x" * 300])
def test_bad_model_name_is_400_naming_the_field(client: TestClient, name: str) -> None:
    response = client.post(MODELS, json={"name": name})
    assert response.status_code == 400
    assert _error(response)["field"] == "name"


def test_unknown_body_field_is_400(client: TestClient) -> None:
    response = client.post(MODELS, json={"name": "churn", "owner": "x"})
    assert (response.status_code, _error(response)["field"]) == (400, "owner")


def test_get_model_by_url_encoded_name(client: TestClient, model: str) -> None:
    response = client.get(f"{MODELS}/churn%20model%20v1.2")
    assert response.status_code == 200
    assert (response.json()["latest_version"], response.json()["aliases"]) == (2, {"champion": 1})


def test_unknown_model_is_404_in_the_error_format(client: TestClient) -> None:
    response = client.get(f"{MODELS}/nope")
    assert response.status_code == 404
    assert set(_error(response)) >= {"code", "message", "field"}
    assert _error(response)["code"] == "not_found"


def test_search_models_with_filter_order_and_pages(
    client: TestClient, sql_store: SqlStore
) -> None:
    for name in ("a", "b", "c"):
        sql_store.create_registered_model(name, tags={"team": "x" if name != "b" else "y"})
    query = {"filter": "tags.team = 'x'", "order_by": "name DESC", "max_results": 1}
    first = client.get(MODELS, params=query).json()
    assert [m["name"] for m in first["registered_models"]] == ["c"]
    second = client.get(MODELS, params={**query, "page_token": first["next_page_token"]}).json()
    assert [m["name"] for m in second["registered_models"]] == ["a"]


def test_bad_filter_is_400_with_field_and_position(client: TestClient) -> None:
    response = client.get(MODELS, params={"filter": "name = "})
    assert response.status_code == 400
    assert _error(response)["field"] == "filter"
    assert isinstance(_error(response)["position"], int)


def test_bad_max_results_is_400_naming_it(client: TestClient) -> None:
    response = client.get(MODELS, params={"max_results": "many"})
    assert (response.status_code, _error(response)["field"]) == (400, "max_results")


def test_update_model_description(client: TestClient, model: str) -> None:
    response = client.patch(f"{MODELS}/{model}", json={"description": "new"})
    assert (response.status_code, response.json()["description"]) == (200, "new")


def test_model_tags_set_and_delete_with_slash_in_key(
    client: TestClient, sql_store: SqlStore, model: str
) -> None:
    url = f"{MODELS}/{model}/tags/owner%2Fteam"
    assert client.put(url, json={"value": "ml"}).status_code == 204
    assert sql_store.get_registered_model(model).tags == {"owner/team": "ml"}
    assert client.delete(url).status_code == 204
    assert client.delete(url).status_code == 404


# ---- versions ----------------------------------------------------------------------------------
def test_create_versions_numbers_them(client: TestClient) -> None:
    first = client.post(f"{MODELS}/fraud/versions", json=_version_body(flavor="sklearn"))
    second = client.post(f"{MODELS}/fraud/versions", json=_version_body())
    assert (first.status_code, first.json()["version"], second.json()["version"]) == (201, 1, 2)
    assert first.json()["flavor"] == "sklearn"


def test_bad_root_digest_is_400_naming_it(client: TestClient) -> None:
    response = client.post(f"{MODELS}/fraud/versions", json=_version_body(digest="XYZ"))
    assert (response.status_code, _error(response)["field"]) == (400, "root_digest")


def test_version_must_be_an_integer(client: TestClient, model: str) -> None:
    response = client.get(f"{MODELS}/{model}/versions/one")
    assert (response.status_code, _error(response)["field"]) == (400, "version")


def test_unknown_version_is_404(client: TestClient, model: str) -> None:
    assert client.get(f"{MODELS}/{model}/versions/99").status_code == 404


def test_update_version_accepts_lowercase_status(client: TestClient, model: str) -> None:
    response = client.patch(f"{MODELS}/{model}/versions/2", json={"status": "archived"})
    assert response.json()["status"] == ModelVersionStatus.ARCHIVED.value


def test_version_tags_set_and_delete(client: TestClient, sql_store: SqlStore, model: str) -> None:
    url = f"{MODELS}/{model}/versions/1/tags/stage"
    assert client.put(url, json={"value": "qa"}).status_code == 204
    assert sql_store.get_model_version(model, 1).tags == {"stage": "qa"}
    assert client.delete(url).status_code == 204


def test_search_versions_by_alias(client: TestClient, model: str) -> None:
    params = {"filter": "aliases = 'champion'"}
    found = client.get("/api/v1/model-versions", params=params).json()["model_versions"]
    assert [(v["name"], v["version"]) for v in found] == [(model, 1)]


def test_deleting_an_aliased_version_needs_force(client: TestClient, model: str) -> None:
    url = f"{MODELS}/{model}/versions/1"
    response = client.delete(url)
    assert (response.status_code, _error(response)["code"]) == (409, "conflict")
    assert client.delete(url, params={"force": "true"}).status_code == 204
    history = client.get(f"{MODELS}/{model}/alias-history").json()["changes"]
    assert [c["version"] for c in history] == [1, None]


# ---- aliases and signatures --------------------------------------------------------------------
def test_alias_set_get_delete_and_history(client: TestClient, model: str) -> None:
    url = f"{MODELS}/{model}/aliases/champion"
    moved = client.put(url, json={"version": 2, "reason": "better", "actor": "bob"}).json()
    assert (moved["version"], moved["previous_version"], moved["actor"]) == (2, 1, "bob")
    assert client.get(url).json()["version"] == 2
    removed = client.delete(url, params={"reason": "retired"}).json()
    assert (removed["version"], removed["reason"]) == (None, "retired")
    assert client.get(url).status_code == 404
    history = client.get(f"{MODELS}/{model}/alias-history", params={"alias": "champion"})
    assert [c["version"] for c in history.json()["changes"]] == [1, 2, None]


def test_reserved_alias_is_400(client: TestClient, model: str) -> None:
    response = client.put(f"{MODELS}/{model}/aliases/latest", json={"version": 1})
    assert (response.status_code, _error(response)["field"]) == (400, "alias")


def test_alias_on_unsigned_version_is_409_when_signatures_are_required(
    client: TestClient, model: str
) -> None:
    key = Ed25519PrivateKey.generate()
    policy = {"require_signatures": True, "trusted_keys": [public_key_b64(key)]}
    blocked = client.patch(f"{MODELS}/{model}", json=policy)  # champion -> unsigned v1
    assert (blocked.status_code, _error(blocked)["code"]) == (409, "signature_error")
    assert client.delete(f"{MODELS}/{model}/aliases/champion").status_code == 200
    assert client.patch(f"{MODELS}/{model}", json=policy).status_code == 200
    refused = client.put(f"{MODELS}/{model}/aliases/prod", json={"version": 2})
    assert (refused.status_code, _error(refused)["code"]) == (409, "signature_error")
    public_key, signature = sign_root_digest(key, OTHER_DIGEST)
    body = {"public_key": public_key, "signature": signature}
    added = client.post(f"{MODELS}/{model}/versions/2/signatures", json=body)
    assert added.status_code == 201
    assert client.put(f"{MODELS}/{model}/aliases/prod", json={"version": 2}).status_code == 200


def test_signature_that_does_not_verify_is_409(client: TestClient, model: str) -> None:
    public_key, signature = sign_root_digest(Ed25519PrivateKey.generate(), DIGEST)
    body = {"public_key": public_key, "signature": signature}
    response = client.post(f"{MODELS}/{model}/versions/2/signatures", json=body)
    assert (response.status_code, _error(response)["code"]) == (409, "signature_error")


# ---- auth matrix and actor ---------------------------------------------------------------------
def test_reader_can_read_but_not_write(auth_client: TestClient, secrets: Any, model: str) -> None:
    reader = secrets.header(Role.READER)
    assert auth_client.get(f"{MODELS}/{model}", headers=reader).status_code == 200
    response = auth_client.post(MODELS, json={"name": "x"}, headers=reader)
    assert (response.status_code, _error(response)["code"]) == (403, "permission_denied")


@pytest.mark.parametrize("path", ["", "/versions/1"])
def test_writer_cannot_delete_but_admin_can(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore, model: str, path: str
) -> None:
    url = f"{MODELS}/{model}{path}"
    forced = {"force": "true"}
    as_writer = auth_client.delete(url, params=forced, headers=secrets.header(Role.WRITER))
    assert as_writer.status_code == 403
    assert sql_store.get_model_version(model, 1).version == 1
    as_admin = auth_client.delete(url, params=forced, headers=secrets.header(Role.ADMIN))
    assert as_admin.status_code == 204


@pytest.mark.parametrize("change", [{"trusted_keys": []}, {"require_signatures": False}])
def test_signature_policy_needs_admin(
    auth_client: TestClient, secrets: Any, model: str, change: dict[str, Any]
) -> None:
    url = f"{MODELS}/{model}"
    assert (
        auth_client.patch(url, json=change, headers=secrets.header(Role.WRITER)).status_code == 403
    )
    assert (
        auth_client.patch(url, json=change, headers=secrets.header(Role.ADMIN)).status_code == 200
    )


def test_writer_may_change_the_description(
    auth_client: TestClient, secrets: Any, model: str
) -> None:
    response = auth_client.patch(
        f"{MODELS}/{model}", json={"description": "x"}, headers=secrets.header(Role.WRITER)
    )
    assert response.status_code == 200


def test_refused_policy_change_changes_nothing(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore, model: str
) -> None:
    key = public_key_b64(Ed25519PrivateKey.generate())
    change = {"description": "x", "trusted_keys": [key]}
    writer = secrets.header(Role.WRITER)
    assert auth_client.patch(f"{MODELS}/{model}", json=change, headers=writer).status_code == 403
    after = sql_store.get_registered_model(model)
    assert (after.description, after.trusted_keys) == ("", ())


def test_actor_is_the_token_name_not_what_the_client_says(
    auth_client: TestClient, secrets: Any, sql_store: SqlStore
) -> None:
    writer = secrets.header(Role.WRITER)
    body = _version_body(actor="mallory")
    created = auth_client.post(f"{MODELS}/fraud/versions", json=body, headers=writer).json()
    assert created["created_by"] == "writer"
    alias = {"version": 1, "actor": "mallory"}
    auth_client.put(f"{MODELS}/fraud/aliases/prod", json=alias, headers=writer)
    assert [c.actor for c in sql_store.list_alias_history("fraud")] == ["writer"]
    auth_client.patch(
        f"{MODELS}/fraud/versions/1", json={"description": "d", "actor": "mallory"}, headers=writer
    )
    assert sql_store.get_model_version("fraud", 1).updated_by == "writer"


def test_openapi_lists_the_registry_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[MODELS]) == {"get", "post"}
    assert set(paths[f"{MODELS}/{{name}}"]) == {"get", "patch", "delete"}
    assert set(paths[f"{MODELS}/{{name}}/aliases/{{alias}}"]) == {"get", "put", "delete"}
    assert "/api/v1/model-versions" in paths
    assert f"{MODELS}/{{name}}/versions/{{version}}/signatures" in paths


# ---- the client's URL encoding -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", "a b.c-d", "50%?#&=+"])
def test_rest_store_round_trips_names_url_paths_would_mangle(
    client: TestClient, name: str
) -> None:
    store = RestStore("http://testserver", client=client)
    store.create_model_version(name, "runs:/0/model", DIGEST)
    store.set_model_alias(name, "prod", 1)
    assert store.get_model_version_by_alias(name, "prod").name == name
    store.set_registered_model_tag(name, "..", "v")
    assert store.get_registered_model(name).tags == {"..": "v"}


def test_rest_store_refuses_a_name_with_a_slash(client: TestClient) -> None:
    store = RestStore("http://testserver", client=client)
    with pytest.raises(InvalidInputError) as caught:
        store.get_registered_model("a/b")
    assert caught.value.field == "name"
