"""``POST /explain`` on the inference server, in-process (Starlette's TestClient runs the
lifespan that loads the model)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from explain_support import FEATURES
from starlette.testclient import TestClient

from modelkeep.config import Settings
from modelkeep.explain import explain
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions


def _split(rows: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}


@pytest.fixture(scope="module")
def server(settings: Settings, uris: dict[str, str]) -> Iterator[TestClient]:
    options = ServeOptions(uris["forest"], runtime="native", inference_log=False)
    with TestClient(create_serving_app(options, settings)) as client:
        yield client


def test_dataframe_split_gets_the_attributions_of_each_row(
    server: TestClient, settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    answer = server.post("/explain", json=_split(rows.iloc[:5]))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = explain(uris["forest"], rows.iloc[:5], settings=settings)
    assert answer.headers["x-model-version"] == "1"
    assert body["method"] == "tree"
    assert body["output_space"] == "probability"
    assert body["columns"] == ["signal", "weak", "noise", "plan"]
    assert body["background"]["source"] == "reference"
    got = pd.DataFrame(body["attributions"])
    np.testing.assert_allclose(got.to_numpy(), expected.attributions.to_numpy(), atol=1e-12)
    total = np.asarray(body["base_values"]) + got.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, body["outputs"], atol=1e-6)
    assert body["additivity_error"] < 1e-6
    assert body["explained_class"] == [1] * 5


def test_records_csv_and_the_method_parameter(server: TestClient, rows: pd.DataFrame) -> None:
    records = {"dataframe_records": rows.iloc[:2].to_dict("records"), "params": {"nsamples": 16}}

    by_records = server.post("/explain?method=kernel", json=records)
    by_csv = server.post(
        "/explain",
        content=rows.iloc[:3].to_csv(index=False).encode(),
        headers={"content-type": "text/csv"},
    )

    assert by_records.status_code == 200, by_records.text
    assert by_records.json()["method"] == "kernel"
    assert len(by_records.json()["attributions"]) == 2
    assert by_csv.status_code == 200, by_csv.text
    assert len(by_csv.json()["outputs"]) == 3


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/explain", {"dataframe_split": {"columns": ["signal"], "data": [[1.0]]}}, "input"),
        (
            "/explain",
            {"dataframe_split": {"columns": FEATURES, "data": [["hi", 1, 1, "a"]]}},
            "input",
        ),
        ("/explain?method=magic", None, "method"),
        ("/explain?method=linear", None, "method"),
        ("/explain?nsamples=-3", None, "nsamples"),
        ("/explain", {"rows": []}, "body"),
    ],
)
def test_bad_input_is_answered_400_with_the_field(
    server: TestClient,
    rows: pd.DataFrame,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    answer = server.post(path, json=body if body is not None else _split(rows.iloc[:2]))

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_too_many_rows_are_refused(server: TestClient, rows: pd.DataFrame) -> None:
    many = pd.concat([rows] * 90, ignore_index=True)  # 1,080 rows

    answer = server.post("/explain", json=_split(many))

    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "rows"


def test_explain_obeys_the_extraction_defence(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    hardened = ServeOptions(uris["forest"], runtime="native", inference_log=False,
                            labels_only=True)  # fmt: skip
    limited = ServeOptions(uris["forest"], runtime="native", inference_log=False,
                           rate_limit=0.01, burst=1)  # fmt: skip

    with TestClient(create_serving_app(hardened, settings)) as client:
        refused = client.post("/explain", json=_split(rows.iloc[:1]))
    with TestClient(create_serving_app(limited, settings)) as client:
        first = client.post("/explain", json=_split(rows.iloc[:1]))
        second = client.post("/explain", json=_split(rows.iloc[:1]))

    assert refused.status_code == 403 and "labels-only" in refused.text
    assert first.status_code == 200
    assert second.status_code == 429 and "retry-after" in second.headers
