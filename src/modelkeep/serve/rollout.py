"""Which model answers a request (primary or canary), and the hot reload of aliases.

A :class:`Slot` holds the deployment currently serving one variant: ``primary``, ``canary``
or ``shadow``. Swapping it is one attribute assignment on the event loop, so a request sees
either the old version or the new one, never a mix; requests already queued on the old
version's batcher are still scored by it (and tagged with its version), and its batcher is
closed once they are done. Each slot keeps live counts of the version it serves
(:class:`~modelkeep.serve.variant_stats.VariantStats`), started again at every swap.

Canary routing is sticky: a request carrying ``X-Request-Id`` (or ``X-Routing-Key``) is routed
by a hash of that key, so the same key always reaches the same variant; requests without one
are routed at random with the same weight. The weight is the ``--canary-weight`` option,
unless the canary's registered model has the tag :data:`CANARY_WEIGHT_TAG` holding a number
in [0, 1] (:class:`CanaryWeight`, read again at every poll).

:class:`AliasWatcher` polls the registry for slots that follow an alias (or ``latest``). When
the alias moves it loads the new version in a worker thread (integrity checks, runtime
choice, a warm-up prediction on the input example), then swaps it in; a version that fails to
load is logged and counted, and the old one keeps serving. A canary that follows an alias is
optional: while its alias is not set it is *pending* (nothing is routed to it), it is loaded
when the alias appears, and it stops answering when the alias is deleted. Only the registry
saying the alias is not set removes it: an unreachable store leaves every slot serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modelkeep.exceptions import NotFoundError
from modelkeep.registry.uris import parse_model_uri
from modelkeep.serve.deployment import Deployment
from modelkeep.serve.variant_stats import VariantStats

__all__ = [
    "CANARY_WEIGHT_TAG",
    "AliasWatcher",
    "CanaryWeight",
    "Follow",
    "Slot",
    "alias_not_set",
    "canary_share",
    "choose_canary",
    "follows_alias",
]

_log = logging.getLogger("modelkeep.serve")

CANARY_WEIGHT_TAG = "modelkeep.serve.canary_weight"
"""Registered-model tag whose value (a number in [0, 1]) overrides ``--canary-weight``."""

SwapCallback = Callable[["Slot", Deployment], None]


def follows_alias(uri: str) -> bool:
    """Whether ``uri`` can move (an alias or ``latest``), so it is polled."""
    parsed = parse_model_uri(uri)
    return parsed.kind == "model" and parsed.version is None


def alias_not_set(uri: str, exc: BaseException) -> bool:
    """Whether ``exc`` says that the alias ``uri`` follows is not set (the registered model
    exists): the error that makes a canary pending, or removes it."""
    return (
        isinstance(exc, NotFoundError)
        and exc.field == "alias"
        and parse_model_uri(uri).alias is not None
    )


@dataclass
class Slot:
    """The deployment serving one variant now, and its live counts."""

    variant: str
    uri: str
    current: Deployment
    stats: VariantStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = VariantStats(self.current.version)

    @property
    def follows_alias(self) -> bool:
        """Whether the URI can move (an alias or ``latest``), so it is polled."""
        return follows_alias(self.uri)

    async def swap(self, new: Deployment) -> None:
        """Serve ``new`` from now on; the old version finishes its queued requests."""
        old, self.current = self.current, new
        self.stats = VariantStats(new.version)
        new.batcher.start()
        await old.batcher.close()


@dataclass
class Follow:
    """A variant whose URI is polled.

    Attributes:
        variant: ``primary``, ``canary`` or ``shadow``.
        uri: the URI it follows.
        slot: what serves it now; None while an optional variant's alias is not set.
        optional: loaded when its alias appears, removed when the alias is deleted
            (the canary); a required variant keeps serving whatever the registry says.
    """

    variant: str
    uri: str
    slot: Slot | None
    optional: bool = False


def canary_share(key: str) -> float:
    """A stable number in [0, 1) for routing ``key`` (the same key, the same number)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_canary(key: str | None, weight: float) -> bool:
    """Whether a request with routing ``key`` goes to the canary (``weight`` = its share)."""
    if weight <= 0:
        return False
    if weight >= 1:
        return True
    share = canary_share(key) if key else random.random()
    return share < weight


class CanaryWeight:
    """The canary's share of requests: the tag :data:`CANARY_WEIGHT_TAG` of the canary's
    registered model when it holds a number in [0, 1], else the ``--canary-weight`` option.

    A tag that is not such a number is logged once (per value) and ignored: the option
    applies, as when the tag is absent. A store that cannot be read keeps the current value.

    Args:
        default: the ``--canary-weight`` option.
        read_tag: returns the tag's value now, or None when absent (blocking); None when the
            canary is not a registered model (``runs:/`` URIs): the option always applies.

    Example:
        >>> weight = CanaryWeight(0.1, lambda: "0.5")
        >>> weight.refresh(), weight.source
        (0.5, 'tag')
    """

    def __init__(self, default: float, read_tag: Callable[[], str | None] | None = None) -> None:
        self.default = default
        self.value = default
        self.source = "option"
        self._read = read_tag
        self._reported: set[str] = set()

    @property
    def polled(self) -> bool:
        """Whether there is a tag to read."""
        return self._read is not None

    def refresh(self) -> float:
        """Read the tag again (blocking) and return the weight in force."""
        if self._read is None:
            return self.value
        try:
            raw = self._read()
        except Exception as exc:  # noqa: BLE001 - the registry may be briefly unreachable
            _log.warning("cannot read the canary weight tag (keeping %s): %s", self.value, exc)
            return self.value
        return self.apply(raw)

    def apply(self, raw: str | None) -> float:
        """Use the tag value ``raw`` (None: absent) and return the weight in force."""
        parsed = None if raw is None else self._parse(raw)
        value, source = (self.default, "option") if parsed is None else (parsed, "tag")
        if (value, source) != (self.value, self.source):
            _log.info("the canary now answers %.4g of requests (from the %s)", value, source)
        self.value, self.source = value, source
        return value

    def _parse(self, raw: str) -> float | None:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if math.isfinite(value) and 0.0 <= value <= 1.0:
            return value
        if raw not in self._reported:
            self._reported.add(raw)
            _log.warning(
                "ignoring %s=%r: not a number between 0 and 1 (the canary gets %s)",
                CANARY_WEIGHT_TAG, raw, self.default,
            )  # fmt: skip
        return None


