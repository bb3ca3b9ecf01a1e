"""What every inference route shares: reading a bounded body, timing, and error answers.

Errors are answered at this one boundary with the status :func:`modelkeep.server.errors.
status_for` gives each :class:`~modelkeep.exceptions.ModelkeepError` (the tracking server's
mapping): 400 with the field for bad input, 401/403 for tokens, 404, 413, 415, never a 500
for anything a client sent. MLflow-style routes answer ``{"error": {"code", "message",
"field"}}``; the v2 routes answer the Open Inference Protocol's ``{"error": "<message>"}``
(plus ``field``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelkeep.exceptions import ModelkeepError, PayloadTooLargeError
from modelkeep.serve.metrics import ServeMetrics
from modelkeep.server.errors import status_for

__all__ = ["Handler", "json_response", "read_body", "timed"]

_log = logging.getLogger("modelkeep.serve")

Handler = Callable[[Request], Awaitable[Response]]
_CLIENT_CLOSED = 499  # nginx's "client closed request", counted as such in the metrics


def json_response(
    content: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``content`` as JSON (orjson: numpy scalars and arrays are written as numbers)."""
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status, headers=headers, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with PayloadTooLargeError past ``limit`` bytes (checked on
    the declared length first, then while reading, for chunked bodies)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _mlflow_error(exc: ModelkeepError, status: int) -> Response:
    payload = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    return json_response(payload, status)


def _v2_error(exc: ModelkeepError, status: int) -> Response:
    payload: dict[str, object] = {"error": exc.message}
    if exc.field is not None:
        payload["field"] = exc.field
    return json_response(payload, status)


def timed(route: str, metrics: ServeMetrics, handler: Handler, *, v2: bool = False) -> Handler:
    """``handler`` with its latency and status counted, and errors answered as JSON."""
    answer_error = _v2_error if v2 else _mlflow_error

    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        try:
            response = await handler(request)
        except ModelkeepError as exc:
            response = answer_error(exc, status_for(exc))
            if response.status_code == 401:
                response.headers["www-authenticate"] = "Bearer"  # RFC 6750, as server/
        except ClientDisconnect:  # the caller went away: nobody to answer, nothing broke
            response = Response(status_code=_CLIENT_CLOSED)
        except Exception:  # noqa: BLE001 - answered as a 500 that reveals nothing
            _log.exception("unexpected error on %s", route)
            response = answer_error(ModelkeepError("internal server error"), 500)
        metrics.observe_request(route, response.status_code, time.perf_counter() - start)
        return response

    return endpoint
