"""The quickstart's serving step: the champion behind a real inference server, scored over HTTP.

The server (:mod:`modelkeep.serve`) runs in a thread of this process on a free loopback port,
exactly as ``modelkeep serve`` would run it; the validation rows are sent one request per row
(concurrently, so the micro-batcher has something to coalesce), every prediction lands in the
inference log, and the server is stopped again.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelkeep.config import Settings
from modelkeep.exceptions import StoreError

__all__ = ["Served", "serve_and_score"]


@dataclass(frozen=True)
class Served:
    """What the served champion did: its accuracy over HTTP, version, runtime, requests."""

    accuracy: float
    version: str
    runtime: str
    requests: int
    logged: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_and_score(settings: Settings, model_uri: str, features: Any, labels: Any) -> Served:
    """Serve ``model_uri``, send every row of ``features``, and compare with ``labels``.

    Raises:
        StoreError: the server did not start within a minute.
    """
    import httpx
    import uvicorn

    from modelkeep.serve.app import create_serving_app
    from modelkeep.serve.inference_log import read_inference_log
    from modelkeep.serve.options import ServeOptions

    started_ms = int(time.time() * 1000)
    port = _free_port()
    options = ServeOptions(model_uri, port=port, tracking_uri=settings.resolved_tracking_uri())
    app = create_serving_app(options, settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="quickstart-serve", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as http:
            predictions = _score_rows(http, features)
            described = http.get("/version").json()["primary"]
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    name = model_uri.removeprefix("models:/").split("@")[0]
    logged = read_inference_log(settings.home / "inference", name, since_ms=started_ms)
    correct = sum(int(p == int(y)) for p, y in zip(predictions, labels, strict=True))
    return Served(
        correct / len(predictions),
        str(described["version"]),
        str(described["runtime"]),
        len(predictions),
        len(logged),
    )


def _wait_started(server: Any, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise StoreError("the quickstart's inference server did not start")
        time.sleep(0.02)


def _score_rows(http: Any, features: Any) -> list[Any]:
    columns = [str(c) for c in features.columns]
    rows = features.to_numpy().tolist()

    def ask(row: list[float]) -> Any:
        body = {"dataframe_split": {"columns": columns, "data": [row]}}
        answer = http.post("/invocations", json=body)
        answer.raise_for_status()
        return answer.json()["predictions"][0]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(ask, rows))
