"""Request-body guard: size limits (413) and content type (415) before any route runs.

JSON bodies are read here, up to ``settings.max_json_bytes``, and replayed to the app; a larger
one is refused without reading the rest. Artifact uploads are the one place that takes raw bytes:
they pass through unbuffered, with a byte counter that stops the stream once it exceeds
``settings.max_body_bytes`` (the blob store enforces the same limit while writing), so an upload
is never held in memory.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelkeep.config import Settings
from modelkeep.exceptions import PayloadTooLargeError
from modelkeep.server.errors import error_response

__all__ = ["ARTIFACT_UPLOAD_PATH", "BodyGuardMiddleware"]

ARTIFACT_UPLOAD_PATH = re.compile(r"^/api/v1/runs/[^/]+/artifacts/")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _declared_length(headers: Headers) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _too_large(limit: int) -> Exception:
    return PayloadTooLargeError(f"request body is larger than the limit of {limit} bytes")


class BodyGuardMiddleware:
    """ASGI middleware enforcing body size limits and the JSON content type.

    Args:
        app: the wrapped ASGI app.
        settings: supplies ``max_json_bytes`` and ``max_body_bytes``.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_json_bytes = settings.max_json_bytes
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "PUT" and ARTIFACT_UPLOAD_PATH.match(scope["path"]):
            await self._pass_upload(scope, receive, send, headers)
        else:
            await self._pass_json(scope, receive, send, headers)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, msg: str
    ) -> None:
        code = "payload_too_large" if status == 413 else "unsupported_media_type"
        # Close the connection: the client may still be sending a body nobody will read.
        response = error_response(status, code, msg, headers={"Connection": "close"})
        await response(scope, receive, send)

    async def _pass_upload(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        limit = self.max_body_bytes
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, 413, str(_too_large(limit)))
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)

    async def _pass_json(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        limit = self.max_json_bytes
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, 413, str(_too_large(limit)))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, 413, str(_too_large(limit)))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        if size and not _is_json(headers.get("content-type")):
            shown = headers.get("content-type") or "none"
            msg = f"request bodies must be application/json (got {shown})"
            await self._refuse(scope, receive, send, 415, msg)
            return
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], None, receive), send)


def _replay(first: list[Message], pending: Message | None, receive: Receive) -> Receive:
    """A receive callable that yields ``first``, then ``pending``, then defers to ``receive``."""
    queue = list(first) + ([pending] if pending is not None else [])

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
