"""Alert rules: when a window's metrics should alert someone, and through which channels.

Rules are YAML (or a dict), one file per model::

    channels:
      ops-hook: {type: webhook, url: "https://hooks.example/x", format: slack}
      oncall: {type: email, smtp_host: localhost, from: mk@example.com, to: [a@example.com]}
    rules:
      - {name: drift, metric: drift.share, condition: ">=", value: 0.5,
         severity: critical, cooldown: 1h, channels: [ops-hook, log]}
      - {name: accuracy-band, metric: estimated.accuracy.value, condition: outside,
         band: [0.8, 1.0]}

``metric`` is a key of the window's flat metrics (``drift.share``,
``quality.missing_rate_change.f0``, ``performance.accuracy``...). ``condition`` is one of
``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=`` (with ``value``) or ``outside`` (with
``band: [lo, hi]``, firing when the metric is below ``lo`` or above ``hi``). ``cooldown``
(``"90s"``, ``"15m"``, ``"1h"``, ``"1h30m"`` or seconds; default 1h) keeps one rule from firing
again for the same model within that time. The ``log`` channel is always there; it is the
default for a rule that names none.

Example:
    >>> rules = load_rules({"rules": [{"name": "drift", "metric": "drift.share",
    ...                               "condition": ">=", "value": 0.5}]})
    >>> fired = evaluate_rules(rules, {"drift.share": 0.6}, model="churn", window=(0, 60_000),
    ...                        last_fired=lambda key: None, now_ms=60_000)
    >>> [a.rule for a in fired], deliver(fired[0], rules)
    (['drift'], {'log': 'sent'})
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.alert_rules_parse import parse_rules_document, read_rules_source
from modelkeep.monitor.channels import ChannelSpec, build_channel

__all__ = [
    "CONDITIONS",
    "SEVERITIES",
    "Alert",
    "AlertRule",
    "AlertRules",
    "deliver",
    "dedup_key",
    "evaluate_rules",
    "load_rules",
]

CONDITIONS = (">", ">=", "<", "<=", "==", "!=", "outside")
SEVERITIES = ("info", "warning", "critical")
AGGREGATES = ("mean", "max", "min")
History = Sequence[tuple[int, Mapping[str, float]]]
"""Earlier windows of a model as ``(end_ms, flat metrics)``."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda x, v: x > v,
    ">=": lambda x, v: x >= v,
    "<": lambda x, v: x < v,
    "<=": lambda x, v: x <= v,
    "==": lambda x, v: x == v,
    "!=": lambda x, v: x != v,
}
_log = logging.getLogger("modelkeep.monitor.delivery")


@dataclass(frozen=True)
class AlertRule:
    """One condition on one metric.

    Attributes:
        name: unique among the rules; letters, digits, ``_``, ``.``, ``-``.
        metric: the key of the window's metrics the rule tests.
        condition: a comparison (with ``value``) or ``"outside"`` (with ``band``).
        value: the threshold of a comparison.
        band: ``(lo, hi)`` for ``outside``: fires below ``lo`` or above ``hi``.
        severity: ``"info"``, ``"warning"`` or ``"critical"``.
        cooldown_s: seconds during which the rule does not fire again for the same model.
        channels: names of the channels the alert goes to.
        window_s: when set, the rule tests the ``aggregate`` (mean, max or min) of the metric
            over this window's value and every earlier monitoring window of the model that
            ended less than ``window_s`` seconds before this one (a smoothed or sustained
            condition), instead of this window's value alone.
        aggregate: how the values in ``window_s`` are combined.

    Raises:
        InvalidInputError: a value that cannot work; ``field`` names it.
    """

    name: str
    metric: str
    condition: str
    value: float | None = None
    band: tuple[float, float] | None = None
    severity: str = "warning"
    cooldown_s: float = 3600.0
    channels: tuple[str, ...] = ("log",)
    window_s: float | None = None
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        _check_rule(self)

    def breached(self, observed: float) -> bool:
        """Whether ``observed`` meets the rule's condition (never for NaN)."""
        if math.isnan(observed):
            return False
        if self.condition == "outside":
            assert self.band is not None  # checked in __post_init__
            return observed < self.band[0] or observed > self.band[1]
        assert self.value is not None
        return _COMPARE[self.condition](observed, self.value)

    def describe(self) -> str:
        """The condition as text, e.g. ``">= 0.5"`` or ``"outside [0.8, 1]"``."""
        if self.condition == "outside" and self.band is not None:
            return f"outside [{self.band[0]:g}, {self.band[1]:g}]"
        return f"{self.condition} {self.value:g}"


@dataclass(frozen=True)
class AlertRules:
    """Loaded rules with the channels they may use (``log`` always among them)."""

    rules: tuple[AlertRule, ...]
    channels: dict[str, ChannelSpec]

    def rule(self, name: str) -> AlertRule:
        """The rule called ``name``.

        Raises:
            InvalidInputError: (``field="rule"``) no rule has that name.
        """
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise InvalidInputError(f"no alert rule named {name!r}", field="rule")


