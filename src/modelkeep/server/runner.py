"""Serve the tracking server with uvicorn (the only module of this package importing it).

The server binds 127.0.0.1 by default. Any other address would expose the store to the network,
so :func:`run_server` refuses it unless authentication is on *and* some non-revoked token may
write or administer (otherwise nobody could use the server, or everybody could).
"""

from __future__ import annotations

import ipaddress

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.server.app import create_app
from modelkeep.server.auth import has_active_write_token
from modelkeep.store import open_store
from modelkeep.store.base import BaseStore

__all__ = ["check_bind_allowed", "is_loopback", "run_server"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``).

    Any other name is treated as reachable from outside, since it could resolve anywhere.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
        (True, False, True)
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, store: BaseStore, *, auth_enabled: bool) -> None:
    """Refuse a non-loopback ``host`` unless auth is on and a writer/admin token exists.

    Raises:
        InvalidInputError: (``field="host"``) when binding ``host`` is not allowed.
    """
    if is_loopback(host):
        return
    if not auth_enabled:
        raise InvalidInputError(
            f"refusing to bind {host!r} without authentication: anyone on the network could "
            "read and change the store. Bind 127.0.0.1, or enable auth and create a token "
            "with `modelkeep token create --role writer` (or admin).",
            field="host",
        )
    if not has_active_write_token(store):
        raise InvalidInputError(
            f"refusing to bind {host!r}: auth is on but no active writer or admin token "
            "exists. Create one with `modelkeep token create --role admin`.",
            field="host",
        )


def run_server(
    store_uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    auth_enabled: bool,
    settings: Settings,
) -> None:
    """Open the store named by ``store_uri`` and serve it until interrupted.

    Artifacts go to ``settings.artifact_root`` or, if unset, next to the store's SQLite file
    (``<dir>/artifacts``) or under ``settings.home``.

    Raises:
        InvalidInputError: ``host`` is not loopback and auth is not configured (see
            :func:`check_bind_allowed`), or ``port`` is out of range.
    """
    import uvicorn

    if not 0 <= port <= 65535:
        raise InvalidInputError(f"port must be in 0..65535, got {port}", field="port")
    store = open_store(store_uri)
    try:
        check_bind_allowed(host, store, auth_enabled=auth_enabled)
        artifact_root = settings.model_copy(
            update={"tracking_uri": store_uri}
        ).resolved_artifact_root()
        blobs = LocalArtifactStore(artifact_root)
        app = create_app(settings, store, blobs, auth_enabled=auth_enabled)
        uvicorn.run(app, host=host, port=port, proxy_headers=False, log_level="info")
    finally:
        store.close()
