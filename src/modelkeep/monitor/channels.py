"""Alert channels: where a fired alert goes (a log line, a webhook, an email...).

A channel is a plugin behind a small interface, :class:`AlertChannel`. A factory builds one
from a :class:`ChannelSpec` (the channel's name, its ``type`` and the rest of its YAML keys)
and is registered under its type with :func:`register_channel`. The built-in types are
registered the same way a user's are: ``log`` here, ``webhook`` in
:mod:`modelkeep.monitor.webhook` and ``email`` in :mod:`modelkeep.monitor.smtp`, imported the
first time their type is looked up.

Example:
    >>> class Collect(AlertChannel):
    ...     sent = []
    ...     def send(self, alert):
    ...         self.sent.append(alert)
    >>> register_channel("collect", lambda spec: Collect())  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import difflib
import importlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError, ModelkeepError

if TYPE_CHECKING:
    from modelkeep.monitor.alerts import Alert

__all__ = [
    "AlertChannel",
    "ChannelFactory",
    "ChannelSpec",
    "DeliveryError",
    "LogChannel",
    "available_channels",
    "build_channel",
    "parse_channel_options",
    "register_channel",
    "send_with_retries",
]

ALERT_LOGGER = "modelkeep.monitor.alerts"

# Built-in channel types whose module registers them on import (kept lazy so that loading
# rules with only a log channel never imports httpx or smtplib).
_BUILTIN_MODULES = {
    "webhook": "modelkeep.monitor.webhook",
    "email": "modelkeep.monitor.smtp",
}

_ModelT = TypeVar("_ModelT", bound=BaseModel)


class DeliveryError(ModelkeepError):
    """A channel could not deliver an alert.

    Attributes:
        retryable: whether trying again may succeed (a 5xx or a dropped connection), as
            opposed to a refusal that will not change (a 4xx, a forbidden address).
    """

    code = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ChannelSpec:
    """A configured channel: the YAML mapping under ``channels.<name>``.

    Attributes:
        name: the key rules refer to it by.
        type: the registered channel type (``log``, ``webhook``, ``email``, a plugin's).
        options: every other key of the mapping, checked by the type's factory.
    """

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


class AlertChannel(abc.ABC):
    """Sends alerts somewhere. Built by a factory from a :class:`ChannelSpec`.

    ``send`` is called from the monitoring loop, one alert at a time; it may block (network)
    but should bound its own time (timeouts, a limited number of retries).
    """

    @abc.abstractmethod
    def send(self, alert: Alert) -> None:
        """Deliver one alert.

        Raises:
            DeliveryError: the alert was not delivered; the message says why.
        """


ChannelFactory = Callable[[ChannelSpec], AlertChannel]
"""Builds a channel from its spec; raises InvalidInputError (field ``channels.<name>.<key>``)
for a bad option, as :func:`parse_channel_options` does."""

_FACTORIES: dict[str, ChannelFactory] = {}
_LOCK = threading.Lock()


def register_channel(type_: str, factory: ChannelFactory, *, replace: bool = False) -> None:
    """Make a channel type available to alert rules.

    Args:
        type_: the value of ``type`` in a channel's YAML mapping.
        factory: builds the channel from its :class:`ChannelSpec`.
        replace: overwrite a type registered before (otherwise that is an error).

    Raises:
        AlreadyExistsError: ``type_`` is registered and ``replace`` is false.
        InvalidInputError: ``type_`` is empty.
    """
    if not type_ or not type_.strip():
        raise InvalidInputError("a channel type needs a name", field="type")
    with _LOCK:
        if type_ in _FACTORIES and not replace:
            raise AlreadyExistsError(f"channel type {type_!r} is already registered")
        _FACTORIES[type_] = factory


def available_channels() -> list[str]:
    """The registered channel types, built-in ones included, sorted."""
    for type_ in _BUILTIN_MODULES:
        _factory(type_)
    with _LOCK:
        return sorted(_FACTORIES)


def build_channel(spec: ChannelSpec) -> AlertChannel:
    """The channel ``spec`` describes, built by its type's factory.

    Raises:
        InvalidInputError: an unknown type (``field="channels.<name>.type"``) or a bad option
            (``field`` names it).
    """
    factory = _factory(spec.type)
    if factory is None:
        raise InvalidInputError(
            f"channels.{spec.name}.type: unknown channel type {spec.type!r}; expected one of "
            f"{', '.join(available_channels())}",
            field=f"channels.{spec.name}.type",
        )
    return factory(spec)


def parse_channel_options(model: type[_ModelT], spec: ChannelSpec) -> _ModelT:
    """Check a channel's options against a pydantic model (for factories, plugins' too).

    Raises:
        InvalidInputError: the first problem, ``field`` naming it as
            ``channels.<name>.<key>``.
    """
    try:
        return model.model_validate(dict(spec.options))
    except ValidationError as exc:
        raise invalid_from_validation(exc, f"channels.{spec.name}", model=model) from None


def invalid_from_validation(
    exc: ValidationError, prefix: str, *, model: type[BaseModel] | None = None
) -> InvalidInputError:
    """The first pydantic error as an InvalidInputError naming its dotted key.

    Args:
        exc: the validation error.
        prefix: dotted path of the validated mapping (``""`` for the top).
        model: the validated model; an unknown key's message then lists the known ones.
    """
    # A typo shows up twice (an unknown key and a missing one): name the typo.
    error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(error["loc"])
    key = ".".join([prefix, *(str(part) for part in loc)]).strip(".")
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, loc[:-1]) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = f" (expected one of {', '.join(known)})" if known else ""
        message = f"{key}: unknown key{hint}{listed}"
    elif error["type"] == "missing":
        message = f"{key}: required key is missing"
    else:
        text = str(error["msg"]).removeprefix("Value error, ")
        got = "" if "(got " in text else f" (got {error.get('input')!r})"
        message = f"{key}: {text}{got}"
    return InvalidInputError(message, field=key or prefix or "rules")


def _known_keys(model: type[BaseModel], parent: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in parent:
        if isinstance(part, int) or not _is_model(current):
            continue
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        args = getattr(info.annotation, "__args__", (info.annotation,))
        current = next((arg for arg in args if _is_model(arg)), None)
    if not _is_model(current):
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def send_with_retries(
    attempt: Callable[[], None], *, retries: int, backoff_s: float, backoff_max_s: float = 60.0
) -> None:
    """Call ``attempt`` until it succeeds, retrying retryable :class:`DeliveryError` s.

    The wait before retry ``n`` (from 0) is ``backoff_s * 2**n`` (at most ``backoff_max_s``)
    scaled by a random factor in [0.5, 1] so that many senders do not retry in step.

    Raises:
        DeliveryError: the last failure, its message saying how many attempts were made.
    """
    for n in range(retries + 1):
        try:
            attempt()
            return
        except DeliveryError as exc:
            if not exc.retryable or n == retries:
                tries = f" (after {n + 1} attempts)" if n else ""
                raise DeliveryError(f"{exc.message}{tries}", retryable=exc.retryable) from exc
        time.sleep(min(backoff_max_s, backoff_s * 2**n) * random.uniform(0.5, 1.0))


class LogChannel(AlertChannel):
    """Writes each alert to the ``modelkeep.monitor.alerts`` logger, at a level matching its
    severity (info, warning, critical)."""

    _LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ALERT_LOGGER)

    def send(self, alert: Alert) -> None:
        """Log the alert's message."""
        self._logger.log(self._LEVELS.get(alert.severity, logging.WARNING), alert.message)


def _log_factory(spec: ChannelSpec) -> AlertChannel:
    if spec.options:
        key = sorted(spec.options)[0]
        raise InvalidInputError(
            f"channels.{spec.name}.{key}: unknown key (a log channel takes only type)",
            field=f"channels.{spec.name}.{key}",
        )
    return LogChannel()


def _factory(type_: str) -> ChannelFactory | None:
    with _LOCK:
        found = _FACTORIES.get(type_)
    if found is None and type_ in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[type_])
        with _LOCK:
            found = _FACTORIES.get(type_)
    return found


register_channel("log", _log_factory)
