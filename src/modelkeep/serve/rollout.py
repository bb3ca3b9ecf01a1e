"""Which model answers a request (primary or canary), and the hot reload of aliases.

A :class:`Slot` holds the deployment currently serving one variant: ``primary``, ``canary``
or ``shadow``. Swapping it is one attribute assignment on the event loop, so a request sees
either the old version or the new one, never a mix; requests already queued on the old
version's batcher are still scored by it (and tagged with its version), and its batcher is
closed once they are done.

Canary routing is sticky: a request carrying ``X-Request-Id`` (or ``X-Routing-Key``) is routed
by a hash of that key, so the same key always reaches the same variant; requests without one
are routed at random with the same weight.

:class:`AliasWatcher` polls the registry for slots that follow an alias (or ``latest``). When
the alias moves it loads the new version in a worker thread (integrity checks, runtime
choice, a warm-up prediction on the input example), then swaps it in; a version that fails to
load is logged and counted, and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelkeep.registry.uris import parse_model_uri
from modelkeep.serve.deployment import Deployment

__all__ = ["AliasWatcher", "Slot", "canary_share", "choose_canary"]

_log = logging.getLogger("modelkeep.serve")

SwapCallback = Callable[["Slot", Deployment], None]


@dataclass
class Slot:
    """The deployment serving one variant now."""

    variant: str
    uri: str
    current: Deployment

    @property
    def follows_alias(self) -> bool:
        """Whether the URI can move (an alias or ``latest``), so it is polled."""
        parsed = parse_model_uri(self.uri)
        return parsed.kind == "model" and parsed.version is None

    async def swap(self, new: Deployment) -> None:
        """Serve ``new`` from now on; the old version finishes its queued requests."""
        old, self.current = self.current, new
        new.batcher.start()
        await old.batcher.close()


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


class AliasWatcher:
    """Polls the versions behind moving URIs and hot-swaps the slots that moved.

    Args:
        slots: the slots to watch (those with a fixed version are skipped).
        resolve: the version a URI points at now (blocking; run in a thread).
        load: loads a URI into a warmed-up deployment (blocking; run in a thread).
        interval_s: seconds between polls.
        on_swap: called after each successful swap (metrics).
        on_failure: called with (slot, error) when a new version cannot be loaded.
    """

    def __init__(
        self,
        slots: Sequence[Slot],
        *,
        resolve: Callable[[str], str],
        load: Callable[[str], Deployment],
        interval_s: float,
        on_swap: SwapCallback | None = None,
        on_failure: Callable[[Slot, BaseException], None] | None = None,
    ) -> None:
        self._slots = [slot for slot in slots if slot.follows_alias]
        self._resolve = resolve
        self._load = load
        self._interval = max(0.05, interval_s)
        self._on_swap = on_swap
        self._on_failure = on_failure
        self._failed: dict[str, str] = {}  # variant -> version that failed to load

    @property
    def watching(self) -> bool:
        return bool(self._slots)

    async def run(self) -> None:
        """Poll for ever (cancel the task to stop)."""
        while True:
            await asyncio.sleep(self._interval)
            for slot in self._slots:
                await self.check(slot)

    async def check(self, slot: Slot) -> bool:
        """Reload ``slot`` if its URI points at another version now; True if swapped."""
        try:
            version = await asyncio.to_thread(self._resolve, slot.uri)
        except Exception as exc:  # noqa: BLE001 - the registry may be briefly unreachable
            _log.warning("cannot resolve %s: %s", slot.uri, exc)
            return False
        if version == slot.current.version or self._failed.get(slot.variant) == version:
            return False
        try:
            new = await asyncio.to_thread(self._load, slot.uri)
        except Exception as exc:  # noqa: BLE001 - keep serving the old version
            self._failed[slot.variant] = version
            _log.error("keeping version %s of %s: %s", slot.current.version, slot.uri, exc)
            if self._on_failure is not None:
                self._on_failure(slot, exc)
            return False
        self._failed.pop(slot.variant, None)
        _log.info("%s moved: serving version %s (was %s)", slot.uri, new.version,
                  slot.current.version)  # fmt: skip
        await slot.swap(new)
        if self._on_swap is not None:
            self._on_swap(slot, new)
        return True
