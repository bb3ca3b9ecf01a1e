"""Shared helpers of the serving tests: a store with registered models, and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from modelkeep.config import Settings
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client


def cancer() -> tuple[pd.DataFrame, pd.Series[Any]]:
    frame = load_breast_cancer(as_frame=True).frame
    return frame.drop(columns=["target"]), frame["target"]


def register_forest(
    client: Client, name: str, *, seed: int = 0, trees: int = 5, alias: str | None = "champion"
) -> tuple[int, RandomForestClassifier]:
    """Train a small forest on breast_cancer, log and register it; (version, model)."""
    X, y = cancer()
    model = RandomForestClassifier(n_estimators=trees, random_state=seed).fit(X, y)
    experiment = client.get_or_create_experiment("serving-tests")
    run = client.create_run(experiment.id, run_name=f"{name}-{seed}")
    info = client.log_model(run.id, model, "model", input_example=X.head(5))
    client.set_terminated(run.id)
    version = int(client.register_model(info.uri, name).version)
    if alias is not None:
        client.set_alias(name, alias, version)
    return version, model


def register_regressor(client: Client, name: str) -> tuple[int, LinearRegression]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    model = LinearRegression().fit(X, 2 * X["a"] - X["b"])
    experiment = client.get_or_create_experiment("serving-tests")
    run = client.create_run(experiment.id, run_name=name)
    info = client.log_model(run.id, model, "model", input_example=X.head(3))
    client.set_terminated(run.id)
    version = int(client.register_model(info.uri, name).version)
    client.set_alias(name, "champion", version)
    return version, model


def split_body(rows: pd.DataFrame) -> dict[str, Any]:
    return {
        "dataframe_split": {
            "columns": [str(c) for c in rows.columns],
            "data": rows.to_numpy().tolist(),
        }
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(options: ServeOptions, settings: Settings) -> Iterator[str]:
    """A real uvicorn server on loopback in a thread; yields its base URL."""
    port = free_port()
    app = create_serving_app(ServeOptions(**{**options.to_dict(), "port": port}), settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def settings_for(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


def client_for(settings: Settings) -> Client:
    return Client(settings.resolved_tracking_uri(), settings=settings)
