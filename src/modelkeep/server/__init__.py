"""The team tracking server: a FastAPI app over a metadata store and a blob store.

:func:`create_app` builds the app (no module-level state); :func:`run_server` in
:mod:`modelkeep.server.runner` serves it with uvicorn. :class:`~modelkeep.store.rest.RestStore`
is its client.
"""

from __future__ import annotations

from modelkeep.server.app import create_app

__all__ = ["create_app"]
