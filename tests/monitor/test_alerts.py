"""Alert rules: parsing (errors name the key), conditions, cooldown and de-duplication, and
delivery through the log channel and a user's channel plugin."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError
from modelkeep.monitor.alert_rules_parse import parse_duration
from modelkeep.monitor.alerts import (
    Alert,
    AlertRule,
    AlertRules,
    dedup_key,
    deliver,
    evaluate_rules,
    load_rules,
)
from modelkeep.monitor.channels import (
    AlertChannel,
    ChannelSpec,
    DeliveryError,
    available_channels,
    parse_channel_options,
    register_channel,
)

RULES_YAML = """
channels:
  ops-hook: {type: webhook, url: "https://hooks.example/x", format: slack, timeout_s: 5,
             retries: 3, allow_hosts: []}
  oncall: {type: email, smtp_host: localhost, smtp_port: 25, from: mk@example.com,
           to: [a@example.com], starttls: false, username: null, password_env: null}
  log: {type: log}
rules:
  - {name: drift, metric: drift.share, condition: ">=", value: 0.5, severity: critical,
     cooldown: 1h, channels: [ops-hook, log]}
  - name: accuracy
    metric: estimated.accuracy.value
    condition: outside
    band: [0.8, 1.0]
    cooldown: 15m
  - {name: missing-f0, metric: quality.missing_rate_change.f0, condition: ">", value: 0.1,
     severity: info, cooldown: 90s, channels: [oncall]}
