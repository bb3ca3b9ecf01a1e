"""Tree-ensemble reductions: the first k trees or stages are exactly the smaller model, and
what skl2onnx cannot convert is left out with its reason."""

from __future__ import annotations

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
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

from modelkeep.compress import compress


def test_first_trees_of_a_forest_average_their_votes(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(200, seed=51)
    X = features(train, "label")
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, train["label"])
    uri = register(settings, forest, X, "forest")
    result = compress(
        uri,
        classification_table(100, seed=52),
        "label",
        register=False,
        families=["fewer_trees"],
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    smaller = result.variant("trees_5").model
    votes = np.mean([tree.predict_proba(X.to_numpy()) for tree in forest.estimators_[:5]], axis=0)
    np.testing.assert_allclose(smaller.predict_proba(X), votes)
    assert len(forest.estimators_) == 10  # the original is left as it was


def test_gradient_boosting_stages_and_distillation(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(300, seed=53)
    X = features(train, "label")
    boosting = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, train["label"])
    uri = register(settings, boosting, X, "boosting")
    result = compress(
        uri,
        classification_table(300, seed=54),
        "label",
        register=False,
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    names = set(result.variants["variant"])
    assert {"trees_10_onnx", "trees_5_onnx", "depth_2_onnx", "distilled_2_onnx"} <= names
    staged = list(boosting.staged_predict(X))
    np.testing.assert_array_equal(result.variant("trees_10").model.predict(X), staged[9])
    student = result.variant("distilled_2").model
    assert (student.n_estimators, student.learning_rate) == (2, 1.0)  # 0.1 x 20 / 2


def test_hist_gradient_boosting_is_reduced_natively_and_not_converted(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = regression_table(300, seed=55)
    X = features(train, "value")
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, train["value"])
    uri = register(settings, model, X, "hist")
    result = compress(
        uri,
        regression_table(300, seed=56),
        "value",
        register=False,
        families=["onnx", "fewer_trees"],
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    assert "skl2onnx" in result.skipped["onnx"] and "trees_5_onnx" in result.skipped
    staged = list(model.staged_predict(X))
    np.testing.assert_allclose(result.variant("trees_5").predict(X), staged[4])
    assert result.metric == "rmse"
    assert list(result.variants["runtime"]) == ["native"] * 4
