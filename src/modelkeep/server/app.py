"""The tracking server's app factory.

Example:
    >>> from modelkeep.artifacts import LocalArtifactStore
    >>> from modelkeep.store.sql import SqlStore
    >>> app = create_app(Settings(), SqlStore("sqlite:///mk.db"),  # doctest: +SKIP
    ...                  LocalArtifactStore("artifacts"))
    >>> TestClient(app).get("/health").json()["status"]  # doctest: +SKIP
    'ok'
"""

from __future__ import annotations

from fastapi import FastAPI

import modelkeep
from modelkeep.artifacts import BaseArtifactStore
from modelkeep.config import Settings
from modelkeep.server.deps import check_access_rules
from modelkeep.server.errors import install_error_handlers
from modelkeep.server.limits import BodyGuardMiddleware
from modelkeep.server.metrics import MetricsMiddleware, RequestMetrics
from modelkeep.server.routes import ROUTERS
from modelkeep.store.base import BaseStore

__all__ = ["create_app"]


def create_app(
    settings: Settings,
    store: BaseStore,
    blobs: BaseArtifactStore,
    *,
    auth_enabled: bool = False,
) -> FastAPI:
    """Build the tracking server around a metadata store and a blob store.

    Args:
        settings: limits (``max_json_bytes``, ``max_body_bytes``) and other configuration.
        store: the metadata store every route reads and writes.
        blobs: where artifact content lives.
        auth_enabled: require a bearer API token on every route except ``/health``; when off,
            everything is open (meant for a server bound to loopback only).

    Returns:
        The FastAPI app; the caller owns ``store`` and ``blobs`` and closes them.

    Raises:
        RuntimeError: a route declares no access rule (a programming error, caught by tests).
    """
    app = FastAPI(
        title="modelkeep tracking server",
        version=modelkeep.__version__,
        # The docs routes are served by routes/service.py so they get an access rule too.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.blobs = blobs
    app.state.auth_enabled = auth_enabled
    app.state.metrics = RequestMetrics()
    for router in ROUTERS:
        # Copy the routes rather than include_router(): newer FastAPI versions include routers
        # lazily, and the access-rule check and the metrics labels need the flat route list.
        app.router.routes.extend(router.routes)
    check_access_rules(app)
    install_error_handlers(app)
    # Added last = outermost: metrics also count the 413/415 answers of the body guard.
    app.add_middleware(BodyGuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, routes=app.router.routes)
    return app
