"""Pipelines trained by ``modelkeep.train`` with outlier clipping and rare-category grouping are
served by onnxruntime (``modelkeep.serve.onnx_cleaning``), with the native model's outputs on
held-out rows holding outliers, rare and unseen categories and missing values; an even-sized
forest whose probabilities tie converts too (labels break ties as scikit-learn does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serve_support import client_for, settings_for
from skl2onnx import convert_sklearn
from starlette.testclient import TestClient

import modelkeep as mk
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.deployment import Deployment, load_deployment
from modelkeep.serve.onnx_cleaning import register_cleaning_converters
from modelkeep.serve.onnx_convert import (
    convert_estimator,
    input_types,
    make_session,
    validation_sample,
)
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.runtime import OnnxPredictor, prepare_predictor
from modelkeep.tracking import fluent
from modelkeep.train import train

CITIES = ["oslo", "rome", "lima", "kyiv"]  # kyiv: 3% of the rows, grouped by rare: 0.05
PLANS = ["basic", "plus", "pro", "legacy"]  # legacy: 2%
ATOL = 1e-5
# The forests here train unscaled: skl2onnx scales in float32 where scikit-learn scales in
# float64 and then rounds, so a scaled value can land on the other side of a tree threshold
# (verification then serves the model natively; nothing to do with the cleaning converters).


def _table(rows: int, seed: int) -> pd.DataFrame:
    """Customers with missing ages and cities, two age outliers, rare cities and plans, and a
    ``bought`` label that depends on age, city and plan."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "visits": rng.integers(0, 20, rows),
            "member": rng.random(rows) < 0.4,
            "city": rng.choice(CITIES, rows, p=[0.4, 0.3, 0.27, 0.03]),
            "plan": rng.choice(PLANS, rows, p=[0.5, 0.3, 0.18, 0.02]),
        }
    )
    frame.loc[::9, "age"] = np.nan
    frame.loc[::11, "city"] = None
    frame.loc[[5, 17], "age"] = [500.0, -300.0]
    older = frame["age"].fillna(40) > 40
    frame["bought"] = (older ^ (frame["city"] == "rome") ^ (frame["plan"] == "pro")).astype(int)
    return frame