"""

WINDOW = (1_700_000_000_000, 1_700_003_600_000)
NOW = 1_700_003_601_000


def never(key: str) -> int | None:
    return None


def one_rule(**fields: Any) -> AlertRules:
    rule = {"name": "r", "metric": "m", "condition": ">", "value": 1.0, **fields}
    return load_rules({"rules": [rule]})


# --- parsing ---------------------------------------------------------------------------------


def test_rules_parse_from_yaml_text() -> None:
    rules = load_rules(RULES_YAML)

    drift, accuracy, missing = rules.rules
    assert drift == AlertRule(
        name="drift", metric="drift.share", condition=">=", value=0.5, severity="critical",
        cooldown_s=3600.0, channels=("ops-hook", "log"),
    )  # fmt: skip
    assert (accuracy.condition, accuracy.band, accuracy.value) == ("outside", (0.8, 1.0), None)
    assert (accuracy.severity, accuracy.cooldown_s) == ("warning", 900)
    assert accuracy.channels == ("log",)
    assert (missing.cooldown_s, missing.severity) == (90.0, "info")
    assert rules.channels["ops-hook"] == ChannelSpec(
        "ops-hook", "webhook",
        {"url": "https://hooks.example/x", "format": "slack", "timeout_s": 5, "retries": 3,
         "allow_hosts": []},
    )  # fmt: skip
    assert rules.channels["oncall"].type == "email"
    assert rules.channels["oncall"].options["from"] == "mk@example.com"


def test_rules_parse_from_a_file_and_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(RULES_YAML, encoding="utf-8")

    from_path = load_rules(path)
    from_str_path = load_rules(str(path))
    from_dict = load_rules({"rules": [{"name": "d", "metric": "drift.share", "condition": "<",
                                       "value": 1}]})  # fmt: skip

    assert from_path == from_str_path == load_rules(RULES_YAML)
    assert from_dict.rules[0].value == 1.0
    assert set(from_dict.channels) == {"log"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800),
     (" 45 ", 45), (120, 120), (0, 0), (2.5, 2.5)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1y", "h", "-5s", "", "1h-", True, -1, None, "1.5.2s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# fmt: off
BAD_DOCUMENTS = [
    ("rulez: []", "rulez", "did you mean 'rules'"),
    ("channels: {}", "rules", "required key is missing"),
    ("rules: [{name: a, metric: m, condition: '>', valu: 1}]", "rules.0.valu", "'value'"),
    ("rules: [{name: a, metric: m, condition: '~', value: 1}]", "rules.0.condition", "'outside'"),
    ("rules: [{name: a, metric: m, condition: '>'}]", "rules.0.value", "needs a value"),
    ("rules: [{name: a, metric: m, condition: '>', value: .nan}]", "rules.0.value", "NaN"),
    ("rules: [{name: a, metric: m, condition: '>', value: x}]", "rules.0.value", "number"),
    ("rules: [{name: a, metric: m, condition: outside, value: 1}]", "rules.0.band", "band"),
    ("rules: [{name: a, metric: m, condition: outside, band: [2, 1]}]", "rules.0.band", "lo <="),
    ("rules: [{name: a, metric: m, condition: outside, band: [1]}]", "rules.0.band.1", "missing"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1, band: [0, 1]}]", "rules.0.band",
     "not band"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1, severity: urgent}]",
     "rules.0.severity", "'critical'"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1, cooldown: soon}]",
     "rules.0.cooldown", "duration"),
    ("rules: [{name: 'a b', metric: m, condition: '>', value: 1}]", "rules.0.name", "letters"),
    ("rules: [{name: a, metric: '', condition: '>', value: 1}]", "rules.0.metric", "metric"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1, channels: []}]",
     "rules.0.channels", "at least one"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1},"
     " {name: a, metric: n, condition: '<', value: 1}]", "rules.1.name", "another rule"),
    ("rules: [{name: a, metric: m, condition: '>', value: 1, channels: [log, pager]}]",
     "rules.0.channels.1", "no channel named 'pager'"),
    ("rules: [{metric: m, condition: '>', value: 1}]", "rules.0.name", "missing"),
    ("rules: [5]", "rules.0", "dictionary"),
    ("channels: {h: {url: 'https://x.example'}}\nrules: []", "channels.h.type", "missing"),
    ("channels: {h: {type: pager}}\nrules: []", "channels.h.type", "unknown channel type"),
    ("channels: {h: 5}\nrules: []", "channels.h", "dictionary"),
    ("channels: {log: {type: webhook, url: 'https://x.example'}}\nrules: []",
     "channels.log.type", "built-in"),
    ("channels: {'h h': {type: log}}\nrules: []", "channels.h h", "channel name"),
    ("channels: {h: {type: log, level: debug}}\nrules: []", "channels.h.level", "unknown key"),
    ("channels: {h: {type: webhook, url: 'ftp://x.example'}}\nrules: []", "channels.h.url",
     "http"),
    ("channels: {h: {type: webhook}}\nrules: []", "channels.h.url", "missing"),
    ("channels: {h: {type: webhook, url: 'https://x.example', retry: 2}}\nrules: []",
     "channels.h.retry", "did you mean 'retries'"),
    ("channels: {h: {type: webhook, url: 'https://x.example', timeout_s: 0}}\nrules: []",
     "channels.h.timeout_s", "greater than 0"),
    ("channels: {h: {type: webhook, url: 'https://x.example', format: teams}}\nrules: []",
     "channels.h.format", "'slack'"),
    ("channels: {h: {type: email, from: a@x.example}}\nrules: []", "channels.h.to", "missing"),
    ("channels: {h: {type: email, from: a@x.example, to: []}}\nrules: []", "channels.h.to",
     "at least 1"),
    ("channels: {h: {type: email, from: nobody, to: [a@x.example]}}\nrules: []",
     "channels.h.from", "not an email address"),
    ("channels: {h: {type: email, sender: a@x.example, to: [a@x.example]}}\nrules: []",
     "channels.h.sender", "unknown key"),
    ("rules: [{name: a", "rules", "line"),
    ("- just\n- a list", "rules", "mapping"),
    ("", "rules", "mapping"),
]
# fmt: on


@pytest.mark.parametrize(("text", "field", "words"), BAD_DOCUMENTS)
def test_rule_errors_name_the_key(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_rules(text)

    assert caught.value.field == field
    assert words in caught.value.message
    if field != "rules":
        assert caught.value.message.startswith(f"{field}:")


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not found") as caught:
        load_rules(tmp_path / "nope.yaml")

    assert caught.value.field == "rules"


def test_rules_built_in_python_are_checked() -> None:
    with pytest.raises(InvalidInputError) as caught:
        AlertRule(name="r", metric="m", condition="outside", band=(1.0, math.inf))

    assert caught.value.field == "band"


# --- conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "threshold", "observed", "fires"),
    [
        (">", 0.5, 0.6, True), (">", 0.5, 0.5, False),
        (">=", 0.5, 0.5, True), (">=", 0.5, 0.4, False),
        ("<", 0.8, 0.7, True), ("<", 0.8, 0.8, False),
        ("<=", 0.8, 0.8, True), ("<=", 0.8, 0.9, False),
        ("==", 1.0, 1.0, True), ("==", 1.0, 0.0, False),
        ("!=", 0.0, 1.0, True), ("!=", 0.0, 0.0, False),
        (">", 0.5, math.inf, True), ("<", 0.5, -math.inf, True),
        (">", 0.5, math.nan, False), ("!=", 0.5, math.nan, False),
    ],
)  # fmt: skip
def test_comparisons(condition: str, threshold: float, observed: float, fires: bool) -> None:
    rules = one_rule(condition=condition, value=threshold)

    fired = evaluate_rules(rules, {"m": observed}, model="churn", window=WINDOW,
                           last_fired=never, now_ms=NOW)  # fmt: skip

    assert bool(fired) is fires


@pytest.mark.parametrize(
    ("observed", "fires"),
    [(0.79, True), (0.8, False), (0.9, False), (1.0, False), (1.01, True), (math.nan, False)],
)
def test_outside_band(observed: float, fires: bool) -> None:
    rules = one_rule(condition="outside", value=None, band=[0.8, 1.0])

    fired = evaluate_rules(rules, {"m": observed}, model="churn", window=WINDOW,
                           last_fired=never, now_ms=NOW)  # fmt: skip

    assert bool(fired) is fires


def test_fired_alert_fields() -> None:
    rules = load_rules(RULES_YAML)
    metrics = {"drift.share": 0.75, "estimated.accuracy.value": 0.9,
               "quality.missing_rate_change.f0": 0.0}  # fmt: skip

    [alert] = evaluate_rules(rules, metrics, model="churn", window=WINDOW, last_fired=never,
                             now_ms=NOW)  # fmt: skip

    assert alert == Alert(
        rule="drift", model="churn", metric="drift.share", value=0.75, severity="critical",
        message="[critical] churn: drift: drift.share = 0.75 (>= 0.5)",
        window_start_ms=WINDOW[0], window_end_ms=WINDOW[1], fired_at_ms=NOW,
        dedup_key="churn:drift",
    )  # fmt: skip
    assert alert.to_dict()["dedup_key"] == dedup_key("churn", "drift")


def test_absent_metrics_do_not_fire_and_booleans_count() -> None:
    rules = one_rule(condition="==", value=1)

    assert evaluate_rules(rules, {}, model="m", window=WINDOW, last_fired=never) == []
    fired = evaluate_rules(rules, {"m": True}, model="m", window=WINDOW, last_fired=never)
    assert [a.value for a in fired] == [1.0]


def test_a_metric_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        evaluate_rules(one_rule(), {"m": "high"}, model="m", window=WINDOW, last_fired=never)  # type: ignore[dict-item]

    assert caught.value.field == "metrics.m"


# --- cooldown and de-duplication --------------------------------------------------------------


class History:
    """What the runner keeps: when each dedup key last fired."""

    def __init__(self) -> None:
        self.fired: dict[str, int] = {}
        self.asked: list[str] = []

    def last_fired(self, key: str) -> int | None:
        self.asked.append(key)
        return self.fired.get(key)

    def run(self, rules: AlertRules, value: float, now_ms: int, model: str = "churn") -> list[str]:
        alerts = evaluate_rules(rules, {"m": value}, model=model, window=WINDOW,
                                last_fired=self.last_fired, now_ms=now_ms)  # fmt: skip
        for alert in alerts:
            self.fired[alert.dedup_key] = alert.fired_at_ms
        return [alert.rule for alert in alerts]


def test_cooldown_suppresses_repeats_of_the_same_rule_and_model() -> None:
    rules = one_rule(cooldown="1h")
    history = History()
    hour = 3_600_000

    assert history.run(rules, 2.0, NOW) == ["r"]
    assert history.asked == ["churn:r"]
    assert history.run(rules, 2.0, NOW + hour - 1) == []
    assert history.run(rules, 2.0, NOW + hour) == ["r"]
    assert history.run(rules, 2.0, NOW + hour + 1) == []


def test_cooldown_is_per_model_and_per_rule() -> None:
    rules = load_rules({"rules": [
        {"name": "a", "metric": "m", "condition": ">", "value": 1, "cooldown": "1h"},
        {"name": "b", "metric": "m", "condition": ">", "value": 1, "cooldown": "1h"},
    ]})  # fmt: skip
    history = History()

    assert history.run(rules, 2.0, NOW, model="churn") == ["a", "b"]
    assert history.run(rules, 2.0, NOW + 1, model="fraud") == ["a", "b"]
    history.fired.pop("churn:b")
    assert history.run(rules, 2.0, NOW + 2, model="churn") == ["b"]


def test_zero_cooldown_fires_every_window() -> None:
    rules = one_rule(cooldown=0)
    history = History()

    assert history.run(rules, 2.0, NOW) == ["r"]
    assert history.run(rules, 2.0, NOW) == ["r"]


def test_a_rule_that_does_not_fire_is_not_looked_up() -> None:
    history = History()

    assert history.run(one_rule(), 0.5, NOW) == []
    assert history.asked == []


# --- delivery --------------------------------------------------------------------------------


def fire(rules: AlertRules, value: float = 2.0) -> Alert:
    [alert] = evaluate_rules(rules, {"m": value}, model="churn", window=WINDOW,
                             last_fired=never, now_ms=NOW)  # fmt: skip
    return alert


@pytest.mark.parametrize(
    ("severity", "level"),
    [("info", logging.INFO), ("warning", logging.WARNING), ("critical", logging.CRITICAL)],
)
def test_log_channel_logs_at_the_severity(
    caplog: pytest.LogCaptureFixture, severity: str, level: int
) -> None:
    rules = one_rule(severity=severity)
    alert = fire(rules)

    with caplog.at_level(logging.INFO, logger="modelkeep.monitor.alerts"):
        assert deliver(alert, rules) == {"log": "sent"}

    [record] = [r for r in caplog.records if r.name == "modelkeep.monitor.alerts"]
    assert (record.levelno, record.getMessage()) == (level, alert.message)


class Collect(AlertChannel):
    """A user's channel plugin: keeps what it is sent, or fails on demand."""

    def __init__(self, box: list[Alert], fail: bool) -> None:
        self.box, self.fail = box, fail

    def send(self, alert: Alert) -> None:
        if self.fail:
            raise DeliveryError("pager is down")
        self.box.append(alert)


