"""``evaluate_pair`` on real scikit-learn models logged, registered and loaded through a
temporary SQLite store, and ``compare_slices`` on plain arrays."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score, root_mean_squared_error
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain.evaluate import Evaluation, compare_slices, evaluate_pair
from modelkeep.registry.loaded import LoadedModel
from modelkeep.tracking import Client

FEATURES = ["f0", "f1", "f2", "f3"]


@dataclass
class Pair:
    """A registered model, loaded, and the estimator it was made from."""

    loaded: LoadedModel
    estimator: Any


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=FEATURES)
    frame["label"] = (frame.f0 + frame.f1 + rng.normal(0, 0.4, rows) > 0).astype(int)
    frame["price"] = 3 * frame.f0 - 2 * frame.f2 + rng.normal(0, 0.5, rows)
    return frame


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    home: Path = tmp_path_factory.mktemp("maintain-evaluate")
    settings = Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )
    return Client(settings.resolved_tracking_uri(), settings=settings)


def _register(client: Client, name: str, estimator: Any, X: pd.DataFrame) -> Pair:
    experiment = client.get_or_create_experiment("maintain-evaluate")
    run = client.create_run(experiment.id, run_name=name)
    info = client.log_model(run.id, estimator, "model", input_example=X.head(5))
    client.set_terminated(run.id)
    version = client.register_model(info.uri, name).version
    return Pair(client.load_model(f"models:/{name}/{version}"), estimator)


@pytest.fixture(scope="module")
def models(client: Client) -> dict[str, Pair]:
    train = _frame(400, seed=0)
    X = train[FEATURES]
    three = train["label"].where(train.f3 < 1.0, 2)  # a third class only the newcomer knows
    return {
        "weak": _register(
            client, "churn", DecisionTreeClassifier(max_depth=1).fit(X, train.label), X
        ),
        "strong": _register(client, "churn", LogisticRegression().fit(X, train.label), X),
        "three": _register(client, "churn3", LogisticRegression().fit(X, three), X),
        "svc": _register(client, "svc", LinearSVC().fit(X, train.label), X),
        "mean": _register(client, "price", DummyRegressor().fit(X, train.price), X),
        "linear": _register(client, "price", LinearRegression().fit(X, train.price), X),
    }


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    frame = _frame(300, seed=1)
    frame["region"] = np.where(np.arange(300) % 3 == 0, "north", "south")
    frame["request_id"] = [f"r{i}" for i in range(300)]
    return frame


def _classify(
    models: dict[str, Pair], champion: str, challenger: str, holdout: pd.DataFrame, **kwargs: Any
) -> Evaluation:
    options: dict[str, Any] = {"task": "classification", "metric": "accuracy", "n_boot": 300}
    options.update(kwargs)
    return evaluate_pair(
        models[champion].loaded, models[challenger].loaded, holdout, "label", **options
    )


def test_a_better_challenger_wins_on_accuracy_with_mcnemar(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    result = _classify(models, "weak", "strong", holdout)
    X, y = holdout[FEATURES], holdout["label"]
    assert result.champion == accuracy_score(y, models["weak"].estimator.predict(X))
    assert result.challenger == accuracy_score(y, models["strong"].estimator.predict(X))
    assert result.rows == 300
    assert result.improvement() == pytest.approx(result.challenger - result.champion)
    assert result.improvement() > 0.05
    assert result.mcnemar is not None and result.mcnemar.c > result.mcnemar.b
    assert result.mcnemar.p_value < 0.01
    assert result.significant(0.05)


def test_a_worse_challenger_is_never_significant(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    result = _classify(models, "strong", "weak", holdout)
    assert result.improvement() < 0
    assert not result.significant(0.05)
    assert not result.significant(0.5)
    by_auc = _classify(models, "strong", "weak", holdout, metric="roc_auc")
    assert by_auc.improvement() < 0 and not by_auc.significant(0.5)


def test_a_probability_metric_scores_predict_proba(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    result = _classify(models, "weak", "strong", holdout, metric="roc_auc")
    X, y = holdout[FEATURES], holdout["label"]
    weak, strong = models["weak"].estimator, models["strong"].estimator
    assert result.champion == pytest.approx(roc_auc_score(y, weak.predict_proba(X)[:, 1]))
    assert result.challenger == pytest.approx(roc_auc_score(y, strong.predict_proba(X)[:, 1]))
    assert result.bootstrap.lower > 0
    assert result.significant(0.05)  # the bootstrap decides for metrics other than accuracy
    assert result.mcnemar is not None  # still reported


def test_labels_read_back_as_text_and_unlabelled_rows(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    as_text = holdout.astype({"label": object})
    as_text["label"] = [str(v) for v in holdout["label"]]
    as_text.loc[:9, "label"] = None  # labels not arrived yet
    result = _classify(models, "weak", "strong", as_text, metric="log_loss")
    expected = _classify(models, "weak", "strong", holdout.iloc[10:], metric="log_loss")
    assert result.rows == 290
    assert result.to_dict() == expected.to_dict()


def test_a_class_only_the_challenger_knows_is_scored_for_both(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    recent = holdout.copy()
    recent["label"] = recent["label"].where(recent.f3 < 1.0, 2)
    result = _classify(models, "strong", "three", recent, metric="log_loss")
    X, y = recent[FEATURES], recent["label"]
    padded = np.c_[models["strong"].estimator.predict_proba(X), np.zeros(len(X))]
    assert result.champion == pytest.approx(log_loss(y, padded, labels=[0, 1, 2]))
    assert result.improvement() > 0 and result.significant(0.05)
    by_label = _classify(models, "strong", "three", recent)
    assert by_label.champion == accuracy_score(y, models["strong"].estimator.predict(X))


def test_slices_show_where_the_challenger_is_worse(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    X, y = holdout[FEATURES], holdout["label"].to_numpy()
    right_weak = models["weak"].estimator.predict(X) == y
    right_strong = models["strong"].estimator.predict(X) == y
    hurt = right_weak & ~right_strong
    assert hurt.sum() >= 5
    sliced = holdout.copy()
    sliced["segment"] = np.where(hurt | (np.arange(300) < 25), "hurt", "rest")
    result = _classify(models, "weak", "strong", sliced, slices=["segment", "f0"])
    by_value = {(s.column, s.value): s for s in result.slices}
    worse = by_value[("segment", "hurt")]
    assert worse.change < 0 and worse.challenger < worse.champion
    assert worse.rows == int((sliced["segment"] == "hurt").sum())
    assert by_value[("segment", "rest")].change > 0
    bins = [s for s in result.slices if s.column == "f0"]
    assert len(bins) == 4 and sum(s.rows for s in bins) == 300
    assert bins[0].value.startswith("[") and bins[0].value.endswith(")")
    assert bins[-1].value.endswith("]")


def test_a_regression_pair_is_compared_without_mcnemar(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    result = evaluate_pair(
        models["mean"].loaded,
        models["linear"].loaded,
        holdout,
        "price",
        task="regression",
        metric="rmse",
        slices=["region"],
        n_boot=300,
    )
    X, y = holdout[FEATURES], holdout["price"]
    assert result.champion == pytest.approx(
        root_mean_squared_error(y, models["mean"].estimator.predict(X))
    )
    assert result.improvement() == pytest.approx(result.champion - result.challenger)
    assert result.improvement() > 1.0
    assert result.mcnemar is None and result.significant(0.05)
    assert [s.value for s in result.slices] == ["north", "south"]
    assert all(s.change > 0 for s in result.slices)


def test_to_dict_is_json_safe_with_undefined_values(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    pure = holdout.copy()
    pure["truth"] = pure["label"]  # each slice holds one class: ROC AUC is undefined there
    result = _classify(models, "weak", "strong", pure, metric="roc_auc", slices=["truth"])
    assert all(np.isnan(s.champion) for s in result.slices)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["metric"] == "roc_auc" and data["rows"] == 300
    assert data["bootstrap"]["n_boot"] == 300
    assert result.mcnemar is not None and data["mcnemar"]["c"] == result.mcnemar.c
    assert data["slices"][0]["champion"] is None and data["slices"][0]["value"] == "0"
    assert data["improvement"] == pytest.approx(result.improvement())
    assert data["latency"] == {}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "rmse"}, "metric"),
        ({"task": "ranking"}, "task"),
        ({"slices": ["nope"]}, "slices"),
        ({"target": "nope"}, "target"),
    ],
)
def test_bad_requests_name_the_field(
    models: dict[str, Pair], holdout: pd.DataFrame, kwargs: dict[str, Any], field: str
) -> None:
    options: dict[str, Any] = {"task": "classification", "metric": "accuracy", "n_boot": 10}
    target = kwargs.pop("target", "label")
    options.update(kwargs)
    with pytest.raises(InvalidInputError) as caught:
        evaluate_pair(models["weak"].loaded, models["strong"].loaded, holdout, target, **options)
    assert caught.value.field == field


def test_no_labelled_rows_or_no_probabilities_are_refused(
    models: dict[str, Pair], holdout: pd.DataFrame
) -> None:
    unlabelled = holdout.assign(label=np.nan)
    with pytest.raises(InvalidInputError) as caught:
        _classify(models, "weak", "strong", unlabelled)
    assert caught.value.field == "holdout"
    with pytest.raises(InvalidInputError) as caught:
        _classify(models, "svc", "strong", holdout, metric="roc_auc")
    assert caught.value.field == "metric"
    assert _classify(models, "svc", "strong", holdout).rows == 300  # labels still compare


def test_numeric_slices_are_quantile_bins_with_closed_last_bin() -> None:
    values = np.arange(100, dtype=float)
    frame = pd.DataFrame({"x": values, "flag": values % 2 == 0})
    y = np.zeros(100)
    found = compare_slices(frame, ["x", "flag"], y, y + 1.0, y + 0.5, "mae", min_rows=10)
    assert [s.value for s in found] == [
        "[0, 24.75)",
        "[24.75, 49.5)",
        "[49.5, 74.25)",
        "[74.25, 99]",
        "False",
        "True",
    ]
    assert [s.rows for s in found] == [25, 25, 25, 25, 50, 50]
    assert all(s.change == pytest.approx(0.5) for s in found)  # lower mae: an improvement


def test_small_slices_are_left_out_and_missing_values_form_a_slice() -> None:
    frame = pd.DataFrame({"plan": ["a"] * 40 + ["b"] * 5 + [None] * 35})
    y = np.array([1, 0] * 40)
    better = y.copy()
    worse = np.where(np.arange(80) % 4 == 0, 1 - y, y)
    found = compare_slices(frame, ["plan"], y, better, worse, "accuracy")
    assert [(s.value, s.rows) for s in found] == [("a", 40), ("<missing>", 35)]
    assert all(s.change < 0 for s in found)
    with pytest.raises(InvalidInputError) as caught:
        compare_slices(frame, ["plan"], y[:10], better, worse, "accuracy")
    assert caught.value.field == "frame"
