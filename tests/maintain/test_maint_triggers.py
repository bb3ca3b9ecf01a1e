"""Triggers fire just past their thresholds and not at or before them; missing observations
never fire; plugins register like the built-in kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError
from modelkeep.maintain import triggers
from modelkeep.maintain.policy import TriggerSpec, load_policy
from modelkeep.maintain.triggers import (
    TriggerContext,
    TriggerResult,
    evaluate_triggers,
    register_trigger,
    trigger_kinds,
)

DAY_MS = 86_400_000


def _judge(trigger: dict[str, Any], **context: Any) -> TriggerResult:
    policy = load_policy({"model": "churn", "triggers": [trigger]})
    context.setdefault("now_ms", 10 * DAY_MS)
    (result,) = evaluate_triggers(policy, TriggerContext(**context))
    return result


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kinds registered by a test disappear after it."""
    monkeypatch.setattr(triggers, "_TRIGGERS", dict(triggers._TRIGGERS))


def test_builtin_kinds_are_registered() -> None:
    builtin = {"drift_share", "feature_drift", "manual", "new_labels", "performance", "schedule"}
    assert builtin <= set(trigger_kinds())


@pytest.mark.parametrize(("share", "fired"), [(0.29, False), (0.3, False), (0.3001, True)])
def test_drift_share_fires_only_above_its_threshold(share: float, fired: bool) -> None:
    result = _judge({"kind": "drift_share", "above": 0.3}, monitor_metrics={"drift.share": share})
    assert (result.fired, result.observed, result.threshold) == (fired, share, 0.3)
    assert ("is above" if fired else "is not above") in result.detail


def test_drift_share_without_monitoring_does_not_fire() -> None:
    result = _judge({"kind": "drift_share", "above": 0.3})
    assert not result.fired
    assert result.observed is None
    assert "no monitoring run yet" in result.detail


def test_drift_share_missing_or_nan_does_not_fire() -> None:
    trigger = {"kind": "drift_share", "above": 0.0}
    missing = _judge(trigger, monitor_metrics={"rows": 100.0})
    nan = _judge(trigger, monitor_metrics={"drift.share": float("nan")})
    assert not missing.fired and not nan.fired
    assert "not monitored" in missing.detail and "not monitored" in nan.detail


@pytest.mark.parametrize(("score", "fired"), [(0.2, False), (0.2001, True)])
def test_feature_drift_fires_only_above_its_threshold(score: float, fired: bool) -> None:
    metrics = {"drift.column.f0.statistic": score, "drift.column.f1.statistic": 0.9}
    result = _judge(
        {"kind": "feature_drift", "feature": "f0", "above": 0.2}, monitor_metrics=metrics
    )
    assert (result.fired, result.observed) == (fired, score)
    assert "'f0'" in result.detail


def test_feature_drift_of_an_unmonitored_feature_does_not_fire() -> None:
    metrics = {"drift.column.f1.statistic": 0.9}
    result = _judge(
        {"kind": "feature_drift", "feature": "f0", "above": 0.2}, monitor_metrics=metrics
    )
    assert not result.fired
    assert "No drift score for feature 'f0'" in result.detail


@pytest.mark.parametrize(("value", "fired"), [(0.81, False), (0.8, False), (0.7999, True)])
def test_realized_performance_fires_only_below_its_threshold(value: float, fired: bool) -> None:
    trigger = {"kind": "performance", "metric": "accuracy", "below": 0.8}
    result = _judge(trigger, monitor_metrics={"performance.accuracy": value})
    assert (result.fired, result.observed, result.threshold) == (fired, value, 0.8)
    assert result.detail.startswith("Realized accuracy")


def test_realized_performance_wins_over_the_estimate() -> None:
    metrics = {
        "performance.accuracy": 0.9,
        "estimated.accuracy.value": 0.5,
        "estimated.accuracy.upper": 0.55,
    }
    result = _judge(
        {"kind": "performance", "metric": "accuracy", "below": 0.8}, monitor_metrics=metrics
    )
    assert not result.fired
    assert result.observed == 0.9


def test_nan_realized_performance_falls_back_to_the_estimate() -> None:
    metrics = {
        "performance.accuracy": float("nan"),
        "estimated.accuracy.value": 0.5,
        "estimated.accuracy.upper": 0.55,
    }
    result = _judge(
        {"kind": "performance", "metric": "accuracy", "below": 0.8}, monitor_metrics=metrics
    )
    assert result.fired
    assert result.observed == 0.55
    assert "Estimated accuracy" in result.detail


