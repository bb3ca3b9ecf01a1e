"""Reading alert rules: YAML text, file or mapping -> checked plain values for
:func:`modelkeep.monitor.alerts.load_rules`.

The document's shape is checked with pydantic (unknown keys are errors), and every error names
its dotted key (``rules.0.cooldown``, ``channels.ops-hook``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from modelkeep.data.rules import read_rules_text
from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.channels import invalid_from_validation

__all__ = ["parse_duration", "parse_rules_document", "read_rules_source"]

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds in a duration: a number of seconds, or text like ``"90s"``, ``"15m"``,
    ``"1h"``, ``"1h30m"``, ``"500ms"``, ``"2d"``.

    Raises:
        ValueError: not a duration of zero or more.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value >= 0:
            return float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and re.fullmatch(rf"(?:{_DURATION.pattern}\s*)+", text):
            return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(text))
    raise ValueError(f"expected a duration like 90s, 15m or 1h (got {value!r})")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _RuleDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    metric: str
    condition: Literal[">", ">=", "<", "<=", "==", "!=", "outside"]
    value: float | None = None
    band: tuple[float, float] | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown: Duration = 3600.0
    channels: list[str] = ["log"]
    window: Duration | None = None
    aggregate: Literal["mean", "max", "min"] = "mean"


class _RulesDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[str, dict[str, Any]] = {}
    rules: list[_RuleDocument]


def read_rules_source(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The rules document from YAML text, a YAML file or a mapping.

    Raises:
        InvalidInputError: (``field="rules"``) a missing or unreadable file, YAML that does
            not parse, or a document that is not a mapping.
    """
    if isinstance(source, Mapping):
        return source
    text = read_rules_text(source)
    try:
        document = yaml.safe_load(text)
    except RecursionError:
        raise InvalidInputError("rules: the YAML is nested too deeply", field="rules") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInputError(f"rules: {problem}{line}", field="rules") from None
    if not isinstance(document, Mapping):
        raise InvalidInputError(
            "rules: expected a mapping with 'rules' (and optionally 'channels')", field="rules"
        )
    return document


def parse_rules_document(
    document: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Check the document's shape.

    Returns:
        ``(channels, rules)``: each channel's mapping by name, and each rule as keyword
        arguments of :class:`~modelkeep.monitor.alerts.AlertRule` (cooldown in seconds).

    Raises:
        InvalidInputError: the first wrong key, ``field`` its dotted path.
    """
    try:
        parsed = _RulesDocument.model_validate(dict(document))
    except ValidationError as exc:
        raise invalid_from_validation(exc, "", model=_RulesDocument) from None
    rules = [
        {
            "name": rule.name,
            "metric": rule.metric,
            "condition": rule.condition,
            "value": rule.value,
            "band": rule.band,
            "severity": rule.severity,
            "cooldown_s": rule.cooldown,
            "channels": tuple(rule.channels),
            "window_s": rule.window,
            "aggregate": rule.aggregate,
        }
        for rule in parsed.rules
    ]
    return parsed.channels, rules