def _held_out() -> pd.DataFrame:
    """Fresh rows, then rows made to test the cleaning: outliers far beyond the clip bounds,
    rare and unseen categories, and missing values in every column."""
    fresh = _table(120, seed=99).drop(columns="bought")
    made = pd.DataFrame(
        {
            "age": [1e6, -1e6, 35.0, np.nan, 52.0, 48.0, np.nan, 1e5],
            "visits": [3, 250, -40, 7, 1, 19, 0, 5],
            "member": [True, False, True, False, False, True, True, False],
            "city": ["oslo", "kyiv", "paris", None, "", "lima", "atlantis", "rome"],
            "plan": ["legacy", "pro", "basic", "enterprise", None, "plus", "legacy", "free"],
        }
    )
    return pd.concat([fresh, made], ignore_index=True)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A store under ``tmp_path`` that ``train`` logs into (the fluent API points at it)."""
    mk.set_tracking_uri(settings_for(tmp_path).resolved_tracking_uri())
    yield tmp_path
    fluent.reset()
    mk.set_tracking_uri(None)


def _train(home: Path, cleaning: dict[str, Any], model: dict[str, Any], **extra: Any) -> str:
    """Train and register ``shop`` (alias champion) on 400 rows; its models:/ URI."""
    path = home / "customers.parquet"
    _table(400, seed=3).to_parquet(path, index=False)
    result = train(
        {
            "task": "classification",
            "data": str(path),
            "target": "bought",
            "cleaning": cleaning,
            "model": model,
            "split": {"kind": "stratified_kfold", "n_splits": 2},
            "metrics": ["accuracy"],
            "seed": 1,
            "register": {"name": "shop", "alias": "champion"},
            **extra,
        }
    )
    assert result.version is not None
    return f"models:/shop/{result.version}"


def _deploy(home: Path, uri: str) -> Deployment:
    with client_for(settings_for(home)) as client:
        return load_deployment(client, uri, cache_dir=home / "onnx")


def _assert_same_as_native(deployment: Deployment, rows: pd.DataFrame) -> None:
    data = deployment.model.validate_input(rows)
    native = prepare_predictor(deployment.model, "native")
    labels, proba = deployment.predictor.predict_both(data)
    assert np.array_equal(labels, native.predict(data))
    assert np.abs(proba - native.predict_proba(data)).max() <= ATOL


def test_clipped_and_grouped_forest_is_served_by_onnx_like_native(home: Path) -> None:
    uri = _train(
        home,
        {"clip": "iqr", "rare": 0.05, "scale": "none"},
        {"family": "random_forest", "params": {"n_estimators": 15}},
    )
    deployment = _deploy(home, uri)
    assert deployment.runtime == "onnx", deployment.predictor.reason
    predictor = deployment.predictor
    assert isinstance(predictor, OnnxPredictor)
    # A null string reaches ONNX as "", a category like any other, where scikit-learn imputes:
    # verification found that, so rows with missing values are predicted natively.
    assert predictor.route_missing
    assert "rows with missing values go to the native model" in predictor.reason
    rows = _held_out()
    _assert_same_as_native(deployment, rows)
    complete = rows.dropna()
    complete = complete[complete["city"] != ""].reset_index(drop=True)
    assert len(complete) >= 80
    _assert_same_as_native(deployment, complete)  # every one of these ran in the graph


def test_onnx_clips_to_the_learned_bounds_and_groups_unseen_with_rare(home: Path) -> None:
    uri = _train(home, {"clip": "iqr", "rare": 0.05}, {"family": "logistic"})
    deployment = _deploy(home, uri)
    assert deployment.runtime == "onnx", deployment.predictor.reason
    pipeline = deployment.model.flavor_model.raw
    numeric = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    upper = float(numeric.named_steps["clip"].upper_[0])
    base = {"visits": 4, "member": False, "plan": "basic"}
    rows = pd.DataFrame(
        [
            {**base, "age": upper, "city": "oslo"},
            {**base, "age": 1e6, "city": "oslo"},
            {**base, "age": 30.0, "city": "kyiv"},
            {**base, "age": 30.0, "city": "paris"},
        ]
    )
    proba = deployment.predictor.predict_proba(deployment.model.validate_input(rows))
    assert np.abs(proba[0] - proba[1]).max() <= ATOL  # 1e6 is clipped to the upper bound
    assert np.array_equal(proba[2], proba[3])  # rare and unseen are both "__other__"
    _assert_same_as_native(deployment, rows)


def test_other_cleaning_options_convert_too(home: Path) -> None:
    cleaning = {
        "clip": {"method": "quantile", "low": 0.05, "high": 0.9},
        "rare": {"min_frequency": 20, "other": "RARE"},
        "impute": {"numeric": "constant", "fill_value": -1, "categorical": "constant"},
        "encode": "ordinal",
        "scale": "none",
        "drop_duplicates": True,
        "imbalance": "class_weight",
    }
    uri = _train(home, cleaning, {"family": "logistic", "params": {"max_iter": 500}})
    deployment = _deploy(home, uri)
    assert deployment.runtime == "onnx", deployment.predictor.reason
    _assert_same_as_native(deployment, _held_out())


def test_mean_imputation_without_clipping_or_rare_grouping(home: Path) -> None:
    uri = _train(
        home,
        {"impute": {"numeric": "mean"}, "scale": "none"},
        {"family": "random_forest", "params": {"n_estimators": 9, "max_depth": 4}},
        features=["age", "visits", "city"],
    )
    deployment = _deploy(home, uri)
    assert deployment.runtime == "onnx", deployment.predictor.reason
    _assert_same_as_native(deployment, _held_out()[["age", "visits", "city"]])


def test_serving_app_reports_onnx_and_answers_like_native(home: Path) -> None:
    uri = _train(home, {"clip": "iqr", "rare": 0.05}, {"family": "logistic"})
    rows = _held_out()
    data = json.loads(rows.to_json(orient="values"))  # NaN and None as null, as clients send
    body = {"dataframe_split": {"columns": list(rows.columns), "data": data}}
    settings = settings_for(home)
    with TestClient(create_serving_app(ServeOptions(uri, runtime="auto"), settings)) as client:
        runtime = client.get("/version").json()["primary"]["runtime"]
        labels = client.post("/invocations", json=body).json()["predictions"]
        proba = client.post("/invocations?output=proba", json=body).json()["predictions"]
    assert runtime == "onnx"
    native = mk.load_model(uri)
    assert labels == native.predict(rows).tolist()
    assert np.abs(np.asarray(proba) - native.predict_proba(rows)).max() <= ATOL


def test_graph_groups_empty_strings_as_scikit_learn_does(home: Path) -> None:
    """A literal "" is a category to scikit-learn (grouped, not imputed) and so to the graph,
    even with "" as the grouper's ``other`` value; checked on the graph alone, rows without
    nulls (rows with nulls are the runtime's to route)."""
    cleaning = {"rare": {"min_frequency": 0.05, "other": ""}, "encode": "ordinal"}
    uri = _train(home, cleaning, {"family": "logistic"})
    deployment = _deploy(home, uri)
    assert deployment.runtime == "onnx", deployment.predictor.reason
    model = deployment.model
    pipeline = model.flavor_model.raw
    assert model.signature is not None
    graph = convert_estimator(pipeline, input_types(model.signature, pipeline))
    rows = _held_out().dropna().reset_index(drop=True)
    rows.loc[:9, "city"] = ""
    rows.loc[5:14, "plan"] = ["", "kyiv", "legacy", "", "pro", "x", "", "plus", "", ""]
    bare = OnnxPredictor(make_session(graph), "", columns=tuple(rows.columns))
    data = model.validate_input(rows)
    assert np.array_equal(bare.predict(data), pipeline.predict(data))
    assert np.abs(bare.predict_proba(data) - pipeline.predict_proba(data)).max() <= ATOL


def test_even_sized_forest_with_tied_probabilities_is_served_by_onnx(home: Path) -> None:
    uri = _train(
        home,
        {"clip": "iqr", "rare": 0.05, "scale": "none"},
        {"family": "random_forest", "params": {"n_estimators": 20}},
    )
    deployment = _deploy(home, uri)
    model = deployment.model
    pipeline = model.flavor_model.raw
    sample = validation_sample(model).complete
    native_proba = pipeline.predict_proba(sample)
    tied = native_proba[:, 0] == native_proba[:, 1]
    assert tied.any()  # 10 trees against 10 on some validation rows
    # skl2onnx's own label output breaks some of those ties the other way...
    register_cleaning_converters()
    assert model.signature is not None
    types = input_types(model.signature, pipeline)
    options = {id(pipeline): {"zipmap": False}}
    graph = convert_sklearn(pipeline, initial_types=types, options=options)
    columns = tuple(sample.columns)
    plain = OnnxPredictor(make_session(graph.SerializeToString()), "", columns=columns)
    differs = plain.predict(sample).astype(int) != pipeline.predict(sample)
    assert differs.any() and tied[differs].all()
    # ...serving's conversion picks the first class, as scikit-learn does.
    assert deployment.runtime == "onnx", deployment.predictor.reason
    assert np.array_equal(deployment.predictor.predict(sample), pipeline.predict(sample))
    _assert_same_as_native(deployment, _held_out())