@pytest.mark.parametrize(
    ("upper", "fired"), [(0.85, False), (0.8, False), (0.7999, True)], ids=str
)
def test_band_fires_only_when_the_upper_bound_is_below(upper: float, fired: bool) -> None:
    metrics = {
        "estimated.accuracy.value": 0.7,
        "estimated.accuracy.lower": 0.6,
        "estimated.accuracy.upper": upper,
    }
    trigger = {"kind": "performance", "metric": "accuracy", "below": 0.8, "band": True}
    result = _judge(trigger, monitor_metrics=metrics)
    assert (result.fired, result.observed) == (fired, upper)
    assert "upper bound" in result.detail


def test_band_is_the_default() -> None:
    metrics = {"estimated.accuracy.value": 0.7, "estimated.accuracy.upper": 0.85}
    result = _judge(
        {"kind": "performance", "metric": "accuracy", "below": 0.8}, monitor_metrics=metrics
    )
    assert not result.fired


@pytest.mark.parametrize(("value", "fired"), [(0.8, False), (0.7999, True)])
def test_without_band_the_point_estimate_is_judged(value: float, fired: bool) -> None:
    metrics = {"estimated.accuracy.value": value, "estimated.accuracy.upper": 0.95}
    trigger = {"kind": "performance", "metric": "accuracy", "below": 0.8, "band": False}
    result = _judge(trigger, monitor_metrics=metrics)
    assert (result.fired, result.observed) == (fired, value)


def test_band_without_bounds_does_not_fire() -> None:
    trigger = {"kind": "performance", "metric": "accuracy", "below": 0.8, "band": True}
    result = _judge(trigger, monitor_metrics={"estimated.accuracy.value": 0.1})
    assert not result.fired
    assert "no confidence band" in result.detail


def test_performance_without_any_observation_does_not_fire() -> None:
    trigger = {"kind": "performance", "metric": "accuracy", "below": 0.8}
    result = _judge(trigger, monitor_metrics={"drift.share": 0.9})
    assert not result.fired
    assert result.detail.startswith("Neither a realized nor an estimated accuracy")


@pytest.mark.parametrize(("value", "fired"), [(2.9, False), (3.0, False), (3.001, True)])
def test_lower_is_better_metric_fires_above_its_threshold(value: float, fired: bool) -> None:
    trigger = {"kind": "performance", "metric": "rmse", "above": 3.0}
    result = _judge(trigger, monitor_metrics={"performance.rmse": value})
    assert (result.fired, result.threshold) == (fired, 3.0)
    assert ("is above" if fired else "is not above") in result.detail


@pytest.mark.parametrize(("lower", "fired"), [(2.9, False), (3.0, False), (3.1, True)])
def test_lower_is_better_band_judges_the_lower_bound(lower: float, fired: bool) -> None:
    metrics = {"estimated.rmse.value": 3.5, "estimated.rmse.lower": lower}
    trigger = {"kind": "performance", "metric": "rmse", "above": 3.0, "band": True}
    result = _judge(trigger, monitor_metrics=metrics)
    assert (result.fired, result.observed) == (fired, lower)
    assert "lower bound" in result.detail


def test_schedule_fires_when_nothing_was_trained() -> None:
    result = _judge({"kind": "schedule", "every": "7d"}, last_training_ms=None)
    assert result.fired
    assert result.threshold == 7 * 86400
    assert "No training on record" in result.detail


@pytest.mark.parametrize(("elapsed_ms", "fired"), [(7 * DAY_MS - 1, False), (7 * DAY_MS, True)])
def test_schedule_fires_once_the_period_has_passed(elapsed_ms: int, fired: bool) -> None:
    now = 100 * DAY_MS
    result = _judge(
        {"kind": "schedule", "every": "7d"}, now_ms=now, last_training_ms=now - elapsed_ms
    )
    assert result.fired is fired
    assert result.observed == elapsed_ms / 1000
    assert "every 7d" in result.detail


