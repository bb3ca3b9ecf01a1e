"""Models with matrix weights: ONNX conversion and int8 quantisation, and their fidelity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from compress_support import (
    FAST_CALLS,
    classification_table,
    features,
    register,
    regression_table,
    store_settings,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkeep.compress import compress
from modelkeep.compress.quantize import has_matrix_weights


def test_quantised_logistic_regression_keeps_its_labels(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(400, seed=3, features=20)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(features(train, "label"), train["label"])
    uri = register(settings, model, features(train, "label"), "logistic")
    data = classification_table(400, seed=4, features=20)
    result = compress(
        uri, data, "label", register=False, single_row_calls=FAST_CALLS, settings=settings
    )
    table = result.variants.set_index("variant")
    assert list(table.index) == ["original", "onnx", "onnx_int8"]
    assert table.loc["onnx_int8", "family"] == "quantized"
    assert table.loc["onnx", "fidelity"] == 1.0
    assert 0.97 <= table.loc["onnx_int8", "fidelity"] <= 1.0
    assert abs(table.loc["onnx_int8", "metric_drop"]) <= 0.02
    graph = result.variant("onnx_int8").model
    assert has_matrix_weights(graph) is False  # the float MatMul became an integer one
    assert any(node.op_type == "MatMulInteger" for node in graph.graph.node)


def test_quantised_linear_regression_fidelity_is_r2_to_the_original(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = regression_table(300, seed=5)
    model = LinearRegression().fit(features(train, "value"), train["value"])
    uri = register(settings, model, features(train, "value"), "linear")
    data = regression_table(300, seed=6)
    result = compress(
        uri, data, "value", register=False, single_row_calls=FAST_CALLS, settings=settings
    )
    table = result.variants.set_index("variant")
    assert result.metric == "rmse"
    assert table.loc["onnx", "fidelity"] > 0.999999
    assert 0.99 < table.loc["onnx_int8", "fidelity"] < 1.0
    quantised = result.variant("onnx_int8").predict(features(data, "value"))
    exact = model.predict(features(data, "value"))
    assert np.abs(quantised - exact).max() < 0.1 * np.std(exact)


def test_quantised_mlp_is_smaller_on_disk(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(400, seed=7, features=20)
    model = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features(train, "label"), train["label"])
    uri = register(settings, model, features(train, "label"), "mlp")
    data = classification_table(400, seed=8, features=20)
    result = compress(
        uri, data, "label", 0.01, register=False, single_row_calls=FAST_CALLS, settings=settings
    )
    table = result.variants.set_index("variant")
    assert table.loc["onnx_int8", "size_bytes"] < table.loc["onnx", "size_bytes"]
    assert table.loc["onnx_int8", "fidelity"] >= 0.97
    assert (
        "fewer_trees" in result.skipped and "not a tree ensemble" in result.skipped["fewer_trees"]
    )
