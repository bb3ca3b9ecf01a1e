"""The one place where errors become HTTP answers.

Every answer that is not a success carries ``{"error": {"code", "message", "field"}}`` (plus
``position`` for filter errors). :class:`~modelkeep.exceptions.ModelkeepError` subclasses map to
their status here and nowhere else; request-validation failures (wrong types, missing fields,
malformed JSON) are 400; anything unexpected is a 500 whose message reveals nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from modelkeep.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    InvalidFilterError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreError,
    UnsupportedMediaTypeError,
)
from modelkeep.server.schemas import ErrorResponse

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers", "status_for"]

logger = logging.getLogger(__name__)

# Checked in order, so a subclass is found through its base class (ImmutableParamError -> 409).
_STATUS_BY_ERROR: tuple[tuple[type[ModelkeepError], int], ...] = (
    (InvalidInputError, 400),
    (NotFoundError, 404),
    (AlreadyExistsError, 409),
    (ConflictError, 409),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (StoreError, 503),
)

_CODE_BY_HTTP_STATUS = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Invalid input: malformed JSON, wrong types, bad values, unsafe paths"),
        (401, "Missing, unknown or revoked API token"),
        (403, "The token's role does not allow this"),
        (404, "Unknown experiment, run, artifact or token"),
        (409, "Name taken, or the stored state forbids the change"),
        (413, "Request body over the limit"),
        (415, "Request body is not application/json"),
        (503, "The storage backend failed"),
        # Listing a 4XX range also keeps FastAPI from documenting a 422 this API never sends.
        ("4XX", "Any other client error"),
    )
}
"""Documented error answers, added to every API route's OpenAPI entry."""


def status_for(error: ModelkeepError) -> int:
    """The HTTP status a modelkeep error is answered with."""
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    position: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error answer in the API's one error format."""
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if position is not None:
        body["position"] = position
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _dotted(location: Sequence[int | str], *, indices: bool) -> str | None:
    # "body"/"query"/"path" say where FastAPI looked, not which field the caller got wrong.
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts if indices or not isinstance(p, int)) or None


async def _modelkeep_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelkeepError)
    status = status_for(exc)
    position = exc.position if isinstance(exc, InvalidFilterError) else None
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        logger.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(
        status, exc.code, exc.message, field=exc.field, position=position, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(400, "invalid_input", "invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return error_response(
            400, "invalid_input", f"request body is not valid JSON: {detail}", field="body"
        )
    location = first.get("loc", ())
    # ``field`` names the field the way the stores do ("metrics.value"); the message keeps
    # the list indices ("metrics.3.value") so the caller can find the offending item.
    field = _dotted(location, indices=False)
    message = str(first.get("msg", "invalid value"))
    where = _dotted(location, indices=True)
    if where is not None:
        message = f"{where}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return error_response(400, "invalid_input", message, field=field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_HTTP_STATUS.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # Nobody is left to read this; it only keeps a vanished uploader from logging a 500.
    return error_response(400, "client_disconnected", "the client went away mid-request")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error in %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into the JSON error format."""
    app.add_exception_handler(ModelkeepError, _modelkeep_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected_error)
