"""Compressing a random forest: every variant measured, the chosen one registered, linked to
its parent, loadable and served."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compress_support import FAST_CALLS, classification_table, features, register, store_settings
from sklearn.ensemble import RandomForestClassifier
from starlette.testclient import TestClient

from modelkeep.compress import CompressResult, compress
from modelkeep.compress.choose import COLUMNS
from modelkeep.config import Settings
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client


def _forest(home: Path) -> tuple[Settings, RandomForestClassifier, Any]:
    settings = store_settings(home)
    train = classification_table(300, seed=1)
    model = RandomForestClassifier(n_estimators=10, random_state=0)
    model.fit(features(train, "label"), train["label"])
    register(settings, model, features(train, "label"), "forest")
    return settings, model, classification_table(300, seed=2)


@pytest.fixture
def forest(tmp_path: Path) -> tuple[Settings, RandomForestClassifier, Any]:
    return _forest(tmp_path)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> CompressResult:
    """Every family measured once (nothing registered), shared by the table's tests."""
    settings, _, data = _forest(tmp_path_factory.mktemp("measured"))
    return _compress(settings, data, register=False)


def _compress(settings: Settings, data: Any, **options: Any) -> CompressResult:
    return compress(
        "models:/forest/1",
        data,
        "label",
        single_row_calls=FAST_CALLS,
        settings=settings,
        **options,
    )


def test_variants_table_has_every_measurement(measured: CompressResult) -> None:
    result = measured
    table = result.variants
    assert tuple(table.columns) == COLUMNS
    names = set(table["variant"])
    expected = {"original", "onnx", "trees_5", "trees_5_onnx", "trees_2", "trees_2_onnx"}
    assert expected | {"trees_1", "depth_2", "depth_2_onnx", "distilled_2_onnx"} <= names
    assert (table["size_bytes"] > 0).all()
    assert (table["latency_1row_ms"] > 0).all() and (table["latency_1000rows_ms"] > 0).all()
    assert table["metric"].between(0, 1).all() and table["fidelity"].between(0, 1).all()
    original = table[table["variant"] == "original"].iloc[0]
    assert original["metric_drop"] == 0.0 and original["fidelity"] == 1.0
    assert original["speedup_1row"] == 1.0 and original["within_tolerance"]
    assert "no matrix weights" in result.skipped["onnx_int8"]
    assert result.metric == "accuracy" and result.validation_rows == 150
    assert result.fit_rows == 150  # the data was split: half to refit on, half to measure
    assert table["chosen"].sum() == 1 and result.version is None


def test_onnx_forest_labels_equal_the_original(forest: Any) -> None:
    settings, _, data = forest
    result = _compress(settings, data, register=False, families=["onnx", "fewer_trees"])
    fidelity = result.variants.set_index("variant")["fidelity"]
    assert fidelity["onnx"] == 1.0
    assert fidelity["trees_5_onnx"] == fidelity["trees_5"]


def test_chosen_variant_is_within_tolerance_and_fastest_of_those(
    measured: CompressResult,
) -> None:
    result = measured
    table = result.variants.set_index("variant")
    chosen = table.loc[result.chosen]
    assert chosen["within_tolerance"] and chosen["metric_drop"] <= 0.005
    eligible = table[table["within_tolerance"]]
    assert chosen["latency_1row_ms"] <= 1.1 * eligible["latency_1row_ms"].min()
    assert not table.loc[table["metric_drop"] > 0.005, "within_tolerance"].any()


def test_chosen_variant_is_registered_linked_to_its_parent(forest: Any) -> None:
    settings, _, data = forest
    result = _compress(settings, data)
    assert result.chosen != "original" and result.version == 2
    assert (result.model, result.parent_version) == ("forest", 1)
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        version = client.get_model_version("forest", 2)
        assert version.tags["modelkeep.compress.parent_version"] == "1"
        assert version.tags["modelkeep.compress.variant"] == result.chosen
        assert version.run_id is not None
        stored = json.loads(client.read_artifact(version.run_id, "compress/variants.json"))
        run = client.get_run(version.run_id)
        loaded = client.load_model("models:/forest/2")
    assert stored["chosen"] == result.chosen and stored["parent_version"] == 1
    assert [row["variant"] for row in stored["variants"]] == list(result.variants["variant"])
    assert math.isclose(
        run.metrics["fidelity"], result.variants["fidelity"][result.variants["chosen"]].iloc[0]
    )
    rows = features(data, "label")
    expected = result.variant(result.chosen).predict(loaded.validate_input(rows))
    np.testing.assert_array_equal(np.asarray(loaded.predict(rows)).reshape(-1), expected)


def test_registered_onnx_version_is_served_by_onnxruntime(forest: Any) -> None:
    settings, model, data = forest
    result = _compress(settings, data, families=["onnx"])
    assert result.chosen == "onnx" and result.version == 2
    rows = features(data, "label").head(40)
    body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
    options = ServeOptions("models:/forest/2", runtime="onnx", inference_log=False)
    with TestClient(create_serving_app(options, settings)) as server:
        answer = server.post("/invocations", json=body)
        described = server.get("/version").json()
    assert answer.status_code == 200, answer.text
    np.testing.assert_array_equal(answer.json()["predictions"], model.predict(rows))
    primary = described["primary"]
    assert (primary["version"], primary["flavor"], primary["runtime"]) == ("2", "onnx", "onnx")