class AliasWatcher:
    """Polls the versions behind moving URIs and hot-swaps the slots that moved.

    Args:
        follows: the slots (or :class:`Follow` entries, for optional variants) to watch;
            those with a fixed version are skipped.
        resolve: the version a URI points at now (blocking; run in a thread).
        load: loads a URI into a warmed-up deployment (blocking; run in a thread).
        interval_s: seconds between polls.
        on_swap: called after each successful swap (metrics).
        on_failure: called with (variant, error) when a new version cannot be loaded.
        on_attach: called with the new slot when a pending variant's alias appeared.
        on_detach: called with the slot when an optional variant's alias was deleted (its
            queued requests are then finished and its batcher closed).
        weight: the canary weight, refreshed at every poll.
    """

    def __init__(
        self,
        follows: Sequence[Slot | Follow],
        *,
        resolve: Callable[[str], str],
        load: Callable[[str], Deployment],
        interval_s: float,
        on_swap: SwapCallback | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
        on_attach: Callable[[Slot], None] | None = None,
        on_detach: Callable[[Slot], None] | None = None,
        weight: CanaryWeight | None = None,
    ) -> None:
        entries = [f if isinstance(f, Follow) else Follow(f.variant, f.uri, f) for f in follows]
        self._follows = [f for f in entries if follows_alias(f.uri)]
        self._resolve = resolve
        self._load = load
        self._interval = max(0.05, interval_s)
        self._on_swap = on_swap
        self._on_failure = on_failure
        self._on_attach = on_attach
        self._on_detach = on_detach
        self._weight = weight
        self._failed: dict[str, str] = {}  # variant -> version that failed to load

    @property
    def watching(self) -> bool:
        return bool(self._follows) or (self._weight is not None and self._weight.polled)

    async def run(self) -> None:
        """Poll for ever (cancel the task to stop)."""
        while True:
            await asyncio.sleep(self._interval)
            await self.poll()

    async def poll(self) -> None:
        """Check every followed URI and the canary weight once."""
        if self._weight is not None and self._weight.polled:
            await asyncio.to_thread(self._weight.refresh)
        for follow in self._follows:
            await self.check(follow)

    async def check(self, follow: Follow) -> bool:
        """Reload, load or remove ``follow``'s slot if its URI moved; True if it changed."""
        try:
            version = await asyncio.to_thread(self._resolve, follow.uri)
        except Exception as exc:  # noqa: BLE001 - the registry may be briefly unreachable
            if follow.optional and alias_not_set(follow.uri, exc):
                return await self._detach(follow)
            _log.warning("cannot resolve %s: %s", follow.uri, exc)
            return False
        slot = follow.slot
        if slot is not None and version == slot.current.version:
            return False
        if self._failed.get(follow.variant) == version:
            return False
        try:
            new = await asyncio.to_thread(self._load, follow.uri)
        except Exception as exc:  # noqa: BLE001 - keep serving the old version
            self._failed[follow.variant] = version
            kept = f"version {slot.current.version}" if slot is not None else "nothing"
            _log.error("keeping %s of %s %s: %s", kept, follow.variant, follow.uri, exc)
            if self._on_failure is not None:
                self._on_failure(follow.variant, exc)
            return False
        self._failed.pop(follow.variant, None)
        if slot is None:
            return self._attach(follow, new)
        _log.info("%s moved: serving version %s (was %s)", follow.uri, new.version,
                  slot.current.version)  # fmt: skip
        await slot.swap(new)
        if self._on_swap is not None:
            self._on_swap(slot, new)
        return True

    def _attach(self, follow: Follow, new: Deployment) -> bool:
        new.batcher.start()
        follow.slot = Slot(follow.variant, follow.uri, new)
        _log.info("%s is set: the %s serves version %s", follow.uri, follow.variant, new.version)
        if self._on_attach is not None:
            self._on_attach(follow.slot)
        return True

    async def _detach(self, follow: Follow) -> bool:
        self._failed.pop(follow.variant, None)
        slot, follow.slot = follow.slot, None
        if slot is None:
            return False  # still pending
        _log.warning("%s is no longer set: the %s (version %s) stops answering",
                     follow.uri, follow.variant, slot.current.version)  # fmt: skip
        if self._on_detach is not None:
            self._on_detach(slot)
        await slot.current.batcher.close()
        return True
