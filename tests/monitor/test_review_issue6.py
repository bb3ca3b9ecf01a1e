"""Adversarial review of issue 6 (monitoring): odd inputs to ``detect_drift``, ``run_monitor``
windows over a hand-written inference log, the SSRF guard, alert rules, report escaping and the
``monitor``/``alerts`` CLI. Each test pins behaviour checked and found right, or a bug the
review found (all six fixed)."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, ModelkeepError
from modelkeep.monitor import DriftConfig, detect_drift, load_rules, run_monitor
from modelkeep.monitor.alert_history import list_alerts
from modelkeep.monitor.netguard import AddressPolicy, forbidden_reason, pin_address
from modelkeep.monitor.report import render_html, render_json
from modelkeep.serve.inference_log import Feedback, InferenceLog, InferenceRecord
from modelkeep.tracking import Client
from modelkeep.train import train

QUOTED = 'it\'s "q" ü'
RULES = (
    "rules:\n  - {name: any-rows, metric: rows, condition: '>', value: 0, channels: [log],"
    " cooldown: 1h}\n"
)


# ---- detect_drift on odd inputs ------------------------------------------------------------
def test_statistics_match_scipy_on_tied_data() -> None:
    rng = np.random.default_rng(1)
    a = np.round(rng.normal(size=12_000), 1)
    b = np.round(rng.normal(0.02, size=15_000), 1)
    ks = detect_drift(
        pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), config=DriftConfig(methods={"x": "ks"})
    ).columns["x"]
    wd = detect_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b})).columns["x"]
    expected = scipy_stats.ks_2samp(a, b)

    assert ks.statistic == pytest.approx(expected.statistic)
    assert ks.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert wd.method == "wasserstein"
    assert wd.statistic == pytest.approx(scipy_stats.wasserstein_distance(a, b) / a.std())


def test_polars_bool_and_constant_columns_follow_evidently() -> None:
    ref = pl.DataFrame({"b": [True, False] * 100, "k": [1.0] * 200})
    cur = pl.DataFrame({"b": [True] * 200, "k": [1.0] * 200})

    result = detect_drift(ref, cur)

    assert result.columns["b"].kind == "categorical" and result.columns["b"].method == "z"
    assert result.columns["b"].drifted
    assert result.columns["k"].p_value == 1.0 and not result.columns["k"].drifted
    assert result.drift_share == 0.5 and result.dataset_drift


def test_infinite_values_count_as_missing() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=100)})
    cur = pd.DataFrame({"x": np.r_[rng.normal(size=98), np.inf, -np.inf]})

    column = detect_drift(ref, cur).columns["x"]

    assert column.current_rows == 98 and np.isfinite(column.statistic)


def test_an_all_missing_or_empty_current_is_an_error_naming_the_column() -> None:
    ref = pd.DataFrame({"x": np.arange(50.0)})
    for current in (pd.DataFrame({"x": [np.nan] * 5}), ref.iloc[:0]):
        with pytest.raises(InvalidInputError) as caught:
            detect_drift(ref, current)
        assert caught.value.field == "x"


def test_a_column_on_one_side_only_is_left_out_unless_named() -> None:
    ref = pd.DataFrame({"x": np.arange(30.0), "only_ref": np.arange(30.0)})
    cur = pd.DataFrame({"x": np.arange(30.0)})

    assert list(detect_drift(ref, cur).columns) == ["x"]
    with pytest.raises(InvalidInputError) as caught:
        detect_drift(ref, cur, columns=["only_ref"])
    assert caught.value.field == "only_ref"


def test_an_unseen_category_is_an_infinite_chisquare_and_strict_json() -> None:
    result = detect_drift(
        pd.DataFrame({"c": ["a", "b"] * 50}), pd.DataFrame({"c": ["a", "z"] * 50})
    )
    column = result.columns["c"]
    text = render_json({"model": "m", "window": {}, "drift": result.to_dict()})

    assert column.method == "chisquare" and column.statistic == np.inf and column.drifted
    assert json.loads(text)["drift"]["columns"]["c"]["statistic"] == "Infinity"


def test_integer_column_labels_are_compared() -> None:
    ref = pd.DataFrame({0: np.arange(40.0)})
    cur = pd.DataFrame({0: np.arange(40.0)})

    result = detect_drift(ref, cur)

    assert not result.dataset_drift and len(result.columns) == 1


def test_a_non_numeric_drift_share_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError) as caught:
        DriftConfig(drift_share="a")  # type: ignore[arg-type]
    assert caught.value.field == "drift_share"


def test_report_escapes_column_names_and_categories(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    name = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
    ref = pd.DataFrame({name: rng.choice(["<b>a</b>", "b&c"], 300)})
    cur = pd.DataFrame({name: rng.choice(["<i>z</i>", "b&c"], 300)})
    path = tmp_path / "r.html"

    detect_drift(ref, cur).save_html(path)
    page = path.read_text(encoding="utf-8")
    alerts = [{"rule": "r", "message": name, "severity": "critical", "metric": name, "value": 1}]
    full = render_html({"model": name, "window": {"rows": 1}, "drift": {}, "alerts": alerts})

    for html in (page, full):
        assert "<script" not in html.lower() and "<img" not in html


# ---- the SSRF guard ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f000001", "017700000001", "127.1", "[::1]", "[::ffff:127.0.0.1]",
     "[::ffff:169.254.169.254]", "localhost"],
)  # fmt: skip
def test_numeric_and_ipv6_forms_of_inside_addresses_are_refused(host: str) -> None:
    import httpx

    url = httpx.URL(f"http://{host}:8080/hook")
    with pytest.raises(InvalidInputError) as caught:
        pin_address(url.host, 8080, AddressPolicy())
    assert caught.value.field == "url"


def test_a_name_resolving_to_any_inside_address_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(InvalidInputError):
        pin_address("hooks.example", 443, AddressPolicy(), resolver)
    assert pin_address("hooks.example", 443, AddressPolicy(allow_private=True), resolver)


@pytest.mark.parametrize("address", ["2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1"])
def test_ipv6_transition_forms_of_inside_addresses_are_refused(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


# ---- alert rules ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules:\n  - {name: a, metric: m, condition: '>', value: 1, cooldown: soon}\n",
         "rules.0.cooldown"),
        ("rules:\n  - {name: a, metric: m, condition: '=>', value: 1}\n", "rules.0.condition"),
        ("rules:\n  - {name: a, metric: m, condition: '>'}\n", "rules.0.value"),
        ("rules:\n  - {name: a, metric: m, condition: outside, band: [2, 1]}\n", "rules.0.band"),
        ("rules:\n  - {name: a, metric: m, condition: '>', value: 1, sevrity: info}\n",
         "rules.0.sevrity"),
        ("rules:\n  - {name: a, metric: m, condition: '>', value: 1, channels: [nope]}\n",
         "rules.0.channels.0"),
        ("channels:\n  hook: {type: webhook, url: 'ftp://x'}\nrules:\n"
         "  - {name: a, metric: m, condition: '>', value: 1, channels: [hook]}\n",
         "channels.hook.url"),
        ("rules: [\n", "rules"),
    ],
)  # fmt: skip
def test_rule_errors_name_their_key(text: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_rules(text)
    assert caught.value.field == field


# ---- run_monitor over a hand-written inference log -----------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A logistic model trained on a, b, c registered under several names (one with quotes and
    unicode); predictions of each written straight into the inference log."""
    import modelkeep as mk

    home = tmp_path_factory.mktemp("review6")
    settings = Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({k: rng.normal(size=400) for k in "abc"})
    frame["target"] = (frame["a"] + frame["b"] > 0).astype(int)
    frame.to_csv(home / "d.csv", index=False)
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        trained = train(
            {
                "task": "classification",
                "data": str(home / "d.csv"),
                "target": "target",
                "model": {"family": "logistic"},
                "split": {"kind": "holdout", "test_size": 0.3},
                "register": {"name": QUOTED, "alias": "champion"},
                "seed": 0,
            }
        )
    finally:
        mk.set_tracking_uri(None)
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        for name in ("nullfeature", "badlabel"):
            client.register_model(trained.model_uri, name)
    now = int(time.time() * 1000)
    root = home / "inference"
    _log(root, QUOTED, "1", 100, now - 60_000, rng, labels=lambda i: i % 2)
    _log(root, QUOTED, "2", 30, now - 50_000, rng)  # a hot-reloaded version's rows
    _log(root, "nullfeature", "1", 80, now - 60_000, rng, null_c=True)
    _log(root, "badlabel", "1", 80, now - 60_000, rng, labels=lambda i: "cat" if i == 0 else i % 2)
    return {"settings": settings, "home": home}


