"""ONNX flavor: skl2onnx conversions run by onnxruntime, within the documented tolerance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from flavor_support import mixed_frame, numeric_data, rehash
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError
from modelkeep.registry.flavors import detect_flavor
from modelkeep.registry.flavors.onnx import PROBA_ATOL, PROBA_RTOL
from modelkeep.registry.package import load_package, save_package


def _convert(model: Any, features: np.ndarray) -> Any:
    return to_onnx(model, features[:1].astype(np.float32), options={id(model): {"zipmap": False}})


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(),
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    ],
    ids=["logistic", "random_forest"],
)
def test_converted_classifier_matches_sklearn_within_tolerance(make: Any, tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = make().fit(features, labels)
    onnx_model = _convert(model, features)
    assert detect_flavor(onnx_model).name == "onnx"
    save_package(onnx_model, tmp_path / "pkg", input_example=features[:5].astype(np.float32))
    loaded = load_package(tmp_path / "pkg")
    assert isinstance(loaded.raw, onnxruntime.InferenceSession)
    data = features.astype(np.float32)
    assert np.array_equal(loaded.predict(data), model.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(data), model.predict_proba(features), rtol=PROBA_RTOL, atol=PROBA_ATOL
    )


def test_round_trip_equals_the_session_before_saving(tmp_path: Path) -> None:
    features, labels = numeric_data()
    onnx_model = _convert(LogisticRegression().fit(features, labels), features)
    before = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    data = features.astype(np.float32)
    labels_before, proba_before = before.run(None, {"X": data})
    save_package(onnx_model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(data), labels_before)
    assert np.array_equal(loaded.predict_proba(data), proba_before)


def test_one_input_per_column_takes_a_dataframe(tmp_path: Path) -> None:
    frame, labels = mixed_frame()
    frame["visits"] = frame["visits"].astype(float)
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["age", "visits"]), ("cat", OneHotEncoder(), ["city"])]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(frame, labels)
    inputs = [
        ("age", FloatTensorType([None, 1])),
        ("visits", FloatTensorType([None, 1])),
        ("city", StringTensorType([None, 1])),
    ]
    onnx_model = convert_sklearn(
        model, initial_types=inputs, options={id(model): {"zipmap": False}}
    )
    save_package(onnx_model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(
        loaded.predict_proba(frame), model.predict_proba(frame), rtol=PROBA_RTOL, atol=PROBA_ATOL
    )
    with pytest.raises(InvalidInputError, match="city"):
        loaded.predict(frame.drop(columns="city"))


def test_regressor_has_no_proba(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = LinearRegression().fit(features, labels * 2.0)
    save_package(to_onnx(model, features[:1].astype(np.float32)), tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(
        loaded.predict(features).ravel(), model.predict(features), rtol=PROBA_RTOL, atol=1e-5
    )
    assert loaded.has_proba is False
    with pytest.raises(InvalidInputError) as caught:
        loaded.predict_proba(features)
    assert caught.value.field == "method"


def test_garbage_onnx_file_is_refused_naming_it(tmp_path: Path) -> None:
    features, labels = numeric_data()
    save_package(_convert(LogisticRegression().fit(features, labels), features), tmp_path / "pkg")
    (tmp_path / "pkg" / "model.onnx").write_bytes(b"not a protobuf at all")
    rehash(tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(tmp_path / "pkg")
    assert caught.value.field == "model.onnx"


def _matmul_model() -> Any:
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((4, 1), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "matmul",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [weights],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_hand_built_graph_round_trip(tmp_path: Path) -> None:
    save_package(_matmul_model(), tmp_path / "pkg")
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert np.array_equal(load_package(tmp_path / "pkg").predict(data), [[6.0], [22.0]])


@pytest.mark.parametrize("location", ["secret.bin", "../secret.bin"])
def test_graph_reading_external_data_is_refused(location: str, tmp_path: Path) -> None:
    from onnx import TensorProto

    model = _matmul_model()
    save_package(model, tmp_path / "pkg")
    (tmp_path / "secret.bin").write_bytes(np.full(4, 7, np.float32).tobytes())
    weights = model.graph.initializer[0]
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "pkg" / "model.onnx").write_bytes(model.SerializeToString())
    rehash(tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError, match="external data for tensor 'W'"):
        load_package(tmp_path / "pkg")
