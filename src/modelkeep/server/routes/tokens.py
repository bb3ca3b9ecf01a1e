"""API-token administration (admin role): create from a hash, list, revoke, look up by hash.

The client mints the secret and sends only its sha256 hash, so the secret never crosses the
network or reaches the server's logs.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from modelkeep.entities import Role
from modelkeep.exceptions import NotFoundError
from modelkeep.server.deps import StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas import TokenCreate, TokenList, TokenPublic

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/tokens",
    tags=["tokens"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require(Role.ADMIN))],
)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, store: StoreDep) -> TokenPublic:
    """Store a new token's hash with its role."""
    return TokenPublic.from_entity(store.create_token(body.name, body.role, body.token_hash))


@router.get("")
def list_tokens(store: StoreDep) -> TokenList:
    """All tokens, oldest first (hashes are never returned)."""
    return TokenList(tokens=[TokenPublic.from_entity(t) for t in store.list_tokens()])


@router.get("/by-hash/{token_hash}")
def get_token_by_hash(token_hash: str, store: StoreDep) -> TokenPublic:
    """The token with this hash, revoked or not; 404 if none."""
    token = store.get_token_by_hash(token_hash)
    if token is None:
        raise NotFoundError("no token with this hash", field="token_hash")
    return TokenPublic.from_entity(token)


@router.post("/{token_id}/revoke", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, store: StoreDep) -> Response:
    """Revoke a token; it stops authenticating at once."""
    store.revoke_token(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