def _log(
    root: Path, name: str, version: str, rows: int, start: int, rng: Any, *,
    null_c: bool = False, labels: Any = None,
) -> None:  # fmt: skip
    with InferenceLog(root) as log:
        records = []
        for i in range(rows):
            inputs = {
                "a": float(rng.normal()),
                "b": float(rng.normal()),
                "c": None if null_c else float(rng.normal()),
            }
            records.append(
                InferenceRecord(
                    f"{name}-{version}-{i}",
                    start + i,
                    name,
                    version,
                    "primary",
                    inputs,
                    i % 2,
                    [0.4, 0.6],
                    1.0,
                )  # fmt: skip
            )
        log.append(records)
        if labels is not None:
            log.append_feedback(
                name,
                [Feedback(f"{name}-{version}-{i}", labels(i), start + i + 1) for i in range(rows)],
            )


def test_quoted_unicode_model_history_cooldown_and_versions(world: dict[str, Any]) -> None:
    settings = world["settings"]
    uri = f"models:/{QUOTED}@champion"

    first = run_monitor(uri, "1h", rules=RULES, settings=settings)
    second = run_monitor(uri, "1h", rules=RULES, settings=settings)
    counted = run_monitor(uri, "40", settings=settings)
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        history = list_alerts(client, QUOTED)

    assert first.rows == 100 and first.version == "1"  # version 2's rows are not version 1's
    assert [a["rule"] for a in first.alerts] == ["any-rows"] and second.alerts == []
    assert len(history) == 1 and history[0]["model"] == QUOTED
    assert first.metrics["performance.accuracy"] == 1.0
    assert counted.rows == 40


