"""MLflow-compatible scoring, feedback and the operational routes.

``POST /invocations`` reads MLflow's scoring formats (:mod:`modelkeep.serve.payloads`) and
answers ``{"predictions": [...]}``, with headers ``X-Model-Version`` (the version that
produced the answer), ``X-Model-Variant`` (primary or canary) and ``X-Request-Id`` (the
caller's, or a new one: send it back with ``POST /feedback``). Rows of a multi-row request are
logged as ``<request id>/<row>``.

``GET /version`` describes each served slot and, under ``"variants"``, the live counts of the
primary and the canary (:mod:`modelkeep.serve.variant_stats`): the version, requests, errors
(5xx), rejected (4xx), p50/p99 latency in ms and the share of traffic each gets; a canary
whose alias is not set is listed with ``"pending": true``. Under ``"energy"``: the process's
CPU seconds and estimated energy per 1,000 predictions (:mod:`modelkeep.energy.serving`).

``GET /guard`` shows the extraction defence: the limits and, per client, the query-pattern
statistics (:mod:`modelkeep.serve.guard`); it needs an admin token when auth is on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelkeep.entities import Role
from modelkeep.exceptions import InvalidInputError, ModelkeepError, NotFoundError
from modelkeep.serve.batcher import Outcome
from modelkeep.serve.deployment import Deployment
from modelkeep.serve.guard import client_key
from modelkeep.serve.http import json_response, read_body
from modelkeep.serve.inference_log import Feedback, InferenceRecord
from modelkeep.serve.payloads import encode_predictions, parse_invocation
from modelkeep.serve.rollout import Slot
from modelkeep.serve.state import ServingState, versions
from modelkeep.serve.table import Table
from modelkeep.server.errors import status_for

__all__ = [
    "ServeRoutes",
    "log_outcome",
    "observe_client",
    "request_key",
    "score_on",
    "score_request",
    "text_columns",
]

_PARSE_IN_THREAD_BYTES = 256 * 1024  # bigger bodies are parsed off the event loop


def text_columns(deployment: Deployment) -> frozenset[str]:
    """The signature's string and category columns (a CSV body keeps them as text)."""
    signature = deployment.model.signature
    if signature is None or signature.input_kind != "dataframe":
        return frozenset()
    return frozenset(c.name for c in signature.inputs if c.dtype in ("string", "category"))


def request_key(request: Request) -> str | None:
    """The caller's routing key: ``X-Routing-Key``, else ``X-Request-Id``."""
    return request.headers.get("x-routing-key") or request.headers.get("x-request-id")


async def score_request(
    state: ServingState, table: Table, want_proba: bool, key: str | None
) -> tuple[Deployment, str, Outcome]:
    """Score ``table`` on the variant ``key`` routes to; (deployment, variant, outcome)."""
    slot = state.route(key)
    deployment, outcome = await score_on(state, slot, table, want_proba)
    return deployment, slot.variant, outcome


async def score_on(
    state: ServingState, slot: Slot, table: Table, want_proba: bool
) -> tuple[Deployment, Outcome]:
    """Score ``table`` on ``slot``'s version now, counting the answer in the slot's stats
    (a failure with the status it will be answered with)."""
    start = time.perf_counter()
    deployment = slot.current  # read and submitted with no await between: see Slot.swap
    try:
        outcome = await deployment.batcher.submit(table, want_proba=want_proba)
    except Exception as exc:
        status = status_for(exc) if isinstance(exc, ModelkeepError) else 500
        state.observe_variant(slot, deployment, status, _since_ms(start))
        raise
    state.observe_variant(slot, deployment, 200, _since_ms(start))
    return deployment, outcome


def _since_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def log_outcome(
    state: ServingState,
    deployment: Deployment,
    variant: str,
    request_id: str,
    table: Table,
    outcome: Outcome,
    latency_ms: float,
) -> None:
    """Append one inference-log record per row (no I/O here: the log writes in the back)."""
    if state.log is None:
        return
    names = table.names_for(deployment.model.signature) or tuple(
        f"x{i}" for i in range(len(table.rows[0]) if table.rows else 0)
    )
    labels = outcome.labels.tolist() if hasattr(outcome.labels, "tolist") else outcome.labels
    proba = outcome.proba.tolist() if outcome.proba is not None else None
    now = int(time.time() * 1000)
    single = len(table.rows) == 1
    state.log.append(
        [
            InferenceRecord(
                request_id if single else f"{request_id}/{index}",
                now,
                deployment.name,
                deployment.version,
                variant,
                dict(zip(names, row, strict=False)),
                labels[index] if isinstance(labels, list) else labels,
                proba[index] if proba is not None else None,
                latency_ms,
            )
            for index, row in enumerate(table.rows)
        ]
    )


async def observe_client(
    state: ServingState, client: str, deployment: Deployment, table: Table
) -> None:
    """Show a scored request's rows to the extraction monitor (when it is on)."""
    if state.guard.monitor is not None:
        names = table.names_for(deployment.model.signature)
        await state.guard.observe(client, table.rows, names)


