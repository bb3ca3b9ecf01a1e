"""Extraction defence of the inference server: rate limits, query budgets, output hardening and
query-pattern monitoring.

Who a client is: its API token when ``--auth`` is on (``token:<id>``), else the peer address
of the connection (``ip:<host>``). Forwarding headers such as ``X-Forwarded-For`` are never
trusted: any caller can write them. Behind a proxy every caller shares the proxy's address,
so turn auth on to tell them apart.

Limits apply to the scoring routes (``POST /invocations``, ``POST /v2/models/.../infer``):

* ``--rate-limit RPS`` with ``--burst N``: a token bucket per client that holds ``N`` requests
  and refills at ``RPS`` a second. An empty bucket answers 429 with ``Retry-After`` (seconds).
* ``--query-budget ROWS``: the rows a client may have scored per ``--query-budget-window``
  (default one day, counted from its first request of the window). A request that would go
  past it answers 429 with ``Retry-After`` the end of the window. Rows are counted when the
  request is accepted, whether or not the model then answers it.

A 429 body names the limit: ``{"error": {"code": "rate_limited" | "query_budget_exhausted",
"message", "field": "rate_limit" | "query_budget", "limit": {...}}}`` (on v2 routes
``{"error": message, "field", "limit"}``).

Output hardening: ``--labels-only`` answers labels where probabilities were asked for (and v2
drops the ``proba`` output); ``--round-probabilities N`` rounds them to ``N`` decimals.
Extraction monitoring (``--detect-extraction``) is :mod:`modelkeep.serve.prada`; a flagged
client raises an alert (rule ``extraction``) on the ``log`` channel, and on the channels of a
rule named ``extraction`` among the model's stored alert rules (``modelkeep monitor rules
set``) if there is one. ``GET /guard`` (admin token when auth is on) shows the limits and each
monitored client's statistics.

Every process keeps its own counts: with ``--workers N`` a client may get up to ``N`` times
the limits.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from modelkeep.entities import ApiToken
from modelkeep.exceptions import ModelkeepError, NotFoundError
from modelkeep.monitor.alerts import Alert, AlertRules, deliver, load_rules
from modelkeep.monitor.channels import LogChannel
from modelkeep.serve.http import json_response
from modelkeep.serve.prada import ClientVerdict, ExtractionMonitor, FeatureSpace

if TYPE_CHECKING:
    from modelkeep.serve.deployment import Deployment
    from modelkeep.serve.options import ServeOptions
    from modelkeep.tracking import Client

__all__ = ["EXTRACTION_RULE", "Guard", "GuardRefusal", "GuardSettings", "client_key"]

_log = logging.getLogger("modelkeep.serve")
EXTRACTION_RULE = "extraction"
_MAX_CLIENTS = 100_000
_ASYNC_ROWS = 32  # bigger requests are observed in a worker thread, off the event loop


@dataclass(frozen=True)
class GuardSettings:
    """The guard's part of :class:`~modelkeep.serve.options.ServeOptions` (see there)."""

    rate_limit: float | None = None
    burst: int | None = None
    query_budget: int | None = None
    query_budget_window_s: float = 86_400.0
    labels_only: bool = False
    round_probabilities: int | None = None
    detect_extraction: bool = False
    extraction_threshold: float = 0.9

    @classmethod
    def from_options(cls, options: ServeOptions) -> GuardSettings:
        return cls(
            options.rate_limit,
            options.burst,
            options.query_budget,
            options.query_budget_window_s,
            options.labels_only,
            options.round_probabilities,
            options.detect_extraction,
            options.extraction_threshold,
        )

    @property
    def bucket_size(self) -> int:
        """The burst: as given, else the rate rounded up (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.rate_limit or 1.0))


@dataclass(frozen=True)
class GuardRefusal:
    """A request the limits refuse: answered 429 with ``Retry-After``."""

    code: str
    field: str
    message: str
    retry_after_s: float
    limit: dict[str, Any]

    def response(self, *, v2: bool = False) -> Response:
        """The 429 answer, in the MLflow-style or the v2 error shape."""
        headers = {"retry-after": str(max(1, math.ceil(self.retry_after_s)))}
        if v2:
            body: dict[str, Any] = {
                "error": self.message,
                "field": self.field,
                "limit": self.limit,
            }
        else:
            body = {
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "field": self.field,
                    "limit": self.limit,
                }
            }
        return json_response(body, 429, headers)


def client_key(request: Request, token: ApiToken | None) -> str:
    """``token:<id>`` with auth, else ``ip:<peer address>`` (proxy headers are ignored)."""
    if token is not None:
        return f"token:{token.id}"
    host = request.client.host if request.client is not None else "unknown"
    return f"ip:{host}"


class _Usage:
    """One client's bucket and budget window."""

    __slots__ = ("tokens", "refilled", "window_start", "rows", "name")

    def __init__(self, tokens: float, now: float, name: str) -> None:
        self.tokens = tokens
        self.refilled = now
        self.window_start = now
        self.rows = 0
        self.name = name


