"""Exact attributions of registered pipelines (house preprocessing with a categorical column):
TreeSHAP and the linear closed form add up to the model's output within 1e-6."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.explain import Explanation, explain
from modelkeep.tracking import Client

EXACT = 1e-6


def _explain(settings: Settings, uri: str, rows: pd.DataFrame, **options: object) -> Explanation:
    return explain(uri, rows, settings=settings, **options)  # type: ignore[arg-type]


def _loaded(settings: Settings, uri: str) -> object:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        return client.load_model(uri)


@pytest.mark.parametrize("name", ["forest", "tree", "boosted", "hist"])
def test_tree_classifiers_add_up_to_the_positive_class_probability(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame, name: str
) -> None:
    result = _explain(settings, uris[name], rows)

    model = _loaded(settings, uris[name])
    proba = model.predict_proba(rows)[:, 1]  # type: ignore[attr-defined]
    assert result.method == "tree"
    assert list(result.attributions.columns) == ["signal", "weak", "noise", "plan"]
    assert result.explained_class == [1] * len(rows)
    assert result.output_space in ("probability", "log_odds")
    if result.output_space == "probability":
        np.testing.assert_allclose(result.outputs, proba, atol=1e-12)
    total = result.base_values + result.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - result.outputs)) < EXACT
    assert result.additivity_error < EXACT


def test_random_forest_is_explained_in_probability_space(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    result = _explain(settings, uris["forest"], rows)

    assert result.output_space == "probability"
    assert result.background == "reference"


def test_multiclass_forest_explains_the_predicted_class_of_each_row(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    model = _loaded(settings, uris["forest3"])
    proba = model.predict_proba(rows)  # type: ignore[attr-defined]

    result = _explain(settings, uris["forest3"], rows)

    predicted = proba.argmax(axis=1)
    assert result.explained_class == predicted.tolist()
    np.testing.assert_allclose(result.outputs, proba[np.arange(len(rows)), predicted])
    assert result.additivity_error < EXACT


@pytest.mark.parametrize("name", ["logistic", "logistic3"])
def test_logistic_models_add_up_in_log_odds(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame, name: str
) -> None:
    model = _loaded(settings, uris[name])
    proba = model.predict_proba(rows)  # type: ignore[attr-defined]

    result = _explain(settings, uris[name], rows)

    assert result.method == "linear"
    assert result.additivity_error < EXACT
    if name == "logistic":
        assert result.output_space == "log_odds"
        np.testing.assert_allclose(result.outputs, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-9)
    else:
        assert result.output_space == "margin"
        assert result.explained_class == proba.argmax(axis=1).tolist()


def test_ridge_adds_up_to_the_prediction(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    model = _loaded(settings, uris["ridge"])

    result = _explain(settings, uris["ridge"], rows)

    assert (result.method, result.output_space, result.explained_class) == (
        "linear",
        "prediction",
        None,
    )
    np.testing.assert_allclose(result.outputs, model.predict(rows))  # type: ignore[attr-defined]
    assert result.additivity_error < EXACT


def test_closed_form_sums_the_one_hot_columns_of_the_categorical_column(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    background = rows.iloc[:6]
    pipeline = _loaded(settings, uris["ridge"]).raw  # type: ignore[attr-defined]
    prep, ridge = pipeline[:-1], pipeline.steps[-1][1]
    names = list(prep.get_feature_names_out())
    plan = [i for i, n in enumerate(names) if n.startswith("categorical__plan_")]
    moved = ridge.coef_ * (prep.transform(rows) - prep.transform(background).mean(axis=0))

    result = _explain(settings, uris["ridge"], rows, background=background)

    assert len(plan) == 3
    np.testing.assert_allclose(result.attributions["plan"], moved[:, plan].sum(axis=1))
    np.testing.assert_allclose(
        result.attributions["signal"], moved[:, names.index("numeric__signal")]
    )
    assert result.background == "given"


def test_the_noise_column_gets_little_and_the_signal_most(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    result = _explain(settings, uris["ridge"], rows)

    size = result.attributions.abs().mean()
    assert size.idxmax() == "signal"
    assert size["noise"] < 0.05 * size["signal"]


def test_a_method_that_does_not_fit_the_model_is_refused_with_the_field(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInputError) as linear_on_tree:
        _explain(settings, uris["forest"], rows, method="linear")
    with pytest.raises(InvalidInputError) as unknown:
        _explain(settings, uris["forest"], rows, method="magic")

    assert linear_on_tree.value.field == "method"
    assert "coef_" in linear_on_tree.value.message
    assert unknown.value.field == "method"


def test_rows_missing_a_column_are_refused(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _explain(settings, uris["forest"], rows.drop(columns=["weak"]))

    assert "weak" in caught.value.message


def test_to_dict_is_json_safe(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    import json

    result = _explain(settings, uris["hist"], rows.iloc[:3])

    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["columns"] == ["signal", "weak", "noise", "plan"]
    assert len(data["attributions"]) == 3
    assert set(data["attributions"][0]) == {"signal", "weak", "noise", "plan"}
    assert data["model_uri"] == uris["hist"]
    assert data["version"] == "1"
