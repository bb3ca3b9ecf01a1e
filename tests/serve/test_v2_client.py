"""A standard Open Inference Protocol v2 client (tritonclient's HTTP client) against a real
server on loopback, unchanged: JSON and binary tensors, metadata, readiness, versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as httpclient  # a dev dependency
from serve_support import cancer, client_for, live_server, register_forest, settings_for

from modelkeep.serve.options import ServeOptions


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    settings = settings_for(Path(tmp_path_factory.mktemp("v2-home")))
    with client_for(settings) as client:
        _, forest = register_forest(client, "v2m", trees=7)
    options = ServeOptions("models:/v2m@champion", runtime="auto", inference_log=False)
    with live_server(options, settings) as url:
        triton = httpclient.InferenceServerClient(urlsplit(url).netloc)
        try:
            yield triton, forest
        finally:
            triton.close()


def _inputs(rows: Any, binary: bool) -> list[Any]:
    inputs = []
    for column in rows.columns:
        tensor = httpclient.InferInput(column, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[column].to_numpy(np.float64), binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_one_tensor_per_column(served: tuple[Any, Any], binary: bool) -> None:
    triton, forest = served
    X, _ = cancer()
    rows = X.iloc[5:9]

    result = triton.infer("v2m", _inputs(rows, binary), request_id="req-1")

    assert result.as_numpy("predict").tolist() == forest.predict(rows).tolist()
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "v2m",
        "1",
        "req-1",
    )


def test_requested_probabilities(served: tuple[Any, Any]) -> None:
    triton, forest = served
    X, _ = cancer()
    rows = X.iloc[:3]
    outputs = [httpclient.InferRequestedOutput("proba", binary_data=False)]

    result = triton.infer("v2m", _inputs(rows, False), outputs=outputs, model_version="1")

    np.testing.assert_allclose(result.as_numpy("proba"), forest.predict_proba(rows), atol=1e-5)
    assert result.as_numpy("predict") is None  # only what was asked for


def test_one_2d_tensor(served: tuple[Any, Any]) -> None:
    triton, forest = served
    X, _ = cancer()
    rows = X.iloc[:2].to_numpy(np.float32)
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)

    result = triton.infer("v2m", [tensor])

    assert result.as_numpy("predict").tolist() == forest.predict(X.iloc[:2]).tolist()


def test_metadata_and_health(served: tuple[Any, Any]) -> None:
    triton, _ = served

    metadata = triton.get_model_metadata("v2m")

    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("v2m") and triton.is_model_ready("v2m", "1")
    assert not triton.is_model_ready("v2m", "7")
    assert metadata["name"] == "v2m" and metadata["versions"] == ["1"]
    assert len(metadata["inputs"]) == 30
    assert triton.get_server_metadata()["name"] == "modelkeep"


def test_a_bad_request_raises_the_clients_error(served: tuple[Any, Any]) -> None:
    from tritonclient.utils import InferenceServerException

    triton, _ = served
    X, _ = cancer()
    rows = X.iloc[:1].drop(columns=["mean radius"])

    with pytest.raises(InferenceServerException) as caught:
        triton.infer("v2m", _inputs(rows, False))

    assert "mean radius" in str(caught.value)
