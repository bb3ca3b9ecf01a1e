"""Model-registry routes: registered models, versions, tags, aliases, signatures.

URL scheme (names, versions and aliases are single path segments; tag keys may hold slashes)::

    POST   /api/v1/models                                       create a model
    GET    /api/v1/models?filter=&order_by=&max_results=&page_token=   search models
    GET    /api/v1/models/{name}                                one model
    PATCH  /api/v1/models/{name}                                description, signature policy
    DELETE /api/v1/models/{name}?force=                         delete (admin)
    PUT    /api/v1/models/{name}/tags/{key}                     set a tag
    DELETE /api/v1/models/{name}/tags/{key}                     remove a tag
    POST   /api/v1/models/{name}/versions                       register the next version
    GET    /api/v1/models/{name}/versions/{version}             one version
    PATCH  /api/v1/models/{name}/versions/{version}             description, status
    DELETE /api/v1/models/{name}/versions/{version}?force=      delete (admin)
    PUT    /api/v1/models/{name}/versions/{version}/tags/{key}  set a version tag
    DELETE /api/v1/models/{name}/versions/{version}/tags/{key}  remove a version tag
    POST   /api/v1/models/{name}/versions/{version}/signatures  add a verified signature
    PUT    /api/v1/models/{name}/aliases/{alias}                point an alias at a version
    DELETE /api/v1/models/{name}/aliases/{alias}?reason=        remove an alias
    GET    /api/v1/models/{name}/aliases/{alias}                the version an alias points at
    GET    /api/v1/models/{name}/alias-history?alias=           alias changes, oldest first
    GET    /api/v1/model-versions?filter=&order_by=&...         search versions

Reads need a reader token, writes a writer token; deleting a model or a version, and changing a
model's signature policy (``require_signatures``, ``trusted_keys``), need an admin token. The
``actor`` the store records is the token's name; only with auth off is the client's ``actor``
taken (there is no one else to name).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from modelkeep.entities import ApiToken, Role
from modelkeep.server.auth import check_role
from modelkeep.server.deps import CurrentToken, StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas_registry import (
    AliasChangePublic,
    AliasHistory,
    AliasSet,
    ModelTagSet,
    ModelVersionCreate,
    ModelVersionPage,
    ModelVersionPublic,
    ModelVersionUpdate,
    RegisteredModelCreate,
    RegisteredModelPage,
    RegisteredModelPublic,
    RegisteredModelUpdate,
    SignatureCreate,
    VersionSignaturePublic,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["models"], responses=ERROR_RESPONSES)

_READ = [Depends(require(Role.READER))]
_WRITE = [Depends(require(Role.WRITER))]
_ADMIN = [Depends(require(Role.ADMIN))]
_CREATED = status.HTTP_201_CREATED
_NO_CONTENT = status.HTTP_204_NO_CONTENT
_MODEL = "/models/{name}"
_VERSION = "/models/{name}/versions/{version}"

FilterString = Annotated[str, Query(alias="filter")]
OrderBy = Annotated[list[str], Query()]


def _actor(token: ApiToken | None, sent: str) -> str:
    """Who made the change: the token's name with auth on, else what the client said."""
    return token.name if token is not None else sent


# ---- registered models -------------------------------------------------------------------------
@router.post("/models", status_code=_CREATED, dependencies=_WRITE)
def create_registered_model(
    body: RegisteredModelCreate, store: StoreDep, token: CurrentToken
) -> RegisteredModelPublic:
    """Create an empty registered model; 409 if the name is taken."""
    model = store.create_registered_model(
        body.name, body.description, body.tags, actor=_actor(token, body.actor)
    )
    return RegisteredModelPublic.from_entity(model)


