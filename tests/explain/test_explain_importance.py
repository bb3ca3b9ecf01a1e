"""Global importance: permutation importance with its spread and mean |SHAP|, stored with the
version's run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.explain import ImportanceResult, importance
from modelkeep.explain.importance import IMPORTANCE_JSON, IMPORTANCE_PNG
from modelkeep.tracking import Client


def _client(settings: Settings) -> Client:
    return Client(settings.resolved_tracking_uri(), settings=settings)


def test_the_important_feature_of_a_trained_forest_ranks_first(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    data = valid.drop(columns=["y3", "yr"])

    result = importance(uris["forest"], data, "y", n_repeats=4, settings=settings, store=False)

    table = result.table.set_index("feature")
    assert result.ranking[0] == "signal"
    assert table["mean_abs_shap"].idxmax() == "signal"
    assert table.loc["signal", "importance_mean"] > 0.2
    assert table.loc["noise", "importance_mean"] < 0.1 * table.loc["signal", "importance_mean"]
    assert table.loc["noise", "mean_abs_shap"] < 0.2 * table.loc["signal", "mean_abs_shap"]
    assert result.metric == "accuracy"
    assert (result.shap["method"], result.shap["output_space"]) == ("tree", "probability")
    assert result.shap["additivity_error"] < 1e-6
    assert result.run_id is None


def test_spread_comes_from_the_repeats(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    data = valid.drop(columns=["y", "y3"])

    result = importance(uris["ridge"], data, "yr", n_repeats=5, seed=3, settings=settings,
                        store=False)  # fmt: skip

    table = result.table.set_index("feature")
    for feature, drops in result.repeats.items():
        assert len(drops) == 5
        assert table.loc[feature, "importance_mean"] == pytest.approx(np.mean(drops))
        assert table.loc[feature, "importance_std"] == pytest.approx(np.std(drops))
    assert table.loc["signal", "importance_std"] > 0
    assert result.metric == "r2"
    assert result.shap["method"] == "linear"


def test_a_column_the_model_ignores_gets_zero_importance(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    data = valid.drop(columns=["y", "y3"])

    result = importance(uris["additive"], data, "yr", n_repeats=3, settings=settings,
                        allow_code=True, store=False, kernel_rows=10, nsamples=32)  # fmt: skip

    table = result.table.set_index("feature")
    assert table.loc["noise", "importance_mean"] == 0.0
    assert table.loc["noise", "importance_std"] == 0.0
    assert table.loc["noise", "mean_abs_shap"] < 1e-9
    assert result.ranking[0] == "signal"
    assert result.ranking[-1] == "noise"
    assert result.shap["method"] == "kernel"
    assert result.shap["rows"] == 10


def test_importance_is_stored_with_the_versions_run(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    data = valid.drop(columns=["y3", "yr"])

    first = importance(uris["logistic"], data, "y", n_repeats=2, settings=settings)
    again = importance(uris["logistic"], data, "y", n_repeats=3, settings=settings)

    with _client(settings) as client:
        version = client.get_model_version("logistic", 1)
        stored = json.loads(client.read_artifact(version.run_id or "", IMPORTANCE_JSON))
        png = client.read_artifact(version.run_id or "", IMPORTANCE_PNG)
    assert first.run_id == again.run_id == version.run_id
    assert stored == again.to_dict()
    assert stored["n_repeats"] == 3
    assert stored["ranking"][0] == "signal"
    assert stored["version"] == "1"
    assert png.startswith(b"\x89PNG")


def test_result_to_dict_is_json_safe(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    data = valid.drop(columns=["y", "y3"])

    result = importance(uris["ridge"], data, "yr", n_repeats=2, shap=False, settings=settings,
                        store=False)  # fmt: skip

    assert isinstance(result, ImportanceResult)
    data_dict = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data_dict["features"][0]["mean_abs_shap"] is None
    assert data_dict["shap"] == {"skipped": "not asked for"}


def test_a_missing_target_or_a_metric_of_the_other_task_is_refused(
    settings: Settings, uris: dict[str, str], valid: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInputError) as no_target:
        importance(uris["ridge"], valid, "churned", settings=settings, store=False)
    with pytest.raises(InvalidInputError) as wrong_metric:
        importance(uris["ridge"], valid.drop(columns=["y", "y3"]), "yr", metric="accuracy",
                   settings=settings, store=False)  # fmt: skip

    assert no_target.value.field == "target"
    assert wrong_metric.value.field == "metric"
    assert "rmse" in wrong_metric.value.message
