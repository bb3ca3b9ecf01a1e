"""The issue's end-to-end promise: generated data with missing values, duplicates, outliers and
a leaking column gets each problem flagged, and the cleaned pipeline trains and then serves rows
with missing values (in integer and text columns too) and categories it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import modelkeep as mk
from modelkeep.data import profile
from modelkeep.train import train


def _messy(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50, 12, rows),
            "city": rng.choice(["oslo", "bergen", "tromso"], rows),
        }
    )
    frame["bought"] = ((frame["income"] > 50) ^ (frame["city"] == "oslo")).astype(int)
    frame["leak"] = frame["bought"] * 10 + rng.normal(0, 0.01, rows)  # the answer, disguised
    frame["age"] = frame["age"].astype("Int64")
    frame.loc[::11, "age"] = pd.NA
    frame.loc[::13, "city"] = None
    frame.loc[3, "income"] = 1e7  # an outlier
    return pd.concat([frame, frame.iloc[:15]], ignore_index=True)  # duplicates


def test_problems_are_flagged_then_the_cleaned_pipeline_trains_and_serves(
    tracking_uri: str, tmp_path: Path
) -> None:
    frame = _messy()
    kinds = {(p.kind, p.column) for p in profile(frame, target="bought").problems}
    assert {("missing_values", "age"), ("missing_values", "city")} <= kinds
    assert ("duplicates", None) in kinds
    assert ("target_leakage", "leak") in kinds

    frame.to_csv(tmp_path / "messy.csv", index=False)
    result = train(
        {
            "task": "classification",
            "data": str(tmp_path / "messy.csv"),
            "target": "bought",
            "features": ["age", "income", "city"],
            "cleaning": {"clip": "quantile", "rare": 0.02, "drop_duplicates": True},
            "model": {"family": "random_forest", "params": {"n_estimators": 20}},
            "split": {"kind": "stratified_kfold", "n_splits": 3},
            "metrics": ["roc_auc", "accuracy"],
            "seed": 1,
        }
    )
    assert result.metrics["test_roc_auc"] > 0.8

    model = mk.load_model(result.model_uri)
    rows = pd.DataFrame({"age": [None, 40], "income": [np.nan, 61.0], "city": [None, "stavanger"]})
    assert np.asarray(model.predict(rows)).shape == (2,)
    assert np.asarray(model.predict_proba(rows)).shape == (2, 2)