@router.get("/models", dependencies=_READ)
def search_registered_models(
    store: StoreDep,
    filter_string: FilterString = "",
    order_by: OrderBy = [],  # noqa: B006 - FastAPI copies query defaults per request
    max_results: int = 1000,
    page_token: str | None = None,
) -> RegisteredModelPage:
    """Models matching ``filter`` (run-filter syntax), by name unless ``order_by`` says."""
    page = store.search_registered_models(filter_string, order_by, max_results, page_token)
    return RegisteredModelPage(
        registered_models=[RegisteredModelPublic.from_entity(m) for m in page],
        next_page_token=page.next_page_token,
    )


@router.get(_MODEL, dependencies=_READ)
def get_registered_model(name: str, store: StoreDep) -> RegisteredModelPublic:
    """One registered model with its tags, aliases and latest version number."""
    return RegisteredModelPublic.from_entity(store.get_registered_model(name))


@router.patch(_MODEL, dependencies=_WRITE)
def update_registered_model(
    name: str, body: RegisteredModelUpdate, store: StoreDep, token: CurrentToken
) -> RegisteredModelPublic:
    """Change the description (writer) and/or the signature policy (admin)."""
    if token is not None and body.changes_signature_policy:
        # Checked before the store is touched, so a refused call changes nothing.
        check_role(token, Role.ADMIN)
    model = store.update_registered_model(
        name,
        description=body.description,
        require_signatures=body.require_signatures,
        trusted_keys=body.trusted_keys,
        actor=_actor(token, body.actor),
    )
    return RegisteredModelPublic.from_entity(model)


@router.delete(_MODEL, status_code=_NO_CONTENT, dependencies=_ADMIN)
def delete_registered_model(
    name: str, store: StoreDep, token: CurrentToken, force: bool = False, actor: str = ""
) -> Response:
    """Delete a model and all its versions; 409 if an alias is set and ``force`` is false."""
    store.delete_registered_model(name, force=force, actor=_actor(token, actor))
    return Response(status_code=_NO_CONTENT)


@router.put(_MODEL + "/tags/{key:path}", status_code=_NO_CONTENT, dependencies=_WRITE)
def set_registered_model_tag(name: str, key: str, body: ModelTagSet, store: StoreDep) -> Response:
    """Set or overwrite one tag of the model."""
    store.set_registered_model_tag(name, key, body.value)
    return Response(status_code=_NO_CONTENT)


@router.delete(_MODEL + "/tags/{key:path}", status_code=_NO_CONTENT, dependencies=_WRITE)
def delete_registered_model_tag(name: str, key: str, store: StoreDep) -> Response:
    """Remove one tag of the model; 404 if it is not set."""
    store.delete_registered_model_tag(name, key)
    return Response(status_code=_NO_CONTENT)


# ---- versions ----------------------------------------------------------------------------------
@router.post(_MODEL + "/versions", status_code=_CREATED, dependencies=_WRITE)
def create_model_version(
    name: str, body: ModelVersionCreate, store: StoreDep, token: CurrentToken
) -> ModelVersionPublic:
    """Register the next version of ``name`` (creating the model if it is missing)."""
    version = store.create_model_version(
        name,
        body.source,
        body.root_digest,
        run_id=body.run_id,
        flavor=body.flavor,
        description=body.description,
        tags=body.tags,
        actor=_actor(token, body.actor),
    )
    return ModelVersionPublic.from_entity(version)


@router.get("/model-versions", dependencies=_READ)
def search_model_versions(
    store: StoreDep,
    filter_string: FilterString = "",
    order_by: OrderBy = [],  # noqa: B006 - FastAPI copies query defaults per request
    max_results: int = 1000,
    page_token: str | None = None,
) -> ModelVersionPage:
    """Versions matching ``filter``, newest first unless ``order_by`` says otherwise."""
    page = store.search_model_versions(filter_string, order_by, max_results, page_token)
    return ModelVersionPage(
        model_versions=[ModelVersionPublic.from_entity(v) for v in page],
        next_page_token=page.next_page_token,
    )


@router.get(_VERSION, dependencies=_READ)
def get_model_version(name: str, version: int, store: StoreDep) -> ModelVersionPublic:
    """One model version with its tags, aliases and signatures."""
    return ModelVersionPublic.from_entity(store.get_model_version(name, version))


