"""Metadata stores: the :class:`BaseStore` contract and :func:`open_store`."""

from __future__ import annotations

from modelkeep.store.base import BaseStore

__all__ = ["BaseStore", "open_store"]


def open_store(uri: str, *, token: str | None = None) -> BaseStore:
    """Open the store a tracking URI names.

    ``sqlite:///path.db`` and ``postgresql+psycopg://...`` give a :class:`SqlStore` (migrations
    are applied on open); ``http(s)://host:port`` gives a :class:`RestStore` talking to a
    ``modelkeep server``.
    """
    if uri.startswith(("http://", "https://")):
        from modelkeep.store.rest import RestStore

        return RestStore(uri, token=token)
    from modelkeep.store.sql import SqlStore

    return SqlStore(uri)
