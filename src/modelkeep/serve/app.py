"""The inference server's ASGI app: routes, start-up and shutdown.

:func:`create_serving_app` returns a Starlette app whose lifespan loads the models (through
the registry's integrity checks, in worker threads) before the first request is accepted, and
on shutdown finishes queued requests and flushes the inference log. Starlette rather than
FastAPI: every route reads its body itself (JSON, CSV, Parquet), so FastAPI's request models
would only add work to the hot path.

Auth (``ServeOptions.auth``): every route needs a bearer token of the tracking server's
(reader; ``/feedback`` needs writer) except the liveness and readiness probes ``/health``,
``/ready``, ``/v2/health/live`` and ``/v2/health/ready``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelkeep.config import Settings
from modelkeep.serve.http import json_response, timed
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.routes import ServeRoutes
from modelkeep.serve.routes_explain import ExplainRoutes
from modelkeep.serve.routes_v2 import V2Routes
from modelkeep.serve.state import ServingState

__all__ = ["OPTIONS_ENV", "app_from_environment", "create_serving_app", "open_routes"]

OPTIONS_ENV = "MODELKEEP_SERVE_OPTIONS"

open_routes = frozenset({"/health", "/ready", "/v2/health/live", "/v2/health/ready"})
"""The routes that answer without a token when auth is on (liveness and readiness probes)."""


def create_serving_app(options: ServeOptions, settings: Settings | None = None) -> Starlette:
    """The ASGI app serving ``options.model_uri`` (models load when the app starts).

    Example:
        >>> app = create_serving_app(ServeOptions("models:/churn@champion"))  # doctest: +SKIP
    """
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await ServingState.start(options, settings)
        app.state.serving = state
        app.router.routes.extend(_routes(state))
        try:
            yield
        finally:
            await state.stop()

    handlers = {404: _not_found, 405: _not_allowed}
    return Starlette(lifespan=lifespan, exception_handlers=handlers)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _path_error(request, 404, "not_found", f"no route {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    message = f"{request.method} is not allowed on {request.url.path}"
    return _path_error(request, 405, "method_not_allowed", message)


def _path_error(request: Request, status: int, code: str, message: str) -> Response:
    if request.url.path.startswith("/v2"):
        return json_response({"error": message}, status)
    return json_response({"error": {"code": code, "message": message, "field": None}}, status)


def _routes(state: ServingState) -> list[Route]:
    mlflow, v2, metrics = ServeRoutes(state), V2Routes(state), state.metrics
    explainer = ExplainRoutes(state)

    def route(path: str, handler: object, methods: list[str], *, is_v2: bool = False) -> Route:
        return Route(path, timed(path, metrics, handler, v2=is_v2), methods=methods)  # type: ignore[arg-type]

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    return [
        route("/invocations", mlflow.invocations, ["POST"]),
        route("/explain", explainer.explain, ["POST"]),
        route("/feedback", mlflow.feedback, ["POST"]),
        route("/health", mlflow.health, ["GET"]),
        route("/ready", mlflow.ready, ["GET"]),
        route("/version", mlflow.version, ["GET"]),
        route("/guard", mlflow.guard, ["GET"]),
        route("/metrics", mlflow.metrics, ["GET"]),
        route("/v2", v2.server_metadata, ["GET"], is_v2=True),
        route("/v2/health/live", v2.live, ["GET"], is_v2=True),
        route("/v2/health/ready", v2.ready, ["GET"], is_v2=True),
        route(model, v2.model_metadata, ["GET"], is_v2=True),
        route(f"{model}/ready", v2.model_ready, ["GET"], is_v2=True),
        route(f"{model}/infer", v2.infer, ["POST"], is_v2=True),
        route(versioned, v2.model_metadata, ["GET"], is_v2=True),
        route(f"{versioned}/ready", v2.model_ready, ["GET"], is_v2=True),
        route(f"{versioned}/infer", v2.infer, ["POST"], is_v2=True),
    ]


def app_from_environment() -> Starlette:
    """The app for ``uvicorn --factory`` worker processes: options from ``OPTIONS_ENV``."""
    raw = json.loads(os.environ[OPTIONS_ENV])
    return create_serving_app(ServeOptions(**raw))
