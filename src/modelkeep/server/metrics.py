"""Prometheus metrics of the tracking server, in a registry owned by each app.

A per-app :class:`~prometheus_client.CollectorRegistry` (not the process-global one) keeps apps
built by tests, or two servers in one process, from sharing or double-registering series.
Requests are labelled by *route template* (``/api/v1/runs/{run_id}``), never by raw path, so the
number of series stays bounded whatever paths clients send.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware", "RequestMetrics"]

_UNMATCHED = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """The server's request counter and latency histogram, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelkeep_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelkeep_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return bytes(generate_latest(self.registry))


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """The path template of the route a request matches (or would match but for its method)."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", _UNMATCHED))
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", _UNMATCHED))
    return partial or _UNMATCHED


class MetricsMiddleware:
    """ASGI middleware that records every HTTP request in :class:`RequestMetrics`.

    Args:
        app: the wrapped ASGI app.
        metrics: where to record.
        routes: the app's routes, used to find the template a request path matches.
    """

    def __init__(self, app: ASGIApp, metrics: RequestMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            template = route_template(self.routes, scope)
            # Clients choose the method string; bucket odd ones so they cannot mint series.
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            self.metrics.observe(method, template, status, time.perf_counter() - started)
