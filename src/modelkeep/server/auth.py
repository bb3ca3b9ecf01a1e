"""API tokens: minting, hashing and bearer authentication.

A token secret is ``mk_`` followed by 32 random bytes (URL-safe base64). The store keeps only its
sha256 hex hash, so a leaked database reveals no usable token; the secret is shown once, when it
is created. Requests carry it as ``Authorization: Bearer mk_...``.

Example:
    >>> token, secret = create_api_token(store, "ci", Role.WRITER)  # doctest: +SKIP
    >>> authenticate(store, f"Bearer {secret}").id == token.id  # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import secrets

from modelkeep.entities import ApiToken, Role
from modelkeep.exceptions import AuthenticationError, InvalidInputError, PermissionDeniedError
from modelkeep.store.base import BaseStore

__all__ = [
    "TOKEN_PREFIX",
    "authenticate",
    "check_role",
    "create_api_token",
    "generate_token_secret",
    "has_active_write_token",
    "hash_token",
]

TOKEN_PREFIX = "mk_"


def generate_token_secret() -> str:
    """A fresh token secret: ``mk_`` + ``secrets.token_urlsafe(32)``."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The sha256 hex digest under which a token secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_token(store: BaseStore, name: str, role: Role) -> tuple[ApiToken, str]:
    """Mint a token, store its hash and return it with the secret (shown only this once).

    Args:
        store: where the token's hash is kept.
        name: a label for people (e.g. "ci" or "alice-laptop").
        role: what the token may do.

    Returns:
        The stored token and its secret.

    Raises:
        InvalidInputError: ``name`` is empty or ``role`` is not a role.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("token name must not be empty", field="name")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInputError(f"unknown role {role!r}", field="role") from None
    secret = generate_token_secret()
    token = store.create_token(name, role, hash_token(secret))
    return token, secret


def _bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("an API token is required (Authorization: Bearer mk_...)")
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return secret


def authenticate(store: BaseStore, authorization: str | None) -> ApiToken:
    """The token an ``Authorization`` header names.

    Raises:
        AuthenticationError: the header is missing or malformed, or the token is unknown or
            revoked (one message for all three, so a caller learns nothing about which).
    """
    secret = _bearer_secret(authorization)
    # Looking up by hash (not by secret) means timing reveals nothing about valid secrets.
    token = store.get_token_by_hash(hash_token(secret))
    if token is None or token.revoked:
        raise AuthenticationError("invalid or revoked API token")
    return token


def check_role(token: ApiToken, needed: Role) -> None:
    """Raise PermissionDeniedError unless ``token``'s role covers ``needed``."""
    if not token.role.allows(needed):
        raise PermissionDeniedError(
            f"token {token.name!r} has role {token.role.value}; this needs {needed.value}"
        )


def has_active_write_token(store: BaseStore) -> bool:
    """Whether some non-revoked token may write (role writer or admin)."""
    return any(
        not token.revoked and token.role.allows(Role.WRITER) for token in store.list_tokens()
    )
