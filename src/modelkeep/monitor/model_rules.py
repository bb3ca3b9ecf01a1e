"""Alert rules stored with a registered model, so every monitoring pass of that model uses
them without ``--rules``.

The rules' YAML text is kept as the registered model's tag ``modelkeep.monitor.alert_rules``
(8,000 characters at most); it is checked in full (channels built, every key validated)
before it is stored, so a stored document always loads.

Example:
    >>> store_alert_rules(client, "churn", Path("rules.yaml"))  # doctest: +SKIP
    >>> run_monitor("models:/churn@champion", window="1h")       # uses them  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.alerts import AlertRules, load_rules
from modelkeep.store.validation import MAX_TAG_VALUE_LENGTH
from modelkeep.tracking import Client

__all__ = ["RULES_TAG", "clear_alert_rules", "store_alert_rules", "stored_alert_rules"]

RULES_TAG = "modelkeep.monitor.alert_rules"


def store_alert_rules(
    client: Client, model: str, source: str | Path | Mapping[str, Any]
) -> AlertRules:
    """Check ``source`` (YAML text, a YAML file or a mapping) and store it with ``model``.

    Raises:
        NotFoundError: no registered model ``model``.
        InvalidInputError: rules that do not load (``field`` names the key), or a document
            longer than a tag holds.
    """
    loaded = load_rules(source)
    client.get_registered_model(model)  # NotFoundError before anything is written
    text = _as_text(source)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInputError(
            f"rules: {len(text)} characters; a model's stored rules hold at most "
            f"{MAX_TAG_VALUE_LENGTH}",
            field="rules",
        )
    client.store.set_registered_model_tag(model, RULES_TAG, text)
    return loaded


def stored_alert_rules(client: Client, model: str) -> str | None:
    """The YAML text of ``model``'s stored rules, or None (NotFoundError: no such model)."""
    return client.get_registered_model(model).tags.get(RULES_TAG)


def clear_alert_rules(client: Client, model: str) -> bool:
    """Forget ``model``'s stored rules; False when it had none."""
    if stored_alert_rules(client, model) is None:
        return False
    client.store.delete_registered_model_tag(model, RULES_TAG)
    return True


def _as_text(source: str | Path | Mapping[str, Any]) -> str:
    if isinstance(source, Mapping):
        return str(yaml.safe_dump(dict(source), sort_keys=False))
    from modelkeep.data.rules import read_rules_text

    return read_rules_text(source)