@dataclass(frozen=True)
class Alert:
    """A rule that fired on one model's window. JSON-able through :meth:`to_dict`.

    Attributes:
        dedup_key: ``"<model>:<rule>"``; the cooldown is kept per key.
        message: one line for people: severity, model, rule, metric, value and condition.
    """

    rule: str
    model: str
    metric: str
    value: float
    severity: str
    message: str
    window_start_ms: int
    window_end_ms: int
    fired_at_ms: int
    dedup_key: str

    def to_dict(self) -> dict[str, Any]:
        """The alert's fields as a plain dict."""
        return dataclasses.asdict(self)


def dedup_key(model: str, rule: str) -> str:
    """The key under which ``rule``'s firings for ``model`` are de-duplicated."""
    return f"{model}:{rule}"


def load_rules(source: str | Path | Mapping[str, Any]) -> AlertRules:
    """Parse alert rules from YAML text, a YAML file or a mapping.

    Every channel is built once so that a bad option fails here, not at the first alert.

    Args:
        source: YAML text, a path (a :class:`~pathlib.Path`, or a one-line string ending in
            ``.yaml``/``.yml``), or the already-parsed mapping.

    Raises:
        InvalidInputError: the file is missing or not YAML (``field="rules"``), or a key is
            wrong: ``field`` is its dotted path, e.g. ``rules.0.condition`` or
            ``channels.ops-hook.url``.
    """
    document = read_rules_source(source)
    raw_channels, raw_rules = parse_rules_document(document)
    channels = {"log": ChannelSpec("log", "log")}
    for name, mapping in raw_channels.items():
        channels[name] = _channel_spec(name, mapping)
    rules: list[AlertRule] = []
    for index, fields in enumerate(raw_rules):
        rule = _rule_at(index, fields)
        if any(rule.name == seen.name for seen in rules):
            raise InvalidInputError(
                f"rules.{index}.name: {rule.name!r} is used by another rule",
                field=f"rules.{index}.name",
            )
        for position, channel in enumerate(rule.channels):
            if channel not in channels:
                key = f"rules.{index}.channels.{position}"
                raise InvalidInputError(
                    f"{key}: no channel named {channel!r}; define it under channels "
                    f"(known: {', '.join(sorted(channels))})",
                    field=key,
                )
        rules.append(rule)
    return AlertRules(tuple(rules), channels)


def evaluate_rules(
    rules: AlertRules | Iterable[AlertRule],
    metrics: Mapping[str, float],
    *,
    model: str,
    window: tuple[int, int],
    last_fired: Callable[[str], int | None],
    now_ms: int | None = None,
    history: History = (),
) -> list[Alert]:
    """The alerts that fire for one window's metrics.

    A rule whose metric is absent from ``metrics`` (no labels yet, say) or NaN does not fire.
    A rule that fired for ``model`` less than its cooldown ago does not fire again.

    Args:
        rules: the rules (loaded, or any iterable of :class:`AlertRule`).
        metrics: the window's flat metrics.
        model: the model the window belongs to.
        window: ``(start_ms, end_ms)`` of the window.
        last_fired: ``last_fired(dedup_key)`` -> when that key last fired (ms), or None.
        now_ms: the current time (ms since the epoch); the clock's when None.
        history: earlier windows of the model as ``(end_ms, metrics)``, for rules with a
            ``window_s`` (see :class:`AlertRule`).

    Raises:
        InvalidInputError: a rule's metric holds something that is not a number
            (``field="metrics.<key>"``).
    """
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    fired: list[Alert] = []
    for rule in rules.rules if isinstance(rules, AlertRules) else rules:
        observed = _metric(metrics, rule.metric)
        if observed is not None and rule.window_s is not None:
            observed, span = _over_window(rule, observed, int(window[1]), history)
        else:
            span = ""
        if observed is None or not rule.breached(observed):
            continue
        key = dedup_key(model, rule.name)
        last = last_fired(key)
        if last is not None and now - last < rule.cooldown_s * 1000:
            continue
        fired.append(
            Alert(
                rule=rule.name,
                model=model,
                metric=rule.metric,
                value=observed,
                severity=rule.severity,
                message=(
                    f"[{rule.severity}] {model}: {rule.name}: {rule.metric}{span} = "
                    f"{observed:.6g} ({rule.describe()})"
                ),
                window_start_ms=int(window[0]),
                window_end_ms=int(window[1]),
                fired_at_ms=now,
                dedup_key=key,
            )
        )
    return fired