def test_cli_alerts_list_json_and_bad_windows(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world["settings"]
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    runner = CliRunner()
    store = ["--store", settings.resolved_tracking_uri()]
    run_monitor(f"models:/{QUOTED}@champion", "1h", rules=RULES, settings=settings)

    listed = runner.invoke(cli_app, [*store, "alerts", "list", "--model", QUOTED, "--json"])
    nothing = runner.invoke(cli_app, [*store, "alerts", "list", "--model", "nobody", "--json"])
    assert listed.exit_code == 0 and all(a["model"] == QUOTED for a in json.loads(listed.stdout))
    assert nothing.exit_code == 0 and json.loads(nothing.stdout) == []
    for window in ("soon", "0s", "-1h", "1e3h"):
        ran = runner.invoke(
            cli_app, [*store, "monitor", "run", f"models:/{QUOTED}@champion", "--window", window]
        )
        assert ran.exit_code == 1 and ran.output.startswith("Error: window"), ran.output
        assert len(ran.output.strip().splitlines()) == 1


def test_an_absurd_window_is_one_error_line(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world["settings"]
    monkeypatch.setenv("MODELKEEP_HOME", str(settings.home))
    ran = CliRunner().invoke(
        cli_app,
        ["--store", settings.resolved_tracking_uri(), "monitor", "run",
         f"models:/{QUOTED}@champion", "--window", "99999999999999999999d"],
    )  # fmt: skip

    assert ran.exit_code == 1 and ran.output.startswith("Error:"), repr(ran.exception)


def test_a_feature_null_for_a_whole_window_is_monitored(world: dict[str, Any]) -> None:
    result = run_monitor("models:/nullfeature/1", "1h", rules=RULES, settings=world["settings"])

    assert result.rows == 80
    assert result.report["quality"]["missing_rate"]["c"] == 1.0
    assert [a["rule"] for a in result.alerts] == ["any-rows"]


def test_a_stray_feedback_label_does_not_stop_monitoring(world: dict[str, Any]) -> None:
    result = run_monitor("models:/badlabel/1", "1h", settings=world["settings"])

    assert result.rows == 80 and "drift.share" in result.metrics


def test_errors_of_run_monitor_are_modelkeep_errors(world: dict[str, Any]) -> None:
    settings = world["settings"]
    for kwargs in ({"window": "soon"}, {"window": "1h", "thresholds": "bogus"}):
        with pytest.raises(ModelkeepError):
            run_monitor(f"models:/{QUOTED}@champion", settings=settings, **kwargs)
