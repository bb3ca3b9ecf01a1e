"""The quickstart's live parts: the inference server, the traffic it answers, the alert hook.

:class:`LiveServer` runs the inference server (:mod:`modelkeep.serve`) in a thread of this
process on a free loopback port, exactly as ``modelkeep serve`` would run it. :class:`Traffic`
sends rows to it as ``/invocations`` requests with request ids and their labels later through
``/feedback``, counting every answer that is not a 200. :class:`CanaryTraffic` keeps sending
from a background thread while a canary rollout is judged, so every canary step sees requests
and labels. :class:`AlertReceiver` is a tiny local webhook endpoint (``http.server``) that
keeps the alerts posted to it.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pandas as pd

from modelkeep.config import Settings
from modelkeep.exceptions import StoreError
from modelkeep.serve.options import ServeOptions

__all__ = ["AlertReceiver", "CanaryTraffic", "LiveServer", "Traffic", "TrafficCounts"]

Label = tuple[str, int]
"""A row's request id and its true label, sent later through ``/feedback``."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The inference server in a thread, from ``with`` until the block ends."""

    def __init__(self, options: ServeOptions, settings: Settings) -> None:
        import uvicorn

        from modelkeep.serve.app import create_serving_app

        self.url = f"http://127.0.0.1:{options.port}"
        self.app = create_serving_app(options, settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=options.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="quickstart-serve")
        self._thread.daemon = True

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise StoreError("the quickstart's inference server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Finish queued requests, flush the inference log and stop."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def flush_log(self) -> None:
        """Write the inference log's queued rows now (monitoring reads the files)."""
        serving = getattr(self.app.state, "serving", None)
        log = getattr(serving, "log", None)
        if log is not None:
            log.flush()

    def version(self) -> dict[str, Any]:
        """``GET /version``: the versions served and each variant's live counts."""
        answer = httpx.get(f"{self.url}/version", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def wait_for(self, ready: Callable[[dict[str, Any]], bool], timeout_s: float) -> bool:
        """Poll ``/version`` until ``ready`` says yes (True) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready(self.version()):
                return True
            time.sleep(0.05)
        return False


@dataclass
class TrafficCounts:
    """Requests sent and answers that were not 200, by route (shared between threads)."""

    predictions: int = 0
    failed_predictions: int = 0
    feedback: int = 0
    failed_feedback: int = 0
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def failed(self) -> int:
        """Every answer that was not a 200."""
        return self.failed_predictions + self.failed_feedback

    def count(self, route: str, status: int, detail: str = "") -> None:
        with self._lock:
            if route == "feedback":
                self.feedback += 1
                self.failed_feedback += status != 200
            else:
                self.predictions += 1
                self.failed_predictions += status != 200
            if status != 200 and len(self.failures) < 20:
                self.failures.append(f"{route} {status}: {detail[:200]}")


class Traffic:
    """Sends rows to the server in requests of ``rows_per_request`` rows and their labels to
    ``/feedback`` later; every answer is counted in ``counts``."""

    def __init__(
        self, url: str, counts: TrafficCounts, features: list[str], target: str,
        rows_per_request: int = 5,
    ) -> None:  # fmt: skip
        self._http = httpx.Client(base_url=url, timeout=30)
        self.counts = counts
        self.features = features
        self.target = target
        self.rows_per_request = rows_per_request

    def close(self) -> None:
        self._http.close()

    def predict(self, rows: pd.DataFrame, request_id: str) -> list[Label]:
        """One request; returns each row's id (as the inference log records it) and label."""
        # to_dict gives Python numbers (JSON-ready), not numpy scalars; NaN is sent as null.
        split = rows[self.features].to_dict(orient="split")["data"]
        data = [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
                for row in split]  # fmt: skip
        body = {"dataframe_split": {"columns": self.features, "data": data}}
        try:
            answer = self._http.post(
                "/invocations", json=body, headers={"x-request-id": request_id}
            )
            self.counts.count("invocations", answer.status_code, answer.text)
        except httpx.HTTPError as exc:
            self.counts.count("invocations", 0, str(exc))
        labels = [int(v) for v in rows[self.target]]
        if len(labels) == 1:
            return [(request_id, labels[0])]
        return [(f"{request_id}/{i}", label) for i, label in enumerate(labels)]

    def feedback(self, labels: list[Label]) -> None:
        """Send the labels of earlier requests through ``/feedback``."""
        if not labels:
            return
        body = [{"request_id": rid, "label": label} for rid, label in labels]
        try:
            answer = self._http.post("/feedback", json=body)
            self.counts.count("feedback", answer.status_code, answer.text)
        except httpx.HTTPError as exc:
            self.counts.count("feedback", 0, str(exc))

    def requests(
        self, rows: pd.DataFrame, prefix: str, rows_per_request: int | None = None
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        """The rows cut into requests, each with its request id."""
        step = rows_per_request or self.rows_per_request
        for index, start in enumerate(range(0, len(rows), step)):
            yield f"{prefix}-{index}", rows.iloc[start : start + step]

    def send(
        self, rows: pd.DataFrame, prefix: str, *, rows_per_request: int | None = None,
        label_delay: int = 3,
    ) -> int:  # fmt: skip
        """Send every row; the labels of a request follow ``label_delay`` requests later
        (delayed, as labels are in production). Returns the requests sent."""
        waiting: list[list[Label]] = []
        sent = 0
        for request_id, chunk in self.requests(rows, prefix, rows_per_request):
            waiting.append(self.predict(chunk, request_id))
            sent += 1
            if len(waiting) > label_delay:
                self.feedback(waiting.pop(0))
        for labels in waiting:
            self.feedback(labels)
        return sent


class CanaryTraffic:
    """Background traffic during a canary rollout.

    Sends bursts of requests (burst ``n`` holds the rows ``make_rows(n)``) from the moment the
    server routes to a canary (weight above 0) until :meth:`stop`; each burst's labels follow
    with the next burst. Request ids start with ``rollout-``.
    """

    def __init__(
        self, traffic: Traffic, server: LiveServer, make_rows: Callable[[int], pd.DataFrame]
    ) -> None:
        self._traffic = traffic
        self._server = server
        self._make_rows = make_rows
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quickstart-canary-traffic")
        self._thread.daemon = True
        self.requests = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sending (labels still owed are sent first)."""
        self._stop.set()
        self._thread.join(timeout=120)

    def _canary_live(self) -> bool:
        canary = self._server.version().get("variants", {}).get("canary") or {}
        return not canary.get("pending", True) and float(canary.get("weight", 0.0)) > 0

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - reported by the caller after stop()
            self.error = exc

    def _loop(self) -> None:
        owed: list[Label] = []
        started = False
        burst = 0
        while not self._stop.is_set():
            started = started or self._canary_live()
            if not started:
                time.sleep(0.1)
                continue
            rows = self._make_rows(burst)
            labels: list[Label] = []
            for request_id, chunk in self._traffic.requests(rows, f"rollout-{burst}"):
                labels += self._traffic.predict(chunk, request_id)
                self.requests += 1
            self._traffic.feedback(owed)
            owed, burst = labels, burst + 1
        self._traffic.feedback(owed)


class AlertReceiver:
    """A webhook endpoint on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    received.append(json.loads(self.rfile.read(length) or b"{}"))
                except json.JSONDecodeError:
                    received.append({"unreadable": True})
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # no request lines on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-hook")
        self._thread.daemon = True

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
