"""Bad inputs are refused with the field to blame; a model trained by modelkeep compresses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compress_support import (
    FAST_CALLS,
    classification_table,
    features,
    register,
    store_settings,
)
from sklearn.linear_model import LogisticRegression

from modelkeep.compress import compress
from modelkeep.config import Settings
from modelkeep.exceptions import InputSchemaError, InvalidInputError


@pytest.fixture(scope="module")
def logistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A registered model the tests only read (every call fails or registers nothing)."""
    settings = store_settings(tmp_path_factory.mktemp("logistic"))
    train = classification_table(120, seed=21)
    model = LogisticRegression().fit(features(train, "label"), train["label"])
    return settings, register(settings, model, features(train, "label"), "logistic")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"target": "nope"}, "target"),
        ({"max_metric_drop": -0.1}, "max_metric_drop"),
        ({"max_metric_drop": float("nan")}, "max_metric_drop"),
        ({"min_fidelity": 1.5}, "min_fidelity"),
        ({"metric": "precision@k"}, "metric"),
        ({"metric": "rmse"}, "metric"),  # a regression metric for a classifier
        ({"families": ["onnx", "pruning"]}, "families"),
        ({"single_row_calls": 0}, "single_row_calls"),
    ],
)
def test_bad_options_name_their_field(
    logistic: tuple[Settings, str], options: dict[str, Any], field: str
) -> None:
    settings, uri = logistic
    arguments: dict[str, Any] = {"target": "label", **options}
    target = arguments.pop("target")
    with pytest.raises(InvalidInputError) as raised:
        compress(
            uri, classification_table(60, seed=22), str(target), settings=settings, **arguments
        )
    assert raised.value.field == field


def test_a_missing_data_file_blames_data(logistic: tuple[Settings, str], tmp_path: Path) -> None:
    settings, uri = logistic
    with pytest.raises(InvalidInputError) as raised:
        compress(uri, tmp_path / "absent.csv", "label", settings=settings)
    assert raised.value.field == "data"


def test_rows_that_do_not_fit_the_signature_are_refused(logistic: tuple[Settings, str]) -> None:
    settings, uri = logistic
    data = classification_table(60, seed=22).drop(columns=["f3"])
    with pytest.raises(InputSchemaError):
        compress(uri, data, "label", settings=settings)


def test_columns_the_model_does_not_take_are_ignored(logistic: tuple[Settings, str]) -> None:
    settings, uri = logistic
    data = classification_table(60, seed=22).assign(customer_id=range(60))
    result = compress(
        uri,
        data,
        "label",
        register=False,
        families=["onnx"],
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    assert list(result.variants["variant"]) == ["original", "onnx"]


def test_registering_needs_a_registered_version(logistic: tuple[Settings, str]) -> None:
    settings, uri = logistic
    from modelkeep.tracking import Client

    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        source = client.get_model_version("logistic", 1).source
    data = classification_table(60, seed=22)
    with pytest.raises(InvalidInputError) as raised:
        compress(source, data, "label", settings=settings)
    assert raised.value.field == "model_uri"
    result = compress(
        source, data, "label", register=False, single_row_calls=FAST_CALLS, settings=settings
    )
    assert result.model is None and result.parent_version is None and result.version is None


def test_the_source_runs_primary_metric_is_the_default(tmp_path: Path) -> None:
    """A run recorded like ``modelkeep train`` records one: its ``metrics`` param lists the
    primary metric first, and the model is a column-picking preprocessing pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelkeep.tracking import Client

    settings = store_settings(tmp_path)
    train = classification_table(200, seed=23)
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    columns = [f"f{i}" for i in range(6)]
    model = Pipeline(
        [
            ("preprocess", ColumnTransformer([("numeric", numeric, columns)])),
            ("model", RandomForestClassifier(n_estimators=8, random_state=0)),
        ]
    )
    model.fit(features(train, "label"), train["label"])
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        experiment = client.get_or_create_experiment("trained")
        run = client.create_run(experiment.id, tags={"modelkeep.task": "classification"})
        client.log_param(run.id, "metrics", "balanced_accuracy,accuracy")
        info = client.log_model(run.id, model, "model", input_example=train[columns].head(5))
        client.set_terminated(run.id)
        client.register_model(info.uri, "trained")
    result = compress(
        "models:/trained/1",
        classification_table(200, seed=24),
        "label",
        families=["onnx"],
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    assert result.metric == "balanced_accuracy"
    table = result.variants.set_index("variant")
    assert table.loc["onnx", "fidelity"] == 1.0  # its preprocessing pipeline converts too
    assert result.version == 2
