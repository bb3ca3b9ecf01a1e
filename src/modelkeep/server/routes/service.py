"""Service routes: ``/health`` (always open), ``/metrics``, and the OpenAPI docs.

With auth on, ``/metrics``, ``/openapi.json`` and ``/docs`` need a reader token like the rest of
the API: the schema and the traffic figures describe the deployment, so they are not public.
FastAPI's built-in docs routes are switched off in ``create_app`` and served here instead, so
they carry an access rule like every other route.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from modelkeep.entities import Role
from modelkeep.server.deps import PUBLIC, require
from modelkeep.server.metrics import RequestMetrics

__all__ = ["router"]

router = APIRouter()

_READ = [Depends(require(Role.READER))]


@router.get("/health", dependencies=[Depends(PUBLIC)], tags=["service"])
def health() -> dict[str, str]:
    """Liveness probe; answers without a token, so it says nothing else (not even a version)."""
    return {"status": "ok"}


@router.get("/metrics", dependencies=_READ, tags=["service"], response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies in the Prometheus text format."""
    registry: RequestMetrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", dependencies=_READ, include_in_schema=False)
def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI document of this API."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=_READ, include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Interactive API documentation."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json", title=f"{request.app.title} docs"
    )