@pytest.mark.parametrize(("count", "fired"), [(0, False), (499, False), (500, True)])
def test_new_labels_fire_at_the_count(count: int, fired: bool) -> None:
    result = _judge({"kind": "new_labels", "at_least": 500}, new_labels=count)
    assert (result.fired, result.observed, result.threshold) == (fired, count, 500)
    assert f"{count} new labeled rows" in result.detail


@pytest.mark.parametrize("manual", [False, True])
def test_manual_fires_only_by_hand(manual: bool) -> None:
    result = _judge({"kind": "manual"}, manual=manual)
    assert result.fired is manual
    assert result.observed is None and result.threshold is None


def test_every_trigger_of_a_policy_is_judged_in_order() -> None:
    policy = load_policy(
        """
model: churn
triggers:
  - {kind: drift_share, above: 0.3}
  - {kind: feature_drift, feature: f0, above: 0.2}
  - {kind: performance, metric: accuracy, below: 0.8, band: true}
  - {kind: schedule, every: 7d}
  - {kind: new_labels, at_least: 500}
  - {kind: manual}
"""
    )
    context = TriggerContext(
        now_ms=10 * DAY_MS,
        monitor_metrics={"drift.share": 0.5, "drift.column.f0.statistic": 0.1},
        last_training_ms=9 * DAY_MS,
        new_labels=600,
        manual=False,
    )
    results = evaluate_triggers(policy, context)
    assert [(r.kind, r.fired) for r in results] == [
        ("drift_share", True),
        ("feature_drift", False),
        ("performance", False),
        ("schedule", False),
        ("new_labels", True),
        ("manual", False),
    ]
    assert all(r.detail.endswith(".") for r in results)
    assert json.loads(json.dumps([r.to_dict() for r in results]))[0]["observed"] == 0.5


@pytest.mark.usefixtures("isolated_registry")
def test_a_registered_kind_is_usable_in_policies() -> None:
    def weekday(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
        day = context.now_ms // DAY_MS % 7
        wanted = int(spec.options["day"])
        return TriggerResult(spec.kind, day == wanted, float(day), float(wanted), "Day check.")

    register_trigger("weekday", weekday)
    policy = load_policy({"model": "m", "triggers": [{"kind": "weekday", "options": {"day": 3}}]})
    assert "weekday" in trigger_kinds()
    (hit,) = evaluate_triggers(policy, TriggerContext(now_ms=3 * DAY_MS))
    (miss,) = evaluate_triggers(policy, TriggerContext(now_ms=4 * DAY_MS))
    assert hit.fired and not miss.fired


@pytest.mark.usefixtures("isolated_registry")
def test_registering_a_kind_twice_needs_replace() -> None:
    def never(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
        return TriggerResult(spec.kind, False, None, None, "Never.")

    def always(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
        return TriggerResult(spec.kind, True, None, None, "Always.")

    register_trigger("custom", never)
    with pytest.raises(AlreadyExistsError):
        register_trigger("custom", always)
    register_trigger("custom", always, replace=True)
    policy = load_policy({"model": "m", "triggers": [{"kind": "custom"}]})
    assert evaluate_triggers(policy, TriggerContext(now_ms=0))[0].fired


def test_a_kind_needs_a_name() -> None:
    with pytest.raises(InvalidInputError) as info:
        register_trigger(" ", lambda spec, context: TriggerResult("x", False, None, None, "."))
    assert info.value.field == "kind"


@pytest.mark.usefixtures("isolated_registry")
def test_a_failing_trigger_does_not_fire_and_the_others_still_run() -> None:
    def broken(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
        raise RuntimeError("feed is down")

    register_trigger("broken", broken)
    policy = load_policy({"model": "m", "triggers": [{"kind": "broken"}, {"kind": "manual"}]})
    failed, manual = evaluate_triggers(policy, TriggerContext(now_ms=0, manual=True))
    assert not failed.fired
    assert "feed is down" in failed.detail
    assert manual.fired


@pytest.mark.usefixtures("isolated_registry")
def test_a_kind_unregistered_after_loading_does_not_fire() -> None:
    register_trigger("temporary", lambda spec, context: TriggerResult("t", True, 1.0, 0.0, "."))
    policy = load_policy({"model": "m", "triggers": [{"kind": "temporary"}]})
    del triggers._TRIGGERS["temporary"]
    (result,) = evaluate_triggers(policy, TriggerContext(now_ms=0))
    assert not result.fired
    assert "No trigger is registered" in result.detail
