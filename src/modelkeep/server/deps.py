"""Dependencies shared by the routes, as ``Annotated`` aliases so signatures read like prose.

The store, blob store and settings live on ``app.state`` (set by :func:`create_app`); nothing
here is a module-level global, so every test can build an app around its own store.

Access control is deny-by-default: every route must carry exactly one access rule, either
``Depends(require(Role.X))`` or ``Depends(PUBLIC)``; :func:`access_rule_of` finds it and
``create_app`` refuses to build an app with a route that has none.
"""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import unquote

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from modelkeep.artifacts import BaseArtifactStore
from modelkeep.config import Settings
from modelkeep.entities import ApiToken, Role
from modelkeep.server.auth import authenticate, check_role
from modelkeep.store.audit import ACTOR_HEADER, bind_audit_subject
from modelkeep.store.base import BaseStore

__all__ = [
    "PUBLIC",
    "ArtifactsDep",
    "CurrentToken",
    "PublicAccess",
    "RoleRequirement",
    "SettingsDep",
    "StoreDep",
    "access_rule_of",
    "check_access_rules",
    "require",
]


async def get_store(request: Request) -> BaseStore:
    """The metadata store the app serves."""
    return cast(BaseStore, request.app.state.store)


async def get_blobs(request: Request) -> BaseArtifactStore:
    """The blob store holding artifact content."""
    return cast(BaseArtifactStore, request.app.state.blobs)


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return cast(Settings, request.app.state.settings)


StoreDep = Annotated[BaseStore, Depends(get_store)]
ArtifactsDep = Annotated[BaseArtifactStore, Depends(get_blobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_current_token(request: Request, store: StoreDep) -> ApiToken | None:
    """The caller's token; ``None`` when auth is off. Raises AuthenticationError when on.

    Also binds the request's audit subject, so every change it makes is recorded under the
    token's name (with auth off: the actor the client names, else ``anonymous``) and the
    client's address.
    """
    address = f"http:{request.client.host if request.client else 'unknown'}"
    if not request.app.state.auth_enabled:
        claimed = unquote(request.headers.get(ACTOR_HEADER, "")).strip()
        bind_audit_subject(claimed or "anonymous", address)
        return None
    # the store lookup blocks: run it in a worker thread, off the event loop
    header = request.headers.get("authorization")
    token: ApiToken = await anyio.to_thread.run_sync(authenticate, store, header)
    bind_audit_subject(token.name, f"{address} token:{token.name}/{token.id[:8]}")
    return token


CurrentToken = Annotated[ApiToken | None, Depends(get_current_token)]


class RoleRequirement:
    """Access rule: the caller's token must have ``role`` or a higher one (when auth is on)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, token: CurrentToken) -> None:
        if token is not None:
            check_role(token, self.role)

    def __repr__(self) -> str:
        return f"require(Role.{self.role.name})"


class PublicAccess:
    """Access rule: anyone may call the route, even with auth on (only ``/health``)."""

    async def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC = PublicAccess()

_REQUIREMENTS = {role: RoleRequirement(role) for role in Role}


def require(role: Role) -> RoleRequirement:
    """The access rule for routes that need ``role``: ``dependencies=[Depends(require(...))]``."""
    return _REQUIREMENTS[role]


def _rules(dependant: Dependant) -> list[RoleRequirement | PublicAccess]:
    found: list[RoleRequirement | PublicAccess] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleRequirement | PublicAccess):
            found.append(sub.call)
        found.extend(_rules(sub))
    return found


def access_rule_of(route: APIRoute) -> RoleRequirement | PublicAccess | None:
    """The single access rule a route declares, or ``None`` when it has none (or several)."""
    rules = _rules(route.dependant)
    return rules[0] if len(rules) == 1 else None


def check_access_rules(app: FastAPI) -> None:
    """Refuse an app with a route that lacks exactly one access rule (deny-by-default).

    Raises:
        RuntimeError: naming the first such route; a programming error, caught at build time.
    """
    for route in app.routes:
        if isinstance(route, APIRoute) and access_rule_of(route) is None:
            methods = ",".join(sorted(route.methods or ()))
            raise RuntimeError(f"route {methods} {route.path} needs exactly one access rule")
