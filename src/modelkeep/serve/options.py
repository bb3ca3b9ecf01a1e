"""``modelkeep serve``'s settings, checked before anything is loaded."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.uris import parse_model_uri

__all__ = ["RUNTIMES", "ServeOptions"]

RUNTIMES = ("auto", "native", "onnx")


@dataclass(frozen=True)
class ServeOptions:
    """What to serve and how.

    Attributes:
        model_uri: ``models:/name@alias``, ``models:/name/3``, ``models:/name/latest`` or
            ``runs:/<run id>/<path>``.
        host, port, workers: where to listen; ``workers`` processes each load the model.
        runtime: ``auto`` (ONNX when it matches the native model), ``native`` or ``onnx``.
        max_batch_size: the most rows scored in one model call.
        max_batch_delay_ms: how long a batch waits for more requests under concurrent load.
        poll_interval_s: how often moving URIs (aliases, ``latest``) are checked.
        canary_uri, canary_weight: a second model and the share of requests it answers (the
            tag ``modelkeep.serve.canary_weight`` on the canary's registered model overrides
            the share; a canary following an alias that is not set yet starts pending).
        shadow_uri: a model that gets a copy of every request; its outputs are only logged.
        auth: require bearer tokens (the tracking server's tokens) on every route but the
            health probes.
        max_body_bytes: larger request bodies get 413.
        inference_log: append every prediction to the inference log.
        allow_code: allow packages that run code when loaded (python_function, pickle).
        tracking_uri: the store holding the models (default: the settings' store).
        rate_limit, burst: requests a second per client on the scoring routes, and the
            bucket size (default: the rate rounded up); see :mod:`modelkeep.serve.guard`.
        query_budget, query_budget_window_s: rows a client may have scored per window.
        labels_only: answer labels where probabilities are asked for.
        round_probabilities: round probabilities to this many decimals.
        detect_extraction, extraction_threshold: PRADA-style monitoring of each client's
            queries (:mod:`modelkeep.serve.prada`); flag below this Shapiro-Wilk W.
    """

    model_uri: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    runtime: str = "auto"
    max_batch_size: int = 64
    max_batch_delay_ms: float = 2.0
    poll_interval_s: float = 5.0
    canary_uri: str | None = None
    canary_weight: float = 0.1
    shadow_uri: str | None = None
    auth: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    inference_log: bool = True
    allow_code: bool = False
    tracking_uri: str | None = None
    rate_limit: float | None = None
    burst: int | None = None
    query_budget: int | None = None
    query_budget_window_s: float = 86_400.0
    labels_only: bool = False
    round_probabilities: int | None = None
    detect_extraction: bool = False
    extraction_threshold: float = 0.9

    def __post_init__(self) -> None:
        for field, uri in (
            ("model_uri", self.model_uri),
            ("canary", self.canary_uri),
            ("shadow", self.shadow_uri),
        ):
            if uri is not None:
                try:
                    parse_model_uri(uri)
                except InvalidInputError as exc:
                    raise InvalidInputError(f"{field}: {exc.message}", field=field) from None
        _check(self.runtime in RUNTIMES, "runtime", f"one of {', '.join(RUNTIMES)}")
        _check(1 <= self.port <= 65535, "port", "between 1 and 65535")
        _check(self.workers >= 1, "workers", "at least 1")
        _check(self.max_batch_size >= 1, "max_batch_size", "at least 1")
        _check(
            math.isfinite(self.max_batch_delay_ms) and self.max_batch_delay_ms >= 0,
            "max_batch_delay_ms",
            "0 or more",
        )
        _check(
            math.isfinite(self.poll_interval_s) and self.poll_interval_s > 0,
            "poll_interval_s",
            "above 0",
        )
        _check(0.0 <= self.canary_weight <= 1.0, "canary_weight", "between 0 and 1")
        _check(self.max_body_bytes >= 1024, "max_body_bytes", "at least 1024")
        self._check_guard()

    def _check_guard(self) -> None:
        rate = self.rate_limit
        _check(rate is None or (math.isfinite(rate) and rate > 0), "rate_limit", "above 0")
        _check(self.burst is None or self.burst >= 1, "burst", "at least 1")
        _check(self.burst is None or rate is not None, "burst", "given with rate_limit")
        _check(self.query_budget is None or self.query_budget >= 1, "query_budget", "at least 1")
        window = self.query_budget_window_s
        _check(math.isfinite(window) and window > 0, "query_budget_window_s", "above 0")
        digits = self.round_probabilities
        _check(digits is None or 0 <= digits <= 15, "round_probabilities", "between 0 and 15")
        threshold = self.extraction_threshold
        _check(0.0 < threshold < 1.0, "extraction_threshold", "between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (worker processes rebuild them from this)."""
        return asdict(self)


def _check(ok: bool, field: str, wanted: str) -> None:
    if not ok:
        raise InvalidInputError(f"{field}: must be {wanted}", field=field)