def _collect_factory(box: list[Alert]) -> Any:
    from pydantic import BaseModel, ConfigDict

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        fail: bool = False

    def factory(spec: ChannelSpec) -> AlertChannel:
        return Collect(box, parse_channel_options(Options, spec).fail)

    return factory


def test_a_plugin_channel_is_registered_like_the_built_ins() -> None:
    box: list[Alert] = []
    register_channel("test-collect", _collect_factory(box))
    rules = load_rules({
        "channels": {"mine": {"type": "test-collect"},
                     "broken": {"type": "test-collect", "fail": True}},
        "rules": [{"name": "r", "metric": "m", "condition": ">", "value": 1,
                   "channels": ["broken", "mine", "log"]}],
    })  # fmt: skip
    alert = fire(rules)

    outcome = deliver(alert, rules)

    assert outcome == {"broken": "failed: pager is down", "mine": "sent", "log": "sent"}
    assert box == [alert]
    assert {"log", "webhook", "email", "test-collect"} <= set(available_channels())


def test_plugin_options_are_checked_at_load() -> None:
    register_channel("test-collect-2", _collect_factory([]))

    with pytest.raises(InvalidInputError) as caught:
        load_rules({"channels": {"mine": {"type": "test-collect-2", "fial": True}}, "rules": []})

    assert caught.value.field == "channels.mine.fial"
    assert "did you mean 'fail'" in caught.value.message


def test_a_channel_type_is_registered_once() -> None:
    register_channel("test-once", _collect_factory([]))

    with pytest.raises(AlreadyExistsError):
        register_channel("test-once", _collect_factory([]))
    register_channel("test-once", _collect_factory([]), replace=True)


def test_a_plugin_that_crashes_does_not_stop_delivery() -> None:
    def crash(spec: ChannelSpec) -> AlertChannel:
        if spec.options:
            raise RuntimeError("boom")
        return Collect([], fail=False)

    register_channel("test-crash", crash)
    rules = load_rules({
        "channels": {"c": {"type": "test-crash"}},
        "rules": [{"name": "r", "metric": "m", "condition": ">", "value": 1,
                   "channels": ["c", "log"]}],
    })  # fmt: skip
    crashing = AlertRules(
        rules.rules, {**rules.channels, "c": ChannelSpec("c", "test-crash", {"x": 1})}
    )

    assert deliver(fire(rules), crashing) == {"c": "failed: boom", "log": "sent"}


def test_deliver_needs_the_alerts_rule() -> None:
    alert = fire(one_rule())

    with pytest.raises(InvalidInputError) as caught:
        deliver(alert, load_rules({"rules": []}))

    assert caught.value.field == "rule"
