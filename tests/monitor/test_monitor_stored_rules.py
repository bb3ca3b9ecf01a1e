"""Issue 6 remainder: alert rules stored with a registered model, a rule's ``window`` /
``aggregate`` over earlier monitoring windows, and labels from a file joined by request id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.alerts import evaluate_rules, load_rules
from modelkeep.monitor.labels import read_labels
from modelkeep.monitor.model_rules import (
    clear_alert_rules,
    store_alert_rules,
    stored_alert_rules,
)
from modelkeep.monitor.runner import run_monitor
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client
from modelkeep.train import train

HOUR_MS = 3_600_000
STORED = """
rules:
  - {name: any-rows, metric: rows, condition: ">", value: 0, cooldown: 0, channels: [log]}
"""


def _rules(window: str | None, aggregate: str = "mean") -> Any:
    extra = "" if window is None else f", window: {window}, aggregate: {aggregate}"
    return load_rules(
        "rules:\n  - {name: low, metric: performance.accuracy, condition: '<', value: 0.8, "
        f"cooldown: 0{extra}}}\n"
    )


def _fire(rules: Any, value: float, history: list[tuple[int, dict[str, float]]]) -> list[Any]:
    return evaluate_rules(
        rules, {"performance.accuracy": value}, model="m", window=(0, 10 * HOUR_MS),
        last_fired=lambda key: None, now_ms=10 * HOUR_MS, history=history,
    )  # fmt: skip


def test_a_windowed_rule_uses_the_mean_of_the_windows_inside_it() -> None:
    history = [(9 * HOUR_MS, {"performance.accuracy": 0.9}),
               (8 * HOUR_MS, {"performance.accuracy": 0.95}),
               (2 * HOUR_MS, {"performance.accuracy": 0.1})]  # fmt: skip

    plain = _fire(_rules(None), 0.7, history)
    windowed = _fire(_rules("3h"), 0.7, history)  # mean(0.7, 0.9, 0.95) = 0.85: not below
    wide = _fire(_rules("9h"), 0.7, history)  # mean(0.7, 0.9, 0.95, 0.1) = 0.6625

    assert [a.rule for a in plain] == ["low"]
    assert windowed == []
    assert len(wide) == 1 and wide[0].value == pytest.approx(0.6625)
    assert "mean of 4 windows in 9h" in wide[0].message


def test_a_windowed_rule_with_max_fires_only_when_sustained() -> None:
    history = [(9 * HOUR_MS, {"performance.accuracy": 0.9})]

    assert _fire(_rules("2h", "max"), 0.5, history) == []  # the earlier window was fine
    sustained = _fire(_rules("2h", "max"), 0.5, [(9 * HOUR_MS, {"performance.accuracy": 0.7})])
    assert [a.value for a in sustained] == [0.7]


@pytest.mark.parametrize(
    ("extra", "field"),
    [(", window: -5m", "rules.0.window"), (", window: 0", "rules.0.window"),
     (", aggregate: median", "rules.0.aggregate")],
)  # fmt: skip
def test_bad_rule_window_or_aggregate_names_the_key(extra: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_rules(f"rules:\n  - {{name: r, metric: rows, condition: '>', value: 1{extra}}}\n")
    assert caught.value.field == field


def test_read_labels_from_csv_and_parquet(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,label,other\n007,1,x\n8,0,y\n007,0,z\n,1,w\n")
    frame = pd.DataFrame({"request_id": ["a", "b"], "label": ["yes", "no"]})
    frame.to_parquet(tmp_path / "labels.parquet")

    from_csv = read_labels(csv)
    from_parquet = read_labels(tmp_path / "labels.parquet")

    assert from_csv.to_dict() == {"007": 0, "8": 0}  # last row wins; ids stay text
    assert from_parquet.to_dict() == {"a": "yes", "b": "no"}


@pytest.mark.parametrize(
    ("name", "text"), [("l.csv", "id,label\n1,0\n"), ("l.json", "{}"), ("missing.csv", None)]
)
def test_bad_labels_files_are_refused(tmp_path: Path, name: str, text: str | None) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        read_labels(path)
    assert caught.value.field == "labels"


# ---- end to end on a served model ---------------------------------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("stored-rules-home")
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[tuple[list[str], np.ndarray[Any, Any]]]:
    """A model trained, registered as champion, and sent 120 requests (no feedback)."""
    import modelkeep as mk

    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(settings.home / "cancer.csv", index=False)
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        train({"task": "classification", "data": str(settings.home / "cancer.csv"),
               "target": "target", "seed": 0,
               "model": {"family": "logistic", "params": {"max_iter": 500}},
               "register": {"name": "cancer", "alias": "champion"}})  # fmt: skip
    finally:
        mk.set_tracking_uri(None)
    X = frame.drop(columns=["target"])
    picked = np.random.default_rng(1).choice(len(X), 120)
    ids = []
    with TestClient(create_serving_app(ServeOptions("models:/cancer@champion"), settings)) as app:
        for k, index in enumerate(picked):
            body = {"dataframe_split": {"columns": list(X.columns),
                                        "data": [X.iloc[index].tolist()]}}  # fmt: skip
            answer = app.post("/invocations", json=body, headers={"x-request-id": f"r{k}"})
            assert answer.status_code == 200, answer.text
            ids.append(f"r{k}")
    yield ids, frame["target"].to_numpy()[picked]


def test_stored_rules_are_used_when_none_are_given(settings: Settings, served: Any) -> None:
    uri = settings.resolved_tracking_uri()
    with Client(uri, settings=settings) as client:
        store_alert_rules(client, "cancer", STORED)
        assert "any-rows" in (stored_alert_rules(client, "cancer") or "")

    with_stored = run_monitor("models:/cancer@champion", "1h", settings=settings)
    explicit = run_monitor("models:/cancer@champion", "1h", settings=settings,
                           rules="rules: []")  # fmt: skip
    with Client(uri, settings=settings) as client:
        assert clear_alert_rules(client, "cancer") and not clear_alert_rules(client, "cancer")
    after_clear = run_monitor("models:/cancer@champion", "1h", settings=settings)

    assert [a["rule"] for a in with_stored.alerts] == ["any-rows"]
    assert explicit.alerts == [] and after_clear.alerts == []


def test_storing_bad_rules_keeps_the_old_ones(settings: Settings, served: Any) -> None:
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        store_alert_rules(client, "cancer", STORED)
        with pytest.raises(InvalidInputError) as bad:
            store_alert_rules(client, "cancer", "rules:\n  - {name: r, metric: rows}\n")
        with pytest.raises(NotFoundError):
            store_alert_rules(client, "no-such-model", STORED)
        kept = stored_alert_rules(client, "cancer")
        clear_alert_rules(client, "cancer")
    assert bad.value.field == "rules.0.condition"
    assert kept == STORED


def test_a_labels_file_gives_realized_performance(
    settings: Settings, served: Any, tmp_path: Path
) -> None:
    ids, labels = served
    without = run_monitor("models:/cancer@champion", "1h", settings=settings, rules="rules: []")
    path = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids[:80], "label": labels[:80]}).to_csv(path, index=False)

    with_file = run_monitor("models:/cancer@champion", "1h", settings=settings,
                            rules="rules: []", labels=path)  # fmt: skip

    assert "performance.accuracy" not in without.metrics
    assert 0.8 <= with_file.metrics["performance.accuracy"] <= 1.0
    wrong = pd.DataFrame({"request_id": ids[:80], "label": 1 - labels[:80]})
    flipped = run_monitor("models:/cancer@champion", "1h", settings=settings,
                          rules="rules: []", labels=wrong)  # fmt: skip
    assert flipped.metrics["performance.accuracy"] == pytest.approx(
        1 - with_file.metrics["performance.accuracy"]
    )


def test_cli_rules_set_show_clear_and_labels(
    settings: Settings, served: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    store = ["--store", settings.resolved_tracking_uri()]
    rules = tmp_path / "rules.yaml"
    rules.write_text(STORED)
    runner = CliRunner()
    ids, labels = served
    labels_file = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids, "label": labels}).to_csv(labels_file, index=False)

    stored = runner.invoke(cli_app, [*store, "monitor", "rules", "set", "cancer", str(rules)])
    shown = runner.invoke(cli_app, [*store, "monitor", "rules", "show", "cancer", "--json"])
    ran = runner.invoke(cli_app, [*store, "monitor", "run", "models:/cancer@champion",
                                  "--labels", str(labels_file), "--json"])  # fmt: skip
    cleared = runner.invoke(cli_app, [*store, "monitor", "rules", "clear", "cancer"])
    missing = runner.invoke(cli_app, [*store, "monitor", "rules", "show", "nope"])

    assert stored.exit_code == 0 and "any-rows" in stored.stdout, stored.output
    assert json.loads(shown.stdout)["rules"] == STORED
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert [a["rule"] for a in result["alerts"]] == ["any-rows"]
    assert "performance.accuracy" in result["metrics"]
    assert cleared.exit_code == 0 and "Cleared" in cleared.stdout
    assert missing.exit_code != 0 and "Traceback" not in missing.output
