"""The Open Inference Protocol v2 routes (KServe v2 / Triton's HTTP API).

``/v2`` and the health routes, model metadata and readiness, and ``infer`` with or without a
version in the path. A path that names another model, or a version this server does not
serve now, is 404. A versioned ``infer`` goes to the slot serving that version (primary or
canary); an unversioned one is routed like ``/invocations``. The response's
``model_version`` is the version that produced the outputs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelkeep.entities import Role
from modelkeep.exceptions import NotFoundError
from modelkeep.serve.guard import client_key
from modelkeep.serve.http import json_response, read_body
from modelkeep.serve.routes import (
    log_outcome,
    observe_client,
    request_key,
    score_on,
    score_request,
    shadow_copy,
)
from modelkeep.serve.state import ServingState, versions
from modelkeep.serve.v2 import (
    V2_SERVER_METADATA,
    V2Request,
    parse_v2_request,
    v2_metadata,
    v2_response,
)

__all__ = ["V2Routes"]


def _header_safe(value: str | None) -> str | None:
    """``value`` when it can travel back in an HTTP header (printable ASCII, at most 256
    characters), else None: a v2 request id may be any JSON string."""
    if value is None or not 0 < len(value) <= 256:
        return None
    return value if all(" " < ch <= "~" for ch in value) else None


def _wants_labels(parsed: V2Request, want_proba: bool) -> bool:
    """Whether ``predict`` goes out: asked for (or by default), or in place of probabilities
    that ``--labels-only`` withholds."""
    if not want_proba:
        return True
    if parsed.requested:
        return "predict" in parsed.requested
    return parsed.output != "proba"


class V2Routes:
    """The v2 handlers, bound to one state."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def _check_model(self, request: Request) -> str | None:
        """The path's version (if any), after checking the path names the served model."""
        name = request.path_params["name"]
        served = self.state.primary.current.name
        if name != served:
            raise NotFoundError(f"unknown model {name!r}; this server serves {served!r}")
        version: str | None = request.path_params.get("version")
        if version is not None and self.state.slot_for_version(version) is None:
            raise NotFoundError(
                f"model {name!r} has no version {version!r} here; serving "
                f"{', '.join(versions(self.state.answering))}"
            )
        return version

    async def server_metadata(self, request: Request) -> Response:
        self.state.authorize(request.headers.get("authorization"), Role.READER)
        return json_response(V2_SERVER_METADATA)

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        return json_response({"ready": True})

    async def model_ready(self, request: Request) -> Response:
        self.state.authorize(request.headers.get("authorization"), Role.READER)
        self._check_model(request)
        return json_response({"name": request.path_params["name"], "ready": True})

    async def model_metadata(self, request: Request) -> Response:
        self.state.authorize(request.headers.get("authorization"), Role.READER)
        version = self._check_model(request)
        slot = self.state.slot_for_version(version) if version else self.state.primary
        assert slot is not None  # checked by _check_model
        deployment = slot.current
        shown = [version] if version else versions(self.state.answering)
        meta = v2_metadata(
            deployment.name,
            shown,
            f"modelkeep_{deployment.model.flavor}",
            deployment.model.signature,
            deployment.predictor.has_proba,
        )
        return json_response(meta)

    async def infer(self, request: Request) -> Response:
        state = self.state
        start = time.perf_counter()
        token = state.authorize(request.headers.get("authorization"), Role.READER)
        client = client_key(request, token)
        if (refused := state.guard.admit(client, token)) is not None:
            return refused.response(v2=True)
        version = self._check_model(request)
        body = await read_body(request, state.options.max_body_bytes)
        signature = state.primary.current.model.signature
        header_length = request.headers.get("inference-header-content-length")
        parsed = parse_v2_request(body, signature, header_length=header_length)
        request_id = _header_safe(parsed.id) or request.headers.get("x-request-id")
        request_id = request_id or uuid.uuid4().hex
        if (refused := state.guard.charge(client, len(parsed.table), token)) is not None:
            return refused.response(v2=True)
        want_proba = state.guard.allow_proba(
            parsed.output == "proba" or "proba" in parsed.requested
        )
        if version is not None:
            slot = state.slot_for_version(version)  # again: a reload may have swapped it out
            if slot is None:
                raise NotFoundError(
                    f"version {version!r} of {request.path_params['name']!r} stopped being "
                    "served while the request was read; retry without a version or with "
                    f"{state.primary.current.version!r}"
                )
            deployment, outcome = await score_on(state, slot, parsed.table, want_proba)
            variant = slot.variant
        else:
            key = request_key(request) or request_id
            deployment, variant, outcome = await score_request(
                state, parsed.table, want_proba, key
            )
        outputs: dict[str, Any] = {}
        if _wants_labels(parsed, want_proba):
            outputs["predict"] = outcome.labels
        if want_proba:
            outputs["proba"] = state.guard.harden(outcome.proba)
        latency_ms = (time.perf_counter() - start) * 1000
        log_outcome(state, deployment, variant, request_id, parsed.table, outcome, latency_ms)
        await observe_client(state, client, deployment, parsed.table)
        if state.shadow is not None:
            state.spawn(shadow_copy(state, parsed.table, request_id))
        body_out = v2_response(deployment.name, deployment.version, parsed.id, outputs)
        headers = {
            "x-model-version": deployment.version,
            "x-model-variant": variant,
            "x-request-id": request_id,
        }
        return Response(body_out, headers=headers, media_type="application/json")
