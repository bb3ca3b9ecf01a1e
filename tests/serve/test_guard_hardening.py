"""Output hardening: --labels-only withholds probabilities, --round-probabilities rounds them,
on /invocations and on the v2 route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serve_support import cancer, client_for, register_forest, settings_for, split_body
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(tmp_path_factory.mktemp("guard-hardening"))


@pytest.fixture(scope="module")
def forest(settings: Settings) -> Any:
    with client_for(settings) as client:
        _, model = register_forest(client, "m", trees=15)
    return model


def _serve(settings: Settings, **options: Any) -> TestClient:
    served = ServeOptions("models:/m@champion", runtime="native", inference_log=False, **options)
    return TestClient(create_serving_app(served, settings))


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    X, _ = cancer()
    return X.iloc[[0, 5, 19, 40, 100, 300]]


@pytest.fixture
def labels_only(settings: Settings, forest: Any) -> Iterator[TestClient]:
    with _serve(settings, labels_only=True) as client:
        yield client


def _v2_inputs(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"name": str(c), "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
        for c in rows.columns
    ]


def test_labels_only_answers_labels_where_probabilities_are_asked(
    labels_only: TestClient, forest: Any, rows: pd.DataFrame
) -> None:
    by_query = labels_only.post("/invocations?output=proba", json=split_body(rows))
    by_params = labels_only.post(
        "/invocations", json={**split_body(rows), "params": {"output": "proba"}}
    )

    assert by_query.status_code == 200, by_query.text
    assert by_query.json() == {"predictions": forest.predict(rows).tolist()}
    assert by_params.json() == by_query.json()


def test_labels_only_drops_the_v2_proba_output(
    labels_only: TestClient, forest: Any, rows: pd.DataFrame
) -> None:
    asked = [{"name": "proba"}]
    answer = labels_only.post(
        "/v2/models/m/infer", json={"inputs": _v2_inputs(rows), "outputs": asked}
    )

    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict"]
    assert outputs[0]["data"] == forest.predict(rows).tolist()


def test_rounded_probabilities(settings: Settings, forest: Any, rows: pd.DataFrame) -> None:
    expected = np.round(forest.predict_proba(rows), 1)
    assert not np.allclose(expected, forest.predict_proba(rows))  # rounding changes some
    with _serve(settings, round_probabilities=1) as server:
        answer = server.post("/invocations?output=proba", json=split_body(rows))
        v2 = server.post(
            "/v2/models/m/infer", json={"inputs": _v2_inputs(rows), "outputs": [{"name": "proba"}]}
        )
        labels = server.post("/invocations", json=split_body(rows))

    predictions = np.array(answer.json()["predictions"])
    assert predictions.shape == expected.shape
    np.testing.assert_array_equal(predictions, expected)
    assert np.all(np.round(predictions * 10) == predictions * 10)
    proba = v2.json()["outputs"][0]
    assert proba["name"] == "proba"
    np.testing.assert_array_equal(np.array(proba["data"]).reshape(expected.shape), expected)
    assert labels.json() == {"predictions": forest.predict(rows).tolist()}


def test_unhardened_server_still_answers_full_probabilities(
    settings: Settings, forest: Any, rows: pd.DataFrame
) -> None:
    with _serve(settings) as server:
        answer = server.post("/invocations?output=proba", json=split_body(rows))

    np.testing.assert_allclose(answer.json()["predictions"], forest.predict_proba(rows))
