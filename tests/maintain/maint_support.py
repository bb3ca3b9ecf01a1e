"""Shared set-up of the maintenance tests: a champion trained on an old concept, served
in-process, production traffic with covariate and concept shift and its labels, a monitoring
window; policies built from a dict with overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.maintain.policy import load_policy
from modelkeep.monitor.runner import run_monitor
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client
from modelkeep.train import train

FEATURES = ["f0", "f1", "f2", "plan"]


def make_rows(n: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    """Old concept: y = f0 + 0.5 f1 > 0 (plan a pushes up). Shifted: f0 moved up by 3 and a
    new concept in that region, y = f1 < f0 - 3."""
    rng = np.random.default_rng(seed)
    f0 = rng.normal(3.0 if shifted else 0.0, 1.0, n)
    f1, f2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    plan = rng.choice(["a", "b", "c"], n)
    if shifted:
        y = (f1 < f0 - 3).astype(int)
    else:
        y = (f0 + 0.5 * f1 + 0.5 * (plan == "a") > 0.25).astype(int)
    return pd.DataFrame({"f0": f0, "f1": f1, "f2": f2, "plan": plan, "churned": y})


def _settings(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


def build_world(home: Path, *, shifted_labels: bool = True, rows: int = 400) -> Settings:
    """Train v1 (champion) on the old concept, serve it, send ``rows`` shifted production
    rows in batches with their labels, and monitor the window."""
    import modelkeep as mk

    settings = _settings(home)
    make_rows(1200, 0, shifted=False).to_csv(home / "churn.csv", index=False)
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        train({"task": "classification", "data": str(home / "churn.csv"), "target": "churned",
               "model": {"family": "random_forest",
                         "params": {"n_estimators": 30, "min_samples_leaf": 3}},
               "metrics": ["accuracy"], "seed": 0,
               "register": {"name": "churn", "alias": "champion"}})  # fmt: skip
    finally:
        mk.set_tracking_uri(None)
    production = make_rows(rows, 1, shifted=True)
    if not shifted_labels:
        production["churned"] = np.random.default_rng(2).integers(0, 2, rows)
    send(settings, production)
    run_monitor("models:/churn@champion", "1h", settings=settings, rules="rules: []")
    return settings


def send(settings: Settings, rows: pd.DataFrame, batch: int = 50) -> None:
    options = ServeOptions("models:/churn@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as server:
        for start in range(0, len(rows), batch):
            chunk = rows.iloc[start : start + batch]
            body = {"dataframe_split": {"columns": FEATURES,
                                        "data": chunk[FEATURES].to_numpy().tolist()}}  # fmt: skip
            rid = f"b{start}"
            answer = server.post("/invocations", json=body, headers={"x-request-id": rid})
            assert answer.status_code == 200, answer.text
            feedback = [{"request_id": f"{rid}/{i}", "label": int(label)}
                        for i, label in enumerate(chunk["churned"])]  # fmt: skip
            assert server.post("/feedback", json=feedback).status_code == 200


def policy(**overrides: Any) -> Any:
    document: dict[str, Any] = {
        "model": "churn",
        "triggers": [{"kind": "drift_share", "above": 0.1}],
        "retrain": {"window": "1d", "weight": 3, "holdout": 0.3, "min_rows": 50},
        "evaluation": {"metric": "accuracy", "slices": ["plan"], "bootstrap": 300},
        "gates": {"latency_ratio": 50.0, "slice_tolerance": 0.2},
        "rollout": {"mode": "direct"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return load_policy(document)


def aliases(settings: Settings) -> dict[str, int]:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        return dict(client.get_registered_model("churn").aliases)
