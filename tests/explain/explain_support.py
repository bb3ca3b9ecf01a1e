"""Shared set-up of the explainability tests: synthetic data with a known structure, models
trained through ``modelkeep.train`` and hand-built pipelines, all registered in one store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.config import Settings
from modelkeep.data.cleaning import build_preprocessor
from modelkeep.registry.flavors.pyfunc import PythonModel
from modelkeep.tracking import Client

FEATURES = ["signal", "weak", "noise", "plan"]


def make_rows(n: int, seed: int) -> pd.DataFrame:
    """``signal`` drives every target, ``weak`` and ``plan`` a little, ``noise`` not at all.

    Targets: ``y`` (binary), ``y3`` (three classes), ``yr`` (regression).
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "weak": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "plan": rng.choice(["a", "b", "c"], n),
        }
    )
    score = 2.0 * frame["signal"] + 0.5 * frame["weak"] + (frame["plan"] == "a")
    frame["y"] = (score > 0.3).astype(int)
    frame["y3"] = np.digitize(score, [-1.0, 1.0])
    frame["yr"] = 3.0 * frame["signal"] + 0.5 * frame["weak"] + (frame["plan"] == "a") * 1.0
    return frame


def settings_for(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


def train_registered(
    home: Path, name: str, family: str, task: str, target: str, params: dict[str, Any]
) -> str:
    """Train through ``modelkeep.train.train`` on the CSV in ``home`` and register; the URI."""
    from modelkeep.train import train

    train(
        {
            "task": task,
            "data": str(home / "rows.csv"),
            "target": target,
            "features": FEATURES,
            "model": {"family": family, "params": params},
            "split": {"kind": "holdout"},
            "metrics": ["r2"] if task == "regression" else ["accuracy"],
            "seed": 0,
            "register": {"name": name},
        }
    )
    return f"models:/{name}/1"


def register_pipeline(
    client: Client, name: str, estimator: Any, frame: pd.DataFrame, target: str
) -> str:
    """Fit ``house preprocessing + estimator`` on ``frame`` and register it; the URI."""
    from sklearn.pipeline import Pipeline

    X = frame[FEATURES]
    pipeline = Pipeline(
        [("preprocess", build_preprocessor({}, X, None)), ("model", estimator)]
    ).fit(X, frame[target])
    return register_object(client, name, pipeline, X)


def register_object(client: Client, name: str, model: Any, X: pd.DataFrame) -> str:
    run = client.create_run(client.get_or_create_experiment("explain-tests").id)
    info = client.log_model(run.id, model, "model", input_example=X.head(5))
    client.set_terminated(run.id)
    version = client.register_model(info.uri, name).version
    return f"models:/{name}/{version}"


class AdditiveScore(PythonModel):
    """A python-function regressor: ``2 * signal + weak + (plan == "a")``; ignores ``noise``."""

    def predict(self, data: Any) -> Any:
        return (
            2.0 * data["signal"].to_numpy(dtype=float)
            + data["weak"].to_numpy(dtype=float)
            + (data["plan"] == "a").to_numpy(dtype=float)
        )


class SignalClassifier(PythonModel):
    """A python-function classifier: P(1) = sigmoid(3 * signal); ignores the other columns."""

    def predict(self, data: Any) -> Any:
        return (self.predict_proba(data)[:, 1] > 0.5).astype(int)

    def predict_proba(self, data: Any) -> Any:
        positive = 1.0 / (1.0 + np.exp(-3.0 * data["signal"].to_numpy(dtype=float)))
        return np.column_stack([1.0 - positive, positive])