class Guard:
    """The limits, hardening and monitor of one server process (thread-safe).

    Args:
        settings: what is switched on.
        monitor: the extraction monitor; None builds one when ``detect_extraction`` is on.
        rules: alert rules whose ``extraction`` rule's channels receive extraction alerts.
        model: the served model's name, for alerts.
    """

    def __init__(
        self,
        settings: GuardSettings | None = None,
        *,
        monitor: ExtractionMonitor | None = None,
        rules: AlertRules | None = None,
        model: str = "",
    ) -> None:
        self.settings = settings or GuardSettings()
        if monitor is None and self.settings.detect_extraction:
            monitor = ExtractionMonitor(self.settings.extraction_threshold)
        self.monitor = monitor
        self.rules = rules
        self.model = model
        self._usage: OrderedDict[str, _Usage] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    async def start(cls, options: ServeOptions, client: Client, deployment: Deployment) -> Guard:
        """The guard for a starting server: with extraction monitoring on, the feature space
        comes from the primary model's training reference when it has one, and the model's
        stored alert rules are read for an ``extraction`` rule."""
        settings = GuardSettings.from_options(options)
        if not settings.detect_extraction:
            return cls(settings, model=deployment.name)
        space, rules = await asyncio.to_thread(_reference_and_rules, client, deployment)
        monitor = ExtractionMonitor(settings.extraction_threshold, space=space)
        return cls(settings, monitor=monitor, rules=rules, model=deployment.name)

    # ---- limits ------------------------------------------------------------------------
    def admit(self, client: str, token: ApiToken | None = None) -> GuardRefusal | None:
        """Take one request from ``client``'s bucket; a refusal when it is empty. (Every
        scoring request calls this first, so the client's token name is known from here.)"""
        rate, size = self.settings.rate_limit, self.settings.bucket_size
        with self._lock:
            usage = self._usage_of(client, token)
            if rate is None:
                return None
            now = time.monotonic()
            usage.tokens = min(size, usage.tokens + (now - usage.refilled) * rate)
            usage.refilled = now
            if usage.tokens >= 1.0:
                usage.tokens -= 1.0
                return None
            wait = (1.0 - usage.tokens) / rate
        message = (
            f"rate limit: {rate:g} requests a second with bursts of {size} per client; "
            f"retry in {wait:.2f} s"
        )
        limit = {"name": "rate_limit", "requests_per_second": rate, "burst": size}
        return GuardRefusal("rate_limited", "rate_limit", message, wait, limit)

    def charge(self, client: str, rows: int, token: ApiToken | None = None) -> GuardRefusal | None:
        """Count ``rows`` against ``client``'s budget; a refusal when they do not fit."""
        budget = self.settings.query_budget
        if budget is None:
            return None
        window = self.settings.query_budget_window_s
        with self._lock:
            usage = self._usage_of(client, token)
            now = time.monotonic()
            if now - usage.window_start >= window:
                usage.window_start, usage.rows = now, 0
            if usage.rows + rows <= budget:
                usage.rows += rows
                return None
            used, wait = usage.rows, usage.window_start + window - now
        message = (
            f"query budget: {budget} rows per client every {window:g} s; {used} used, this "
            f"request has {rows}; the budget renews in {wait:.0f} s"
        )
        limit = {"name": "query_budget", "rows": budget, "window_s": window, "used": used}
        return GuardRefusal("query_budget_exhausted", "query_budget", message, wait, limit)

    def _usage_of(self, client: str, token: ApiToken | None) -> _Usage:
        usage = self._usage.get(client)
        if usage is None:
            name = token.name if token is not None else client
            usage = self._usage[client] = _Usage(self.settings.bucket_size, time.monotonic(), name)
            while len(self._usage) > _MAX_CLIENTS:
                self._usage.popitem(last=False)
        self._usage.move_to_end(client)
        return usage

    # ---- hardening ---------------------------------------------------------------------
    def allow_proba(self, requested: bool) -> bool:
        """Whether probabilities go out: asked for, and not ``--labels-only``."""
        return requested and not self.settings.labels_only

    def harden(self, proba: Any) -> Any:
        """Probabilities rounded to ``--round-probabilities`` decimals (as given otherwise)."""
        digits = self.settings.round_probabilities
        if digits is None or proba is None:
            return proba
        return np.round(np.asarray(proba, dtype=float), digits)

    # ---- monitoring --------------------------------------------------------------------
    async def observe(
        self, client: str, rows: Sequence[Sequence[Any]], names: Sequence[str] | None
    ) -> None:
        """Feed a scored request's rows to the extraction monitor (no-op when it is off)."""
        if self.monitor is None or not rows:
            return
        columns = list(names) if names is not None else [f"x{i}" for i in range(len(rows[0]))]
        try:
            if len(rows) > _ASYNC_ROWS:
                verdict = await asyncio.to_thread(self.monitor.observe, client, rows, columns)
            else:
                verdict = self.monitor.observe(client, rows, columns)
            if verdict is not None:
                self._alert(verdict)
        except Exception:  # noqa: BLE001 - monitoring never fails a request it already answered
            _log.exception("extraction monitoring failed on a request of %s", client)

    def _alert(self, verdict: ClientVerdict) -> None:
        now = int(time.time() * 1000)
        rules = self.rules
        rule = rules.rule(EXTRACTION_RULE) if rules is not None else None
        severity = rule.severity if rule is not None else "warning"
        if verdict.w is not None and verdict.w < self.settings.extraction_threshold:
            metric, value = "guard.extraction.w", verdict.w
        else:
            metric, value = "guard.extraction.ood_share", verdict.ood_share or 0.0
        message = (
            f"[{severity}] {self.model}: client {self._name(verdict.client)} looks like a model "
            f"extraction attack ({'; '.join(verdict.reasons)}; {verdict.queries} queries)"
        )
        alert = Alert(
            rule=EXTRACTION_RULE,
            model=self.model,
            metric=metric,
            value=value,
            severity=severity,
            message=message,
            window_start_ms=verdict.first_seen_ms,
            window_end_ms=now,
            fired_at_ms=now,
            dedup_key=f"{self.model}:{EXTRACTION_RULE}:{verdict.client}",
        )
        if rule is None or "log" not in rule.channels:
            LogChannel().send(alert)
        if rules is not None:
            # Webhooks and mail block and retry: never on the request's path.
            threading.Thread(target=deliver, args=(alert, rules), daemon=True).start()

    def _name(self, client: str) -> str:
        with self._lock:
            usage = self._usage.get(client)
        return usage.name if usage is not None else client

    def describe(self) -> dict[str, Any]:
        """The settings and every monitored client's statistics, for ``GET /guard``."""
        s = self.settings
        verdicts = self.monitor.verdicts() if self.monitor is not None else []
        clients = [{**v.to_dict(), "name": self._name(v.client)} for v in verdicts]
        space = self.monitor.space if self.monitor is not None else None
        return {
            "rate_limit": s.rate_limit,
            "burst": s.bucket_size if s.rate_limit is not None else None,
            "query_budget": s.query_budget,
            "query_budget_window_s": s.query_budget_window_s,
            "labels_only": s.labels_only,
            "round_probabilities": s.round_probabilities,
            "extraction": {
                "enabled": self.monitor is not None,
                "threshold": s.extraction_threshold,
                "reference": space is not None and space.reference is not None,
                "flagged": [c["client"] for c in clients if c["flagged"]],
                "clients": clients,
            },
        }


