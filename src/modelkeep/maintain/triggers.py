"""Triggers: the conditions in a policy that start a retrain.

A trigger is a function ``(TriggerSpec, TriggerContext) -> TriggerResult`` registered under
its kind with :func:`register_trigger`; the built-in kinds are registered the same way a
user's would be. :func:`evaluate_triggers` runs every trigger of a policy; any one firing
starts a retrain. Each result carries the number observed, the threshold and a sentence for
the decision record.

Thresholds are strict where a metric crosses a line (``drift_share`` and ``feature_drift``
fire when the value is above ``above``; ``performance`` when the metric is below ``below``,
or above ``above`` for metrics where lower is better) and inclusive where something
accumulates (``schedule`` fires once ``every`` has passed since the last training,
``new_labels`` once at least ``at_least`` labeled rows arrived). An observation that is
missing (no monitoring run yet, a metric that was not computed) never fires.

Example:
    >>> from modelkeep.maintain.policy import load_policy
    >>> trigger = {"kind": "drift_share", "above": 0.3}
    >>> policy = load_policy({"model": "churn", "triggers": [trigger]})
    >>> context = TriggerContext(now_ms=0, monitor_metrics={"drift.share": 0.5})
    >>> [result.fired for result in evaluate_triggers(policy, context)]
    [True]
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError
from modelkeep.maintain.policy import Policy, TriggerSpec, duration_text
from modelkeep.train.metrics import greater_is_better

__all__ = [
    "TriggerContext",
    "TriggerFn",
    "TriggerResult",
    "evaluate_triggers",
    "register_trigger",
    "trigger_kinds",
]

logger = logging.getLogger(__name__)

_MAX_KEY = 250  # monitoring cuts flat metric keys to the store's key length


@dataclass(frozen=True)
class TriggerContext:
    """What the triggers look at.

    Attributes:
        now_ms: the current time, epoch milliseconds.
        monitor_metrics: the latest monitoring run's flat metrics (see
            :mod:`modelkeep.monitor.metrics_flat`), or None when there is none.
        last_training_ms: when the model in service was trained, or None if unknown.
        new_labels: labeled production rows that arrived since that training.
        manual: the run was started by hand (``force``), which fires ``manual`` triggers.
    """

    now_ms: int
    monitor_metrics: Mapping[str, float] | None = None
    last_training_ms: int | None = None
    new_labels: int = 0
    manual: bool = False


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict.

    Attributes:
        kind: the trigger's kind.
        fired: whether it asks for a retrain.
        observed: the number compared (seconds since training for ``schedule``), or None.
        threshold: the number it was compared with, or None.
        detail: a sentence saying what was seen and why it fired or not.
    """

    kind: str
    fired: bool
    observed: float | None
    threshold: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-safe plain values."""
        return {
            "kind": self.kind,
            "fired": self.fired,
            "observed": self.observed,
            "threshold": self.threshold,
            "detail": self.detail,
        }


TriggerFn = Callable[[TriggerSpec, TriggerContext], TriggerResult]

_TRIGGERS: dict[str, TriggerFn] = {}
_LOCK = threading.Lock()


def register_trigger(kind: str, fn: TriggerFn, *, replace: bool = False) -> None:
    """Make a trigger kind usable in policies.

    Register the kind before loading a policy that uses it. Its spec may use the common keys
    (``above``, ``below``, ``metric``, ``feature``...) and ``options`` for its own settings.

    Args:
        kind: the value of ``kind`` in a policy's trigger.
        fn: judges one trigger spec in a context.
        replace: overwrite a kind registered before (otherwise that is an error).

    Raises:
        AlreadyExistsError: ``kind`` is registered and ``replace`` is false.
        InvalidInputError: ``kind`` is empty.

    Example:
        >>> def weekend(spec, context):
        ...     return TriggerResult("weekend", False, None, None, "not the weekend")
        >>> register_trigger("weekend", weekend)  # doctest: +SKIP
    """
    if not kind or not kind.strip():
        raise InvalidInputError("a trigger kind needs a name", field="kind")
    with _LOCK:
        if kind in _TRIGGERS and not replace:
            raise AlreadyExistsError(f"trigger kind {kind!r} is already registered")
        _TRIGGERS[kind] = fn


def trigger_kinds() -> list[str]:
    """The registered trigger kinds, built-in ones included, sorted."""
    with _LOCK:
        return sorted(_TRIGGERS)


def evaluate_triggers(policy: Policy, context: TriggerContext) -> list[TriggerResult]:
    """Judge every trigger of ``policy``, in order.

    A trigger whose function raises, or whose kind is no longer registered, does not fire;
    its result says why.
    """
    return [_evaluate(spec, context) for spec in policy.triggers]


def _evaluate(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    with _LOCK:
        fn = _TRIGGERS.get(spec.kind)
    if fn is None:
        return TriggerResult(
            spec.kind, False, None, None, f"No trigger is registered for kind {spec.kind!r}."
        )
    try:
        return fn(spec, context)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the other triggers
        logger.exception("trigger %r failed", spec.kind)
        return TriggerResult(
            spec.kind, False, None, None, f"The {spec.kind} trigger failed: {exc}."
        )


def _metric(context: TriggerContext, key: str) -> float | None:
    """A monitoring metric, or None when it is absent or NaN (nothing behind it)."""
    if context.monitor_metrics is None:
        return None
    value = context.monitor_metrics.get(key[:_MAX_KEY])
    return None if value is None or math.isnan(value) else float(value)


def _no_metrics(context: TriggerContext) -> str:
    return "no monitoring run yet" if context.monitor_metrics is None else "not monitored"


def _g(value: float) -> str:
    return f"{value:.4g}"


def _drift_share(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    threshold = float(spec.above or 0.0)
    share = _metric(context, "drift.share")
    if share is None:
        why = _no_metrics(context)
        detail = f"No dataset drift share to compare with {_g(threshold)} ({why})."
        return TriggerResult(spec.kind, False, None, threshold, detail)
    fired = share > threshold
    verb = "is above" if fired else "is not above"
    detail = f"Dataset drift share {_g(share)} {verb} {_g(threshold)}."
    return TriggerResult(spec.kind, fired, share, threshold, detail)


def _feature_drift(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    threshold, feature = float(spec.above or 0.0), str(spec.feature)
    score = _metric(context, f"drift.column.{feature}.statistic")
    if score is None:
        detail = (
            f"No drift score for feature {feature!r} to compare with {_g(threshold)} "
            f"({_no_metrics(context)})."
        )
        return TriggerResult(spec.kind, False, None, threshold, detail)
    fired = score > threshold
    verb = "is above" if fired else "is not above"
    detail = f"Drift score of feature {feature!r} {_g(score)} {verb} {_g(threshold)}."
    return TriggerResult(spec.kind, fired, score, threshold, detail)


def _performance(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    metric = str(spec.metric)
    higher_better = greater_is_better(metric)
    threshold = float((spec.below if higher_better else spec.above) or 0.0)
    side = "below" if higher_better else "above"

    def past(value: float) -> bool:
        return value < threshold if higher_better else value > threshold

    realized = _metric(context, f"performance.{metric}")
    if realized is not None:
        fired = past(realized)
        verb = f"is {side}" if fired else f"is not {side}"
        detail = f"Realized {metric} {_g(realized)} {verb} {_g(threshold)}."
        return TriggerResult(spec.kind, fired, realized, threshold, detail)
    estimate = _metric(context, f"estimated.{metric}.value")
    if estimate is None:
        detail = (
            f"Neither a realized nor an estimated {metric} to compare with {_g(threshold)} "
            f"({_no_metrics(context)})."
        )
        return TriggerResult(spec.kind, False, None, threshold, detail)
    if not spec.uses_band:
        fired = past(estimate)
        verb = f"is {side}" if fired else f"is not {side}"
        detail = f"Estimated {metric} {_g(estimate)} (no labels yet) {verb} {_g(threshold)}."
        return TriggerResult(spec.kind, fired, estimate, threshold, detail)
    return _performance_band(spec, context, estimate, threshold, past)


def _performance_band(
    spec: TriggerSpec,
    context: TriggerContext,
    estimate: float,
    threshold: float,
    past: Callable[[float], bool],
) -> TriggerResult:
    """Judge an estimate by the bound of its band nearest to good performance: it fires only
    when even that bound is past the threshold."""
    metric = str(spec.metric)
    higher_better = greater_is_better(metric)
    bound_name, side = ("upper", "below") if higher_better else ("lower", "above")
    bound = _metric(context, f"estimated.{metric}.{bound_name}")
    if bound is None:
        detail = (
            f"Estimated {metric} {_g(estimate)} has no confidence band, so it cannot show "
            f"that {metric} is {side} {_g(threshold)}."
        )
        return TriggerResult(spec.kind, False, None, threshold, detail)
    fired = past(bound)
    verb = f"is {side}" if fired else f"is not {side}"
    detail = (
        f"Estimated {metric} {_g(estimate)} (no labels yet): the {bound_name} bound of its "
        f"band, {_g(bound)}, {verb} {_g(threshold)}."
    )
    return TriggerResult(spec.kind, fired, bound, threshold, detail)


def _schedule(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    every = float(spec.every or 0.0)
    if context.last_training_ms is None:
        detail = f"No training on record; the schedule asks for one every {duration_text(every)}."
        return TriggerResult(spec.kind, True, None, every, detail)
    elapsed = (context.now_ms - context.last_training_ms) / 1000.0
    fired = elapsed >= every
    since = duration_text(max(elapsed, 0.0))
    verb = "is due" if fired else "is not due yet"
    detail = f"Last training {since} ago; retraining every {duration_text(every)} {verb}."
    return TriggerResult(spec.kind, fired, elapsed, every, detail)


def _new_labels(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    needed = int(spec.at_least or 0)
    count = context.new_labels
    fired = count >= needed
    verb = "reach" if fired else "do not reach"
    detail = f"{count} new labeled rows since the last training {verb} the {needed} needed."
    return TriggerResult(spec.kind, fired, float(count), float(needed), detail)


def _manual(spec: TriggerSpec, context: TriggerContext) -> TriggerResult:
    if context.manual:
        return TriggerResult(spec.kind, True, None, None, "Started by hand.")
    detail = "Not started by hand (a manual trigger fires only on a forced run)."
    return TriggerResult(spec.kind, False, None, None, detail)


for _kind, _fn in (
    ("drift_share", _drift_share),
    ("feature_drift", _feature_drift),
    ("performance", _performance),
    ("schedule", _schedule),
    ("new_labels", _new_labels),
    ("manual", _manual),
):
    register_trigger(_kind, _fn)
