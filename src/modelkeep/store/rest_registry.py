"""The model-registry half of :class:`~modelkeep.store.rest.RestStore`, over HTTP.

Each method is one request to the registry routes (:mod:`modelkeep.server.routes.models`);
answers are parsed with the server's wire schemas (:mod:`modelkeep.server.schemas_registry`)
and error answers become the same :mod:`modelkeep.exceptions` classes the server raised, by
the plumbing ``RestStore.request`` shares with the tracking half.

Names, versions and aliases travel as URL path segments, every reserved character escaped.
A name that no URL segment can carry (empty, or holding ``/``) is refused here with the error
the store would give, ``InvalidInputError`` naming the field.

``actor`` is sent along, but a server with authentication records the API token's name
instead; only a server without auth takes the client's word for it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel

from modelkeep.entities import (
    AliasChange,
    ModelVersion,
    ModelVersionStatus,
    Page,
    RegisteredModel,
    VersionSignature,
)
from modelkeep.exceptions import InvalidInputError
from modelkeep.server.schemas_registry import (
    AliasChangePublic,
    AliasHistory,
    ModelVersionPage,
    ModelVersionPublic,
    RegisteredModelPage,
    RegisteredModelPublic,
    VersionSignaturePublic,
)
from modelkeep.store.registry_base import RegistryStore

__all__ = ["RestRegistryMixin"]

M = TypeVar("M", bound=BaseModel)


def _segment(value: str, field: str) -> str:
    """``value`` as one URL path segment; refuses what no segment can carry."""
    if not isinstance(value, str) or not value or "/" in value:
        raise InvalidInputError(
            f"{field} must be a non-empty string without '/', got {value!r}", field=field
        )
    encoded = quote(value, safe="")
    # "." and ".." would be removed as dot-segments by URL normalisation; escaped they survive.
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _key_path(key: str) -> str:
    """A tag key as the last part of a URL path (the server takes the rest of the path)."""
    encoded = quote(key, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _model_path(name: str) -> str:
    return f"/models/{_segment(name, 'name')}"


def _version_path(name: str, version: int) -> str:
    return f"{_model_path(name)}/versions/{quote(str(version), safe='')}"


def _with_query(path: str, pairs: Sequence[tuple[str, str]]) -> str:
    # Built here rather than passed as ``params`` because order_by repeats its key.
    return f"{path}?{urlencode(pairs, quote_via=quote)}" if pairs else path


def _search_query(
    filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
) -> list[tuple[str, str]]:
    pairs = [("filter", filter_string), ("max_results", str(max_results))]
    pairs.extend(("order_by", clause) for clause in order_by)
    if page_token is not None:
        pairs.append(("page_token", page_token))
    return pairs


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


class RestRegistryMixin(RegistryStore):
    """Implements :class:`RegistryStore` with HTTP calls; mixed into ``RestStore``, which
    supplies :meth:`request` and :meth:`_parse`."""

    @abc.abstractmethod
    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to ``/api/v1{path}``; raise the mapped error on an error answer."""

    @abc.abstractmethod
    def _parse(self, schema: type[M], response: httpx.Response) -> M:
        """The answer parsed as ``schema``; StoreError if it does not fit."""

    def _model(self, method: str, path: str, body: object = None) -> RegisteredModel:
        response = self.request(method, path, body=body)
        return self._parse(RegisteredModelPublic, response).to_entity()

    def _version(self, method: str, path: str, body: object = None) -> ModelVersion:
        response = self.request(method, path, body=body)
        return self._parse(ModelVersionPublic, response).to_entity()

    def _alias_change(self, method: str, path: str, body: object = None) -> AliasChange:
        response = self.request(method, path, body=body)
        return self._parse(AliasChangePublic, response).to_entity()

    # ---- registered models -------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        body = {"name": name, "description": description, "tags": dict(tags or {}), "actor": actor}
        return self._model("POST", "/models", body)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._model("GET", _model_path(name))

    def search_registered_models(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        query = _search_query(filter_string, order_by, max_results, page_token)
        page = self._parse(RegisteredModelPage, self.request("GET", _with_query("/models", query)))
        return Page([m.to_entity() for m in page.registered_models], page.next_page_token)

    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        require_signatures: bool | None = None,
        trusted_keys: Sequence[str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        body = {
            "description": description,
            "require_signatures": require_signatures,
            "trusted_keys": None if trusted_keys is None else list(trusted_keys),
            "actor": actor,
        }
        return self._model("PATCH", _model_path(name), body)

    def delete_registered_model(self, name: str, force: bool = False, actor: str = "") -> None:
        query = [("force", _bool(force)), ("actor", actor)]
        self.request("DELETE", _with_query(_model_path(name), query))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        path = f"{_model_path(name)}/tags/{_key_path(key)}"
        self.request("PUT", path, body={"value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.request("DELETE", f"{_model_path(name)}/tags/{_key_path(key)}")

    # ---- versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        root_digest: str,
        run_id: str | None = None,
        flavor: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> ModelVersion:
        body = {
            "source": source,
            "root_digest": root_digest,
            "run_id": run_id,
            "flavor": flavor,
            "description": description,
            "tags": dict(tags or {}),
            "actor": actor,
        }
        return self._version("POST", f"{_model_path(name)}/versions", body)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._version("GET", _version_path(name, version))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._version("GET", f"{_model_path(name)}/aliases/{_segment(alias, 'alias')}")

    def search_model_versions(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        query = _search_query(filter_string, order_by, max_results, page_token)
        response = self.request("GET", _with_query("/model-versions", query))
        page = self._parse(ModelVersionPage, response)
        return Page([v.to_entity() for v in page.model_versions], page.next_page_token)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        status: ModelVersionStatus | None = None,
        actor: str = "",
    ) -> ModelVersion:
        body = {"description": description, "status": status, "actor": actor}
        return self._version("PATCH", _version_path(name, version), body)

    def delete_model_version(
        self, name: str, version: int, force: bool = False, actor: str = ""
    ) -> None:
        query = [("force", _bool(force)), ("actor", actor)]
        self.request("DELETE", _with_query(_version_path(name, version), query))

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        path = f"{_version_path(name, version)}/tags/{_key_path(key)}"
        self.request("PUT", path, body={"value": value})

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self.request("DELETE", f"{_version_path(name, version)}/tags/{_key_path(key)}")

    # ---- aliases -----------------------------------------------------------------------
    def set_model_alias(
        self, name: str, alias: str, version: int, reason: str = "", actor: str = ""
    ) -> AliasChange:
        path = f"{_model_path(name)}/aliases/{_segment(alias, 'alias')}"
        body = {"version": version, "reason": reason, "actor": actor}
        return self._alias_change("PUT", path, body)

    def delete_model_alias(
        self, name: str, alias: str, reason: str = "", actor: str = ""
    ) -> AliasChange:
        path = f"{_model_path(name)}/aliases/{_segment(alias, 'alias')}"
        query = [("reason", reason), ("actor", actor)]
        return self._alias_change("DELETE", _with_query(path, query))

    def list_alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        query = [] if alias is None else [("alias", alias)]
        response = self.request("GET", _with_query(f"{_model_path(name)}/alias-history", query))
        return [c.to_entity() for c in self._parse(AliasHistory, response).changes]

    # ---- signatures --------------------------------------------------------------------
    def add_model_version_signature(
        self, name: str, version: int, public_key: str, signature: str, actor: str = ""
    ) -> VersionSignature:
        path = f"{_version_path(name, version)}/signatures"
        body = {"public_key": public_key, "signature": signature, "actor": actor}
        response = self.request("POST", path, body=body)
        return self._parse(VersionSignaturePublic, response).to_entity()