def _reference_and_rules(
    client: Client, deployment: Deployment
) -> tuple[FeatureSpace | None, AlertRules | None]:
    """The training reference's feature space and the ``extraction`` alert rule, when the
    model has them (either may be missing: monitoring then learns the spread from traffic,
    and alerts go to the log only)."""
    from modelkeep.monitor.reference import load_reference, sample_frame

    space = None
    try:
        reference = load_reference(client, deployment.model.manifest.source_run_id)
        space = FeatureSpace.from_reference(sample_frame(reference))
    except NotFoundError as exc:
        _log.info("extraction monitoring without a training reference: %s", exc.message)
    except (KeyError, TypeError, ValueError) as exc:
        _log.warning("extraction monitoring ignores an unreadable reference: %s", exc)
    return space, _extraction_rules(client, deployment)


def _extraction_rules(client: Client, deployment: Deployment) -> AlertRules | None:
    from modelkeep.monitor.model_rules import stored_alert_rules

    if not deployment.version:
        return None
    try:
        text = stored_alert_rules(client, deployment.name)
        loaded = load_rules(text) if text else None
    except ModelkeepError as exc:
        _log.warning("extraction alerts go to the log only: stored rules unusable: %s", exc)
        return None
    if loaded is None or all(rule.name != EXTRACTION_RULE for rule in loaded.rules):
        return None
    return loaded
