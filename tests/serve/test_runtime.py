"""The serving runtime: ONNX conversions verified against the native model, or a fallback."""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.loaded import LoadedModel
from modelkeep.registry.package import load_package, save_package
from modelkeep.serve.onnx_convert import SAMPLE_ROWS, cache_path, validation_sample
from modelkeep.serve.runtime import OnnxPredictor, prepare_predictor

Package = Callable[..., LoadedModel]


@pytest.fixture
def package(tmp_path: Path) -> Package:
    """Save a model as a package (with its input example) and load it back."""
    count = iter(range(100))

    def make(model: Any, example: Any = None) -> LoadedModel:
        directory = tmp_path / f"pkg{next(count)}"
        save_package(model, directory, input_example=example)
        return load_package(directory)

    return make


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, Any]:
    features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
    return features, labels


@pytest.fixture(scope="module")
def forest(cancer: tuple[pd.DataFrame, Any]) -> RandomForestClassifier:
    features, labels = cancer
    return RandomForestClassifier(n_estimators=100, random_state=0).fit(features, labels)


def _mixed(rows: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "visits": rng.integers(0, 20, rows),
            "city": rng.choice(["oslo", "rome", "lima"], rows),
        }
    )
    frame.loc[::7, "age"] = np.nan
    late = (frame["age"].fillna(40) > 40) ^ (frame["city"] == "rome")
    return frame, np.where(late, "churn", "stay")


def _mixed_pipeline(city: Any) -> Pipeline:
    numbers = make_pipeline(SimpleImputer(), StandardScaler())
    prep = ColumnTransformer([("num", numbers, ["age", "visits"]), ("cat", city, ["city"])])
    return Pipeline([("prep", prep), ("clf", LogisticRegression())])


# ---- ONNX chosen ------------------------------------------------------------------------------


def test_random_forest_is_served_by_onnx_with_native_outputs(
    package: Package, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, Any]
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    predictor = prepare_predictor(model, "auto")
    assert predictor.name == "onnx"
    assert f"matched the native model on {5 + SAMPLE_ROWS} rows" in predictor.reason
    assert predictor.has_proba
    data = model.validate_input(features)
    labels = predictor.predict(data)
    assert labels.dtype == forest.predict(features).dtype
    assert np.array_equal(labels, forest.predict(features))
    proba = predictor.predict_proba(data)
    assert proba.dtype == np.float64
    assert np.abs(proba - forest.predict_proba(features)).max() <= 1e-5


def test_rows_with_missing_values_go_to_the_native_model(
    package: Package, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, Any]
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    predictor = prepare_predictor(model, "auto")
    assert isinstance(predictor, OnnxPredictor)
    assert "rows with missing values go to the native model" in predictor.reason
    holes = features.head(60).copy()
    holes.iloc[::3, [0, 7, 20, 27]] = np.nan
    data = model.validate_input(holes)
    native = forest.predict_proba(holes)
    assert np.abs(predictor.predict_proba(data) - native).max() <= 1e-5
    assert np.array_equal(predictor.predict(data), forest.predict(holes))
    # Without the routing the graph's own answers differ: what verification caught.
    unrouted = copy.copy(predictor)
    unrouted.route_missing = False
    assert np.abs(unrouted.predict_proba(data) - native).max() > 1e-5


def test_pipeline_with_imputation_and_one_hot_gets_one_input_per_column(
    package: Package,
) -> None:
    frame, labels = _mixed()
    pipeline = _mixed_pipeline(OneHotEncoder(handle_unknown="ignore")).fit(frame, labels)
    example = frame.head(8).copy()
    example.loc[1, "city"] = None
    model = package(pipeline, example)
    predictor = prepare_predictor(model, "onnx")
    assert predictor.name == "onnx", predictor.reason
    assert isinstance(predictor, OnnxPredictor)
    assert [node.name for node in predictor._session.get_inputs()] == ["age", "visits", "city"]
    rows = frame.head(40).astype(object)
    rows.loc[3, "city"] = None
    data = model.validate_input(rows)
    assert list(predictor.predict(data)) == list(pipeline.predict(data))
    proba = predictor.predict_proba(data)
    assert np.abs(proba - pipeline.predict_proba(data)).max() <= 1e-5


