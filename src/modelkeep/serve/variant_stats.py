"""Live counts of one served variant (primary or canary), for ``GET /version``.

A :class:`VariantStats` belongs to one version in one slot: when the slot swaps to another
version it starts again from zero, so a canary's error rate is always that of the version
answering now. Outcomes are told apart by the status of the answer:

* ``errors``: answers with status 500 or more (the model or the server failed);
* ``rejected``: answers with a 4xx status (bad input is the caller's fault, not the model's);
* ``requests``: every answer the variant gave, successful or not.

Latency is the time from routing a request to the model's answer (queueing in the
micro-batcher plus scoring), over the last 1000 successful requests. Everything runs on the
event loop, so no lock is needed.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

__all__ = ["LATENCY_WINDOW", "VariantStats"]

LATENCY_WINDOW = 1000
"""How many recent successful requests the latency percentiles are computed over."""


class VariantStats:
    """Requests, errors, rejections and recent latencies of one version in one slot.

    Args:
        version: the version these counts belong to (answers of other versions are ignored:
            a request routed before a swap may finish after it).
        window: how many recent latencies are kept.

    Example:
        >>> stats = VariantStats("3")
        >>> stats.observe("3", 200, 1.5)
        >>> stats.snapshot(0.1)["requests"]
        1
    """

    def __init__(self, version: str, window: int = LATENCY_WINDOW) -> None:
        self.version = version
        self.requests = 0
        self.errors = 0
        self.rejected = 0
        self.since = time.time()
        self._latencies: deque[float] = deque(maxlen=window)

    def observe(self, version: str, status: int, latency_ms: float) -> None:
        """Count one answer of ``version`` with HTTP ``status`` after ``latency_ms``."""
        if version != self.version:
            return
        self.requests += 1
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.rejected += 1
        else:
            self._latencies.append(latency_ms)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of the recent latencies in ms; None without any."""
        if not self._latencies:
            return None
        return float(np.percentile(np.fromiter(self._latencies, float), q))

    def snapshot(self, weight: float) -> dict[str, Any]:
        """The counts as JSON-ready values, with ``weight`` (the share of traffic routed)."""
        return {
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "rejected": self.rejected,
            "error_rate": self.errors / self.requests if self.requests else 0.0,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "weight": weight,
            "since": self.since,
        }
