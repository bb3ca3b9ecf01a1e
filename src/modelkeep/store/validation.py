"""Checks on values entering any store; each failure names the field that is wrong."""

from __future__ import annotations

import math
import re

from modelkeep.entities import RunStatus
from modelkeep.exceptions import InvalidInputError

MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 250
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_RESULTS_LIMIT = 50_000
_INT64 = 2**63 - 1
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def check_key(key: object, field: str) -> str:
    """A metric/param/tag key: a non-empty string of at most 250 characters, no NUL."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInputError(f"{field} must be a non-empty string, got {key!r}", field=field)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{field} is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}", field=field
        )
    if "\x00" in key:
        raise InvalidInputError(f"{field} must not contain NUL characters", field=field)
    return key


def check_text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string, got {type(value).__name__}", field=field
        )
    if len(value) > limit:
        raise InvalidInputError(
            f"{field} is {len(value)} characters long; the limit is {limit}", field=field
        )
    if "\x00" in value:
        raise InvalidInputError(f"{field} must not contain NUL characters", field=field)
    return value


def check_name(name: object, field: str, limit: int = MAX_NAME_LENGTH) -> str:
    text = check_text(name, field, limit)
    if not text.strip():
        raise InvalidInputError(f"{field} must not be empty", field=field)
    return text


def check_int64(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{field} must be an integer, got {value!r}", field=field)
    if not -_INT64 <= value <= _INT64:
        raise InvalidInputError(f"{field} is out of the 64-bit range", field=field)
    return value


def check_metric_value(value: object, field: str = "metrics.value") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field)
    return float(value)


def check_status(value: object) -> RunStatus:
    try:
        return RunStatus(str(value).upper())
    except ValueError:
        allowed = ", ".join(s.value for s in RunStatus)
        raise InvalidInputError(
            f"status must be one of {allowed}, got {value!r}", field="status"
        ) from None


def check_max_results(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_RESULTS_LIMIT:
        raise InvalidInputError(
            f"max_results must be an integer between 1 and {MAX_RESULTS_LIMIT}, got {value!r}",
            field="max_results",
        )
    return value


def check_view(view: str) -> str:
    if view not in ("active", "deleted", "all"):
        raise InvalidInputError(
            f"view must be 'active', 'deleted' or 'all', got {view!r}", field="view"
        )
    return view


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID.match(value))


def nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value