def test_regressor_values_match_within_tolerance(package: Package) -> None:
    rng = np.random.default_rng(2)
    features = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    target = features["a"] * 3 + features["b"] ** 2
    regressor = RandomForestRegressor(n_estimators=20, random_state=0).fit(features, target)
    model = package(regressor, features.head(3))
    predictor = prepare_predictor(model, "auto")
    assert predictor.name == "onnx", predictor.reason
    assert not predictor.has_proba
    values = predictor.predict(model.validate_input(features))
    expected = regressor.predict(features)
    assert values.shape == expected.shape
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidInputError) as caught:
        predictor.predict_proba(model.validate_input(features))
    assert caught.value.field == "method"


def test_tensor_model_is_converted(package: Package) -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 6))
    labels = (features[:, 0] > features[:, 1]).astype(int)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, labels)
    model = package(forest, features[:4])
    assert model.signature is not None and model.signature.input_kind == "tensor"
    predictor = prepare_predictor(model, "onnx")
    data = model.validate_input(features)
    assert np.array_equal(predictor.predict(data), forest.predict(features))


def test_onnx_package_is_served_by_its_own_graph(package: Package) -> None:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(100, 3)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(int)
    logistic = LogisticRegression().fit(features, labels)
    graph = to_onnx(logistic, features[:1], options={id(logistic): {"zipmap": False}})
    model = package(graph, features[:5])
    predictor = prepare_predictor(model, "onnx")
    assert predictor.name == "onnx"
    assert "ONNX model" in predictor.reason
    assert np.array_equal(predictor.predict(features), model.predict(features))
    assert np.array_equal(predictor.predict_proba(features), model.predict_proba(features))


# ---- native, and why ----------------------------------------------------------------------------


def test_native_runtime_uses_the_flavor_model(
    package: Package, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, Any]
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    predictor = prepare_predictor(model, "native")
    assert (predictor.name, predictor.reason) == ("native", "the native runtime was asked for")
    data = model.validate_input(features.head(50))
    assert np.array_equal(predictor.predict_proba(data), forest.predict_proba(features.head(50)))


def test_hist_gradient_boosting_falls_back_with_the_converter_error(
    package: Package, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(5)
    features = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    boosted = HistGradientBoostingClassifier(max_iter=5).fit(features, features["a"] > 0)
    model = package(boosted, features.head(3))
    with caplog.at_level(logging.WARNING, logger="modelkeep.serve"):
        predictor = prepare_predictor(model, "auto")
    assert predictor.name == "native"
    assert "cannot convert this HistGradientBoostingClassifier" in predictor.reason
    assert "skl2onnx 1.20" in predictor.reason
    assert [record.getMessage() for record in caplog.records] == [
        f"{model.path} is served natively: {predictor.reason}"
    ]
    data = model.validate_input(features)
    assert np.array_equal(predictor.predict(data), boosted.predict(features))
    with pytest.raises(InvalidInputError) as caught:
        prepare_predictor(model, "onnx")
    assert caught.value.field == "runtime"
    assert "HistGradientBoostingClassifier" in caught.value.message


def test_string_imputer_falls_back_with_the_converter_reason(package: Package) -> None:
    frame, labels = _mixed()
    city = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    pipeline = _mixed_pipeline(city).fit(frame, labels)
    predictor = prepare_predictor(package(pipeline, frame.head(5)), "auto")
    assert predictor.name == "native"
    assert "cannot convert this Pipeline" in predictor.reason
    assert "missing values are string" in predictor.reason


def test_lossy_conversion_falls_back_naming_the_mismatch(package: Package) -> None:
    # float32 cannot tell 1e8 + 0.3 from 1e8 - 0.3: the scaled features collapse in ONNX.
    rng = np.random.default_rng(6)
    features = pd.DataFrame(1e8 + rng.normal(size=(400, 2)), columns=["a", "b"])
    labels = (features["a"] > 1e8).astype(int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)
    model = package(pipeline, features.head(10))
    predictor = prepare_predictor(model, "auto")
    assert predictor.name == "native"
    assert predictor.reason.startswith("the ONNX graph does not match the native model: ONNX ")
    assert "differ on" in predictor.reason
    with pytest.raises(InvalidInputError) as caught:
        prepare_predictor(model, "onnx")
    assert caught.value.field == "runtime"


def test_lightgbm_falls_back_because_onnxmltools_is_missing(package: Package) -> None:
    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    booster = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1)
    booster.fit(features, features["a"] > 0)
    predictor = prepare_predictor(package(booster, features.head(3)), "auto")
    assert predictor.name == "native"
    assert predictor.reason == (
        "converting LightGBM models to ONNX needs onnxmltools, which is not installed"
    )