def _over_window(
    rule: AlertRule, current: float, end_ms: int, history: History
) -> tuple[float, str]:
    """The rule's aggregate over this window's value and the earlier ones inside its window,
    and a note like ``" (mean of 3 windows in 6h)"`` for the message."""
    assert rule.window_s is not None
    if math.isnan(current):
        return current, ""
    since = end_ms - rule.window_s * 1000
    values = [current]
    for ended, metrics in history:
        if since < ended < end_ms:
            value = _metric(metrics, rule.metric)
            if value is not None and not math.isnan(value):
                values.append(value)
    combine: dict[str, Callable[[list[float]], float]] = {
        "mean": statistics.fmean, "max": max, "min": min,
    }  # fmt: skip
    windows = f"{len(values)} window{'s' * (len(values) > 1)}"
    note = f" ({rule.aggregate} of {windows} in {_duration_text(rule.window_s)})"
    return float(combine[rule.aggregate](values)), note


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def deliver(alert: Alert, rules: AlertRules) -> dict[str, str]:
    """Send ``alert`` to every channel of its rule; a failing channel does not stop the rest.

    Returns:
        channel name -> ``"sent"`` or ``"failed: <why>"``.

    Raises:
        InvalidInputError: (``field="rule"``) ``rules`` has no rule named ``alert.rule``.
    """
    outcome: dict[str, str] = {}
    for name in rules.rule(alert.rule).channels:
        try:
            build_channel(rules.channels[name]).send(alert)
        # A plugin may raise anything; one broken channel must not stop the others.
        except Exception as exc:  # noqa: BLE001
            outcome[name] = f"failed: {exc}" if str(exc) else f"failed: {type(exc).__name__}"
            _log.warning("alert %s not delivered to %s: %s", alert.dedup_key, name, exc)
        else:
            outcome[name] = "sent"
    return outcome


def _metric(metrics: Mapping[str, float], key: str) -> float | None:
    raw: Any = metrics.get(key)
    if raw is None:
        return None
    try:
        if isinstance(raw, str | bytes):
            raise TypeError(key)
        return float(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric {key!r} is {raw!r}, not a number", field=f"metrics.{key}"
        ) from None


def _channel_spec(name: str, mapping: Mapping[str, Any]) -> ChannelSpec:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"channels.{name}: a channel name uses letters, digits, '_', '.' and '-'",
            field=f"channels.{name}",
        )
    type_ = mapping.get("type")
    if not isinstance(type_, str):
        problem = "required key is missing" if type_ is None else f"must be text (got {type_!r})"
        raise InvalidInputError(f"channels.{name}.type: {problem}", field=f"channels.{name}.type")
    if name == "log" and type_ != "log":
        raise InvalidInputError(
            "channels.log.type: the name 'log' is the built-in log channel's; choose another",
            field="channels.log.type",
        )
    spec = ChannelSpec(name, type_, {k: v for k, v in mapping.items() if k != "type"})
    build_channel(spec)
    return spec


def _rule_at(index: int, fields: Mapping[str, Any]) -> AlertRule:
    try:
        return AlertRule(**fields)
    except InvalidInputError as exc:
        # The YAML says ``cooldown`` (a duration) where the dataclass says ``cooldown_s``.
        field = {"cooldown_s": "cooldown", "window_s": "window"}.get(exc.field or "", exc.field)
        key = f"rules.{index}.{field}"
        raise InvalidInputError(f"{key}: {exc.message}", field=key) from None


def _check_rule(rule: AlertRule) -> None:
    def bad(field: str, message: str) -> InvalidInputError:
        return InvalidInputError(message, field=field)

    if not NAME_PATTERN.match(rule.name):
        raise bad("name", f"{rule.name!r}: use letters, digits, '_', '.' and '-' (up to 100)")
    if not rule.metric:
        raise bad("metric", "must name a metric, e.g. drift.share")
    if rule.condition not in CONDITIONS:
        raise bad("condition", f"{rule.condition!r} is not one of {', '.join(CONDITIONS)}")
    if rule.severity not in SEVERITIES:
        raise bad("severity", f"{rule.severity!r} is not one of {', '.join(SEVERITIES)}")
    if not math.isfinite(rule.cooldown_s) or rule.cooldown_s < 0:
        raise bad("cooldown_s", f"must be a duration of 0 or more (got {rule.cooldown_s!r})")
    if not rule.channels:
        raise bad("channels", "a rule needs at least one channel")
    if rule.window_s is not None and not (math.isfinite(rule.window_s) and rule.window_s > 0):
        raise bad("window", f"must be a duration above 0 (got {rule.window_s!r})")
    if rule.aggregate not in AGGREGATES:
        raise bad("aggregate", f"{rule.aggregate!r} is not one of {', '.join(AGGREGATES)}")
    if rule.condition == "outside":
        if rule.band is None or len(rule.band) != 2:
            raise bad("band", "condition 'outside' needs band: [lo, hi]")
        if rule.value is not None:
            raise bad("value", "condition 'outside' takes band, not value")
        lo, hi = rule.band
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise bad("band", f"needs finite lo <= hi (got {list(rule.band)})")
    else:
        if rule.value is None:
            raise bad("value", f"condition {rule.condition!r} needs a value")
        if rule.band is not None:
            raise bad("band", f"condition {rule.condition!r} takes value, not band")
        if math.isnan(rule.value):
            raise bad("value", "must be a number, not NaN")
