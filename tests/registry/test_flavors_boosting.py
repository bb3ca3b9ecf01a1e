"""LightGBM and XGBoost flavors: native formats, predictions equal bit for bit after load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from flavor_support import mixed_frame, numeric_data, rehash

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError
from modelkeep.registry.flavors import detect_flavor
from modelkeep.registry.manifest import read_manifest
from modelkeep.registry.package import load_package, save_package


def _categorical_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame, labels = mixed_frame()
    frame["city"] = frame["city"].astype("category")
    return frame, np.where(labels == 1, "yes", "no")


def test_lgbm_classifier_round_trip_keeps_labels_and_probabilities(tmp_path: Path) -> None:
    frame, labels = _categorical_frame()
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(frame, labels)
    assert detect_flavor(model).name == "lightgbm"
    save_package(model, tmp_path / "pkg", input_example=frame.head(5))
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert isinstance(loaded.raw, lightgbm.Booster)


def test_lgbm_multiclass_round_trip(tmp_path: Path) -> None:
    features, _ = numeric_data()
    labels = np.digitize(features[:, 0], [-0.5, 0.5])
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(features, labels)
    save_package(model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert np.array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_lgbm_regressor_round_trip_has_no_proba(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = lightgbm.LGBMRegressor(n_estimators=10, verbose=-1).fit(features, labels * 3.0)
    save_package(model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert loaded.has_proba is False
    with pytest.raises(InvalidInputError) as caught:
        loaded.predict_proba(features)
    assert caught.value.field == "method"


def test_lightgbm_booster_round_trip(tmp_path: Path) -> None:
    features, labels = numeric_data()
    train = lightgbm.Dataset(features, labels)
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, train, num_boost_round=10)
    manifest, _ = save_package(booster, tmp_path / "pkg")
    assert manifest.flavor == "lightgbm"
    assert manifest.library_versions["lightgbm"] == lightgbm.__version__
    assert np.array_equal(
        load_package(tmp_path / "pkg").predict(features), booster.predict(features)
    )


def test_xgb_classifier_round_trip(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(features, labels)
    assert detect_flavor(model).name == "xgboost"
    save_package(model, tmp_path / "pkg", input_example=features[:5])
    assert read_manifest(tmp_path / "pkg").flavor_options["wrapper"] == "XGBClassifier"
    loaded = load_package(tmp_path / "pkg")
    assert isinstance(loaded.raw, xgboost.XGBClassifier)
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert np.array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_xgb_regressor_round_trip(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(features, labels * 2.0)
    save_package(model, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert loaded.has_proba is False


def test_xgboost_booster_round_trip(tmp_path: Path) -> None:
    features, labels = numeric_data()
    train = xgboost.DMatrix(features, label=labels)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, train, 10)
    save_package(booster, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert isinstance(loaded.raw, xgboost.Booster)
    assert np.array_equal(loaded.predict(features), booster.inplace_predict(features))


def test_xgboost_unknown_wrapper_in_manifest_is_refused(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = xgboost.XGBClassifier(n_estimators=2).fit(features, labels)
    save_package(model, tmp_path / "pkg")
    rehash(tmp_path / "pkg", wrapper="os.system")
    with pytest.raises(PackageIntegrityError, match="unknown XGBoost wrapper"):
        load_package(tmp_path / "pkg")


@pytest.mark.parametrize(
    ("make", "file_name"),
    [
        (lambda x, y: lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y), "model.txt"),
        (lambda x, y: xgboost.XGBClassifier(n_estimators=2).fit(x, y), "model.ubj"),
    ],
)
def test_garbage_native_file_is_refused_naming_it(
    make: Callable[[Any, Any], Any], file_name: str, tmp_path: Path
) -> None:
    features, labels = numeric_data()
    save_package(make(features, labels), tmp_path / "pkg")
    (tmp_path / "pkg" / file_name).write_bytes(b"\x00garbage, not a model\n")
    rehash(tmp_path / "pkg")
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(tmp_path / "pkg")
    assert caught.value.field == file_name
