"""Prometheus metrics of the inference server, in a registry owned by each app.

Requests are counted by route template and status, with a latency histogram whose buckets
start at 0.5 ms (a one-row prediction takes about a millisecond); batches by rows and jobs;
the served models as an info-style gauge (``modelkeep_serve_model_info{variant, name,
version, digest, runtime} 1``, replaced on every hot reload); the answers of each variant
(``modelkeep_serve_variant_requests_total{variant, version, outcome}``, outcome ``ok``,
``error`` for 5xx or ``rejected`` for 4xx); the inference log's backlog is read when
Prometheus scrapes, and so are the process's CPU seconds and estimated energy per 1,000
predictions (``modelkeep_serve_cpu_seconds_per_1k_predictions``,
``modelkeep_serve_energy_kwh_per_1k_predictions``; see :mod:`modelkeep.energy.serving`).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from modelkeep.energy import ServingEnergy

__all__ = ["ServeMetrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServeMetrics:
    """The inference server's metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelkeep_serve_requests",
            "Requests answered, by route template and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelkeep_serve_request_duration_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelkeep_serve_batch_rows",
            "Rows scored per model call (micro-batch size).",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_jobs = Histogram(
            "modelkeep_serve_batch_requests",
            "Requests coalesced per model call.",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "modelkeep_serve_model_info",
            "The model versions being served (value 1), by variant.",
            ["variant", "name", "version", "digest", "runtime"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "modelkeep_serve_reloads",
            "Hot reloads after an alias moved, by result.",
            ["variant", "result"],
            registry=self.registry,
        )
        self.variant_requests = Counter(
            "modelkeep_serve_variant_requests",
            "Scoring requests answered by each variant and version, by outcome "
            "(ok, error: 5xx, rejected: 4xx).",
            ["variant", "version", "outcome"],
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "modelkeep_serve_shadow_errors",
            "Shadow predictions that failed (never visible to callers).",
            registry=self.registry,
        )
        self.log_backlog = Gauge(
            "modelkeep_serve_inference_log_backlog",
            "Inference-log records waiting to be written.",
            registry=self.registry,
        )
        self.log_dropped = Gauge(
            "modelkeep_serve_inference_log_dropped",
            "Inference-log records dropped because the backlog was full.",
            registry=self.registry,
        )
        self._served: dict[str, tuple[str, str, str, str]] = {}
        self.energy = ServingEnergy()
        self.cpu_per_1k = Gauge(
            "modelkeep_serve_cpu_seconds_per_1k_predictions",
            "Process CPU seconds since start per 1,000 predictions (NaN before the first).",
            registry=self.registry,
        )
        self.cpu_per_1k.set_function(self.energy.cpu_seconds_per_1k)
        self.energy_per_1k = Gauge(
            "modelkeep_serve_energy_kwh_per_1k_predictions",
            "Estimated kWh per 1,000 predictions: that CPU time x watts per core.",
            registry=self.registry,
        )
        self.energy_per_1k.set_function(self.energy.energy_kwh_per_1k)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, jobs: int, rows: int) -> None:
        """Record one model call's size."""
        self.batch_jobs.observe(jobs)
        self.batch_rows.observe(rows)
        self.energy.observe(rows)

    def set_model(self, variant: str, name: str, version: str, digest: str, runtime: str) -> None:
        """Mark ``variant`` as serving this version (replacing what it served before)."""
        previous = self._served.get(variant)
        if previous is not None:
            self.model_info.remove(variant, *previous)
        self._served[variant] = (name, version, digest, runtime)
        self.model_info.labels(variant, name, version, digest, runtime).set(1)

    def observe_variant(self, variant: str, version: str, status: int) -> None:
        """Count one scoring answer of ``variant`` (serving ``version``) with ``status``."""
        outcome = "error" if status >= 500 else "rejected" if status >= 400 else "ok"
        self.variant_requests.labels(variant, version, outcome).inc()

    def clear_model(self, variant: str) -> None:
        """Mark ``variant`` as serving nothing (a canary whose alias was deleted)."""
        previous = self._served.pop(variant, None)
        if previous is not None:
            self.model_info.remove(variant, *previous)

    def watch_log(self, backlog: Callable[[], float], dropped: Callable[[], float]) -> None:
        """Read the inference log's backlog and drop count at each scrape."""
        self.log_backlog.set_function(backlog)
        self.log_dropped.set_function(dropped)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return bytes(generate_latest(self.registry))