@router.patch(_VERSION, dependencies=_WRITE)
def update_model_version(
    name: str, version: int, body: ModelVersionUpdate, store: StoreDep, token: CurrentToken
) -> ModelVersionPublic:
    """Change the description and/or status of a version."""
    updated = store.update_model_version(
        name,
        version,
        description=body.description,
        status=body.status,
        actor=_actor(token, body.actor),
    )
    return ModelVersionPublic.from_entity(updated)


@router.delete(_VERSION, status_code=_NO_CONTENT, dependencies=_ADMIN)
def delete_model_version(
    name: str,
    version: int,
    store: StoreDep,
    token: CurrentToken,
    force: bool = False,
    actor: str = "",
) -> Response:
    """Delete one version; 409 if an alias points at it and ``force`` is false."""
    store.delete_model_version(name, version, force=force, actor=_actor(token, actor))
    return Response(status_code=_NO_CONTENT)


@router.put(_VERSION + "/tags/{key:path}", status_code=_NO_CONTENT, dependencies=_WRITE)
def set_model_version_tag(
    name: str, version: int, key: str, body: ModelTagSet, store: StoreDep
) -> Response:
    """Set or overwrite one tag of a version."""
    store.set_model_version_tag(name, version, key, body.value)
    return Response(status_code=_NO_CONTENT)


@router.delete(_VERSION + "/tags/{key:path}", status_code=_NO_CONTENT, dependencies=_WRITE)
def delete_model_version_tag(name: str, version: int, key: str, store: StoreDep) -> Response:
    """Remove one tag of a version; 404 if it is not set."""
    store.delete_model_version_tag(name, version, key)
    return Response(status_code=_NO_CONTENT)


@router.post(_VERSION + "/signatures", status_code=_CREATED, dependencies=_WRITE)
def add_model_version_signature(
    name: str, version: int, body: SignatureCreate, store: StoreDep, token: CurrentToken
) -> VersionSignaturePublic:
    """Store an ed25519 signature of the version's root digest; 409 if it does not verify."""
    signature = store.add_model_version_signature(
        name, version, body.public_key, body.signature, actor=_actor(token, body.actor)
    )
    return VersionSignaturePublic.from_entity(signature)


# ---- aliases -----------------------------------------------------------------------------------
@router.put(_MODEL + "/aliases/{alias}", dependencies=_WRITE)
def set_model_alias(
    name: str, alias: str, body: AliasSet, store: StoreDep, token: CurrentToken
) -> AliasChangePublic:
    """Point ``alias`` at a version (moving it if set); answers the recorded change."""
    change = store.set_model_alias(
        name, alias, body.version, reason=body.reason, actor=_actor(token, body.actor)
    )
    return AliasChangePublic.from_entity(change)


@router.delete(_MODEL + "/aliases/{alias}", dependencies=_WRITE)
def delete_model_alias(
    name: str, alias: str, store: StoreDep, token: CurrentToken, reason: str = "", actor: str = ""
) -> AliasChangePublic:
    """Remove ``alias``; answers the recorded change (its ``version`` is null)."""
    change = store.delete_model_alias(name, alias, reason=reason, actor=_actor(token, actor))
    return AliasChangePublic.from_entity(change)


@router.get(_MODEL + "/aliases/{alias}", dependencies=_READ)
def get_model_version_by_alias(name: str, alias: str, store: StoreDep) -> ModelVersionPublic:
    """The version ``alias`` points at; 404 if the alias is not set."""
    return ModelVersionPublic.from_entity(store.get_model_version_by_alias(name, alias))


@router.get(_MODEL + "/alias-history", dependencies=_READ)
def list_alias_history(name: str, store: StoreDep, alias: str | None = None) -> AliasHistory:
    """Every recorded change of the model's aliases (or of one alias), oldest first."""
    changes = store.list_alias_history(name, alias)
    return AliasHistory(changes=[AliasChangePublic.from_entity(c) for c in changes])
