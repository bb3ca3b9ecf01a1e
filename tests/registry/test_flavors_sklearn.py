"""scikit-learn flavor: bit-identical round trips through skops, and the safety refusals."""

from __future__ import annotations

import operator
import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flavor_support import mixed_frame, numeric_data, rehash
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from modelkeep.exceptions import PackageIntegrityError, UnsafeModelError
from modelkeep.registry.flavors import detect_flavor
from modelkeep.registry.manifest import read_manifest
from modelkeep.registry.package import load_package, save_package


def _preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "visits"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )


NUMERIC_MODELS = {
    "logistic": lambda: LogisticRegression(),
    "random_forest": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=10),
}
FRAME_MODELS = {
    "pipeline_logistic": lambda: Pipeline(
        [("prep", _preprocess()), ("clf", LogisticRegression())]
    ),
    "pipeline_forest": lambda: Pipeline(
        [("prep", _preprocess()), ("clf", RandomForestClassifier(n_estimators=10, random_state=0))]
    ),
}


def _assert_same_predictions(model: Any, directory: Path, data: Any) -> None:
    loaded = load_package(directory)
    assert np.array_equal(loaded.predict(data), model.predict(data))
    assert np.array_equal(loaded.predict_proba(data), model.predict_proba(data))
    assert np.array_equal(loaded.raw.predict_proba(data), model.predict_proba(data))


@pytest.mark.parametrize("kind", sorted(NUMERIC_MODELS))
def test_estimator_round_trip_is_bit_identical(kind: str, tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = NUMERIC_MODELS[kind]().fit(features, labels)
    save_package(model, tmp_path / "pkg", input_example=features[:5])
    _assert_same_predictions(model, tmp_path / "pkg", features)


@pytest.mark.parametrize("kind", sorted(FRAME_MODELS))
def test_pipeline_with_column_transformer_round_trip_is_bit_identical(
    kind: str, tmp_path: Path
) -> None:
    frame, labels = mixed_frame()
    model = FRAME_MODELS[kind]().fit(frame, labels)
    save_package(model, tmp_path / "pkg", input_example=frame.head(5))
    _assert_same_predictions(model, tmp_path / "pkg", frame)


def test_regressor_round_trip_has_no_proba(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(features, labels * 2.5)
    save_package(model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert loaded.has_proba is False


def test_detects_sklearn_and_records_the_trusted_types(tmp_path: Path) -> None:
    features, labels = numeric_data()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    assert detect_flavor(forest).name == "sklearn"
    save_package(forest, tmp_path / "pkg")
    options = read_manifest(tmp_path / "pkg").flavor_options
    assert options == {"file": "model.skops", "trusted_types": ["sklearn.tree._tree.Tree"]}


def _function_pipeline() -> Pipeline:
    features, labels = numeric_data()
    steps = [("negate", FunctionTransformer(operator.neg)), ("clf", LogisticRegression())]
    return Pipeline(steps).fit(features, labels)


def test_type_off_the_allowlist_is_refused_without_allow_code(tmp_path: Path) -> None:
    save_package(_function_pipeline(), tmp_path / "pkg")
    with pytest.raises(UnsafeModelError) as caught:
        load_package(tmp_path / "pkg")
    assert "_operator.neg" in str(caught.value)
    assert "allow_code=True" in str(caught.value)
    assert caught.value.field == "allow_code"


def test_type_off_the_allowlist_loads_with_allow_code(tmp_path: Path) -> None:
    model = _function_pipeline()
    save_package(model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg", allow_code=True)
    features, _ = numeric_data()
    assert np.array_equal(loaded.predict_proba(features), model.predict_proba(features))


class _Exploit:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_exploit_payload_is_live(tmp_path: Path) -> None:
    # Proves the payload used below would run if anything unpickled it.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Exploit(marker)))
    assert marker.exists()


@pytest.mark.parametrize("allow_code", [False, True])
def test_pickle_disguised_as_skops_is_refused_without_running(
    allow_code: bool, tmp_path: Path
) -> None:
    features, labels = numeric_data()
    save_package(LogisticRegression().fit(features, labels), tmp_path / "pkg")
    marker = tmp_path / "ran"
    (tmp_path / "pkg" / "model.skops").write_bytes(pickle.dumps(_Exploit(marker)))
    rehash(tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(tmp_path / "pkg", allow_code=allow_code)
    assert caught.value.field == "model.skops"
    assert "not a readable skops file" in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("allow_code", [False, True])
def test_types_not_recorded_in_the_manifest_are_refused(allow_code: bool, tmp_path: Path) -> None:
    features, labels = numeric_data()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    save_package(forest, tmp_path / "pkg")
    rehash(tmp_path / "pkg", trusted_types=[])
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(tmp_path / "pkg", allow_code=allow_code)
    assert "sklearn.tree._tree.Tree" in str(caught.value)
    assert caught.value.field == "model.skops"


def test_tree_with_out_of_range_child_is_refused(tmp_path: Path) -> None:
    features, labels = numeric_data()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, labels)
    tree.tree_.children_left[0] = 10**6  # what a crafted file would hold
    save_package(tree, tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError, match="malformed decision tree"):
        load_package(tmp_path / "pkg", allow_code=True)


def test_hist_gradient_boosting_split_on_unknown_feature_is_refused(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = HistGradientBoostingClassifier(max_iter=3).fit(features, labels)
    model._predictors[0][0].nodes["feature_idx"][0] = 99
    save_package(model, tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError, match="feature 99 of 4 input features"):
        load_package(tmp_path / "pkg")