def test_missing_converter_falls_back_naming_the_extra(
    package: Package,
    forest: RandomForestClassifier,
    cancer: tuple[pd.DataFrame, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # what an absent package looks like
    predictor = prepare_predictor(model, "auto")
    assert predictor.name == "native"
    assert predictor.reason == "skl2onnx is not installed (pip install 'modelkeep[onnx]')"


def test_package_without_input_example_falls_back(
    package: Package, forest: RandomForestClassifier
) -> None:
    predictor = prepare_predictor(package(forest), "auto")
    assert predictor.name == "native"
    assert "no input example" in predictor.reason


def test_unknown_runtime_is_refused(package: Package, forest: RandomForestClassifier) -> None:
    with pytest.raises(InvalidInputError) as caught:
        prepare_predictor(package(forest), "tensorrt")
    assert caught.value.field == "runtime"


# ---- the validation sample and the cache --------------------------------------------------------


def test_validation_sample_is_seeded_and_spreads_beyond_the_example(
    package: Package, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, Any]
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    first, second = validation_sample(model), validation_sample(model)
    assert len(first) == 5 + SAMPLE_ROWS
    pd.testing.assert_frame_equal(first.complete, second.complete)
    assert not first.complete.isna().any().any()
    assert first.with_nulls is not None and first.with_nulls.isna().any(axis=1).all()
    column = first.complete["mean radius"]
    example = features["mean radius"].head(5)
    assert column.min() < example.min() and column.max() > example.max()


def test_conversion_is_cached_and_the_cache_reused(
    package: Package, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, Any]
) -> None:
    features, _ = cancer
    model = package(forest, features.head(5))
    cache = model.path.parent / "cache"
    prepare_predictor(model, "onnx", cache_dir=cache)
    path = cache_path(cache, model.root_digest)
    assert [file.name for file in cache.iterdir()] == [path.name]
    assert path.name.startswith(f"{model.root_digest}-")
    again = prepare_predictor(model, "onnx", cache_dir=cache)
    assert again.reason.endswith("the converted graph came from the cache")
    data = model.validate_input(features)
    assert np.array_equal(again.predict(data), forest.predict(features))


@pytest.mark.parametrize("tamper", ["other model", "garbage"])
def test_changed_cache_file_is_rebuilt_not_trusted(
    package: Package,
    forest: RandomForestClassifier,
    cancer: tuple[pd.DataFrame, Any],
    tamper: str,
) -> None:
    features, labels = cancer
    model = package(forest, features.head(5))
    cache = model.path.parent / "cache"
    prepare_predictor(model, "onnx", cache_dir=cache)
    path = cache_path(cache, model.root_digest)
    good = path.read_bytes()
    if tamper == "garbage":
        path.write_bytes(good[: len(good) // 2])
    else:
        other = RandomForestClassifier(n_estimators=5, random_state=1).fit(features, labels)
        other_model = package(other, features.head(5))
        prepare_predictor(other_model, "onnx", cache_dir=cache)
        path.write_bytes(cache_path(cache, other_model.root_digest).read_bytes())
    tampered = path.read_bytes()
    rebuilt = prepare_predictor(model, "onnx", cache_dir=cache)
    assert "the cached graph failed verification and was converted again" in rebuilt.reason
    assert path.read_bytes() not in (tampered, b"")
    reused = prepare_predictor(model, "onnx", cache_dir=cache)
    assert reused.reason.endswith("the converted graph came from the cache")
    data = model.validate_input(features)
    assert np.array_equal(rebuilt.predict(data), forest.predict(features))