class ServeRoutes:
    """The handlers of the MLflow-style and operational routes, bound to one state."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    async def invocations(self, request: Request) -> Response:
        state = self.state
        start = time.perf_counter()
        token = state.authorize(request.headers.get("authorization"), Role.READER)
        client = client_key(request, token)
        if (refused := state.guard.admit(client, token)) is not None:
            return refused.response()
        body = await read_body(request, state.options.max_body_bytes)
        content_type = request.headers.get("content-type")
        output = request.query_params.get("output")
        csv = content_type is not None and "csv" in content_type
        text = text_columns(state.primary.current) if csv else frozenset()
        if len(body) > _PARSE_IN_THREAD_BYTES:
            invocation = await asyncio.to_thread(
                parse_invocation, body, content_type, output=output, text_columns=text
            )
        else:
            invocation = parse_invocation(body, content_type, output=output, text_columns=text)
        if (refused := state.guard.charge(client, len(invocation.table), token)) is not None:
            return refused.response()
        want_proba = state.guard.allow_proba(invocation.output == "proba")
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        deployment, variant, outcome = await score_request(
            state, invocation.table, want_proba, request_key(request) or request_id
        )
        values = state.guard.harden(outcome.proba) if want_proba else outcome.labels
        latency_ms = (time.perf_counter() - start) * 1000
        log_outcome(state, deployment, variant, request_id, invocation.table, outcome, latency_ms)
        await observe_client(state, client, deployment, invocation.table)
        if state.shadow is not None:
            state.spawn(shadow_copy(state, invocation.table, request_id))
        headers = {
            "x-model-version": deployment.version,
            "x-model-variant": variant,
            "x-request-id": request_id,
        }
        return Response(encode_predictions(values), headers=headers, media_type="application/json")

    async def feedback(self, request: Request) -> Response:
        state = self.state
        state.authorize(request.headers.get("authorization"), Role.WRITER)
        body = await read_body(request, state.options.max_body_bytes)
        items = _parse_feedback(body)
        if state.log is None:
            raise NotFoundError("the inference log is off (--no-inference-log)", field="feedback")
        # The label joins whichever model answered the request (primary, canary or shadow,
        # which may be registered under other names): file it under each of their names.
        for name in dict.fromkeys(slot.current.name for slot in state.slots):
            state.log.append_feedback(name, items)
        return json_response({"recorded": len(items)})

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        return json_response({"ready": True, "versions": versions(self.state.slots)})

    async def version(self, request: Request) -> Response:
        self.state.authorize(request.headers.get("authorization"), Role.READER)
        described: dict[str, Any] = {
            slot.variant: _describe(slot.current) for slot in self.state.slots
        }
        described["variants"] = self.state.variants()
        described["energy"] = self.state.metrics.energy.snapshot()
        return json_response(described)

    async def guard(self, request: Request) -> Response:
        """The limits and the extraction monitor's view of each client (admin with auth)."""
        self.state.authorize(request.headers.get("authorization"), Role.ADMIN)
        return json_response(self.state.guard.describe())

    async def metrics(self, request: Request) -> Response:
        self.state.authorize(request.headers.get("authorization"), Role.READER)
        return Response(self.state.metrics.exposition(), media_type="text/plain; version=0.0.4")


async def shadow_copy(state: ServingState, table: Table, request_id: str) -> None:
    """Score a copy on the shadow model and log it; its failures reach only the metrics."""
    shadow = state.shadow
    if shadow is None:
        return
    start = time.perf_counter()
    deployment = shadow.current
    try:
        outcome = await deployment.batcher.submit(table, want_proba=False)
        latency_ms = (time.perf_counter() - start) * 1000
        log_outcome(state, deployment, "shadow", request_id, table, outcome, latency_ms)
    except Exception:  # noqa: BLE001 - a shadow never affects callers
        state.metrics.shadow_errors.inc()


def _describe(deployment: Deployment) -> dict[str, Any]:
    return {
        "model": deployment.name,
        "version": deployment.version,
        "uri": deployment.uri,
        "root_digest": deployment.root_digest,
        "runtime": deployment.runtime,
        "runtime_reason": deployment.predictor.reason,
        "flavor": deployment.model.flavor,
    }


def _parse_feedback(body: bytes) -> list[Feedback]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"feedback is not valid JSON: {exc}", field="body") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise InvalidInputError("feedback: send at least one item", field="body")
    now = int(time.time() * 1000)
    parsed: list[Feedback] = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(data, list) else ""
        if not isinstance(item, dict) or set(item) - {"request_id", "label"}:
            raise InvalidInputError(
                f'feedback{where}: expected {{"request_id": ..., "label": ...}}',
                field=f"feedback{where}",
            )
        request_id, label = item.get("request_id"), item.get("label", ...)
        if not isinstance(request_id, str) or not request_id:
            raise InvalidInputError(
                f"feedback{where}.request_id: a non-empty string is required",
                field=f"feedback{where}.request_id",
            )
        if label is ... or isinstance(label, dict | list):
            raise InvalidInputError(
                f"feedback{where}.label: one JSON value (number, string, bool) is required",
                field=f"feedback{where}.label",
            )
        parsed.append(Feedback(request_id, label, now))
    return parsed
