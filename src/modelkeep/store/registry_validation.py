"""Checks on values entering the model registry of any store; each failure names its field.

The rules are those of :mod:`modelkeep.store.registry_base`: names and aliases are 1-256
characters without ``/``, ``@``, control characters or surrounding spaces (they appear in
``models:/<name>@<alias>`` URIs); aliases may not be ``latest`` or all digits, which the URI
syntax reserves for versions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from modelkeep.entities import ModelVersionStatus
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.signing import parse_public_key, public_key_b64
from modelkeep.store import validation as v

__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "MAX_MODEL_NAME_LENGTH",
    "check_actor",
    "check_alias",
    "check_description",
    "check_model_name",
    "check_root_digest",
    "check_tags",
    "check_trusted_keys",
    "check_version",
    "check_version_status",
]

MAX_MODEL_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 20_000
MAX_SOURCE_LENGTH = 4000
MAX_FLAVOR_LENGTH = 100
MAX_REASON_LENGTH = 4000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RESERVED_ALIAS = "latest"


def check_model_name(name: object, field: str = "name") -> str:
    """A registered-model name (or, with ``field="alias"``, an alias) per the registry rules."""
    if not isinstance(name, str):
        raise InvalidInputError(
            f"{field} must be a string, got {type(name).__name__}", field=field
        )
    if not 1 <= len(name) <= MAX_MODEL_NAME_LENGTH:
        raise InvalidInputError(
            f"{field} must be 1 to {MAX_MODEL_NAME_LENGTH} characters, got {len(name)}",
            field=field,
        )
    if "/" in name or "@" in name:
        raise InvalidInputError(f"{field} {name!r} must not contain '/' or '@'", field=field)
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInputError(
            f"{field} {name!r} must not contain control characters", field=field
        )
    if name != name.strip():
        raise InvalidInputError(f"{field} {name!r} must not start or end with spaces", field=field)
    return name


def check_alias(alias: object) -> str:
    """An alias: the name rules, and neither ``latest`` nor all digits."""
    text = check_model_name(alias, "alias")
    if text.lower() == _RESERVED_ALIAS or text.isdigit():
        raise InvalidInputError(
            f"alias {text!r} is reserved: aliases may not be 'latest' or a number",
            field="alias",
        )
    return text


def check_root_digest(value: object) -> str:
    """A package root digest: 64 lowercase hex characters."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InvalidInputError(
            f"root_digest must be 64 lowercase hex characters (a sha256), got {value!r}",
            field="root_digest",
        )
    return value


def check_version(value: object) -> int:
    """A version number argument: a positive integer (unknown ones are NotFound later)."""
    number = v.check_int64(value, "version")
    if number < 1:
        raise InvalidInputError(f"version numbers start at 1, got {number}", field="version")
    return number


def check_actor(value: object) -> str:
    """Who made a change; may be empty."""
    return v.check_text(value, "actor", MAX_MODEL_NAME_LENGTH)


def check_description(value: object, field: str = "description") -> str:
    return v.check_text(value, field, MAX_DESCRIPTION_LENGTH)


def check_version_status(value: object) -> ModelVersionStatus:
    """A :class:`ModelVersionStatus` from the enum or its (case-insensitive) name."""
    try:
        return ModelVersionStatus(str(value).upper())
    except ValueError:
        allowed = ", ".join(s.value for s in ModelVersionStatus)
        raise InvalidInputError(
            f"status must be one of {allowed}, got {value!r}", field="status"
        ) from None


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tag keys and (stringified) values under the run-tag limits."""
    return {
        v.check_key(key, "tags.key"): v.check_text(
            str(value), "tags.value", v.MAX_TAG_VALUE_LENGTH
        )
        for key, value in (tags or {}).items()
    }


def check_trusted_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """Base64 raw ed25519 public keys, each parsed and re-encoded canonically (so they compare
    equal to stored signature keys); duplicates dropped, order kept."""
    if isinstance(keys, str):
        raise InvalidInputError(
            "trusted_keys must be a list of base64 public keys, not one string",
            field="trusted_keys",
        )
    out: list[str] = []
    for key in keys:
        try:
            canonical = public_key_b64(parse_public_key(key))
        except (InvalidInputError, AttributeError, TypeError, ValueError):
            raise InvalidInputError(
                f"trusted_keys holds {key!r}, which is not a base64 raw ed25519 public key",
                field="trusted_keys",
            ) from None
        if canonical not in out:
            out.append(canonical)
    return tuple(out)
