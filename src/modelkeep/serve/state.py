"""Everything one running inference server holds: the model slots, the alias watcher, the
canary weight, the inference log, metrics and the token check. Built at start-up, closed at
shutdown.

A canary that follows an alias which is not set yet starts *pending* (``canary`` is None and
nothing is routed to it); the watcher loads it when the alias appears and removes it again
when the alias is deleted (see :mod:`modelkeep.serve.rollout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.config import Settings
from modelkeep.entities import ApiToken, Role
from modelkeep.exceptions import AuthenticationError, NotFoundError
from modelkeep.registry.uris import parse_model_uri
from modelkeep.serve.deployment import BatchSettings, Deployment, load_deployment, resolve_version
from modelkeep.serve.guard import Guard
from modelkeep.serve.inference_log import InferenceLog
from modelkeep.serve.metrics import ServeMetrics
from modelkeep.serve.options import ServeOptions
from modelkeep.serve.rollout import (
    CANARY_WEIGHT_TAG,
    AliasWatcher,
    CanaryWeight,
    Follow,
    Slot,
    alias_not_set,
    choose_canary,
)
from modelkeep.server.auth import authenticate, check_role, hash_token
from modelkeep.tracking import Client

__all__ = ["ServingState", "TokenCache"]

_log = logging.getLogger("modelkeep.serve")
_TOKEN_TTL_S = 10.0
_PENDING: dict[str, Any] = {
    "version": None,
    "requests": 0,
    "errors": 0,
    "rejected": 0,
    "error_rate": 0.0,
    "p50_ms": None,
    "p99_ms": None,
    "weight": 0.0,
}  # a canary waiting for its alias: what /version shows for it


class TokenCache:
    """Bearer-token checks against the store, each token remembered for 10 s (so a request
    costs no database round trip; a revoked token stops working within 10 s)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._known: dict[str, tuple[ApiToken, float]] = {}

    def check(self, authorization: str | None, needed: Role) -> ApiToken:
        """The token the header names, if it may do ``needed``.

        Raises:
            AuthenticationError: missing, malformed, unknown or revoked token.
            PermissionDeniedError: the token's role is too low.
        """
        key = hash_token(authorization or "")
        cached = self._known.get(key)
        now = time.monotonic()
        if cached is None or cached[1] < now:
            try:
                token = authenticate(self._client.store, authorization)
            except AuthenticationError:
                self._known.pop(key, None)
                raise
            cached = (token, now + _TOKEN_TTL_S)
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = cached
        check_role(cached[0], needed)
        return cached[0]


@dataclass
class ServingState:
    """A running server's parts (see the module docstring)."""

    options: ServeOptions
    settings: Settings
    client: Client
    metrics: ServeMetrics
    primary: Slot
    canary: Slot | None = None
    shadow: Slot | None = None
    log: InferenceLog | None = None
    tokens: TokenCache | None = None
    watcher: AliasWatcher | None = None
    weight: CanaryWeight | None = None
    guard: Guard = field(default_factory=Guard)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def slots(self) -> list[Slot]:
        return [s for s in (self.primary, self.canary, self.shadow) if s is not None]

    @property
    def answering(self) -> list[Slot]:
        """The slots that answer requests: the primary, and the canary when it is loaded."""
        return [s for s in (self.primary, self.canary) if s is not None]

    @property
    def canary_weight(self) -> float:
        """The canary's share of requests now (the weight tag, else ``--canary-weight``)."""
        return self.weight.value if self.weight is not None else self.options.canary_weight

    def route(self, key: str | None) -> Slot:
        """The slot that answers a request with routing ``key`` (primary or canary)."""
        canary = self.canary
        if canary is not None and choose_canary(key, self.canary_weight):
            return canary
        return self.primary

    def observe_variant(
        self, slot: Slot, deployment: Deployment, status: int, latency_ms: float
    ) -> None:
        """Count one scoring answer of ``slot`` (given by ``deployment``) with ``status``."""
        slot.stats.observe(deployment.version, status, latency_ms)
        self.metrics.observe_variant(slot.variant, deployment.version, status)

    def variants(self) -> dict[str, dict[str, Any]]:
        """Live counts of the answering variants, for ``GET /version``."""
        canary = self.canary
        share = self.canary_weight if canary is not None else 0.0
        described = {"primary": self.primary.stats.snapshot(1.0 - share)}
        if self.options.canary_uri is None:
            return described
        counts = canary.stats.snapshot(share) if canary is not None else dict(_PENDING)
        described["canary"] = {
            **counts,
            "uri": self.options.canary_uri,
            "pending": canary is None,
            "configured_weight": self.canary_weight,
            "weight_source": self.weight.source if self.weight is not None else "option",
        }
        return described

    def slot_for_version(self, version: str) -> Slot | None:
        """The answering slot serving ``version`` now, if any."""
        for slot in (self.primary, self.canary):
            if slot is not None and slot.current.version == version:
                return slot
        return None

    def authorize(self, authorization: str | None, needed: Role) -> ApiToken | None:
        """Check the bearer token when auth is on (see :class:`TokenCache`); the token."""
        if self.tokens is not None:
            return self.tokens.check(authorization, needed)
        return None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @classmethod
    async def start(cls, options: ServeOptions, settings: Settings) -> ServingState:
        """Load every model (in worker threads), open the log, start the watcher."""
        client = Client(
            options.tracking_uri or settings.resolved_tracking_uri(), settings=settings
        )
        metrics = ServeMetrics()
        try:
            loader = _Loader(client, options, settings, metrics)
            primary = await loader.primary(options.model_uri)
            canary = await loader.canary(options.canary_uri)
            shadow = await loader.slot("shadow", options.shadow_uri)
        except BaseException:
            client.close()
            raise
        state = cls(options, settings, client, metrics, primary, canary, shadow)
        state.weight = CanaryWeight(options.canary_weight, _tag_reader(client, options))
        await asyncio.to_thread(state.weight.refresh)
        if options.inference_log:
            # ~1.8 KB a queued row: 200,000 rows bound the backlog near 400 MB.
            state.log = InferenceLog(settings.home / "inference", max_backlog=200_000)
            metrics.watch_log(lambda: state.log.backlog if state.log else 0,
                              lambda: state.log.dropped if state.log else 0)  # fmt: skip
        state.tokens = TokenCache(client) if options.auth else None
        state.guard = await Guard.start(options, client, primary.current)
        for slot in state.slots:
            state.declare_inputs(slot.current)
        state._start_watcher(loader)
        return state

    def declare_inputs(self, deployment: Deployment) -> None:
        """Tell the inference log the input dtypes of ``deployment``'s signature."""
        signature = deployment.model.signature
        if self.log is None or signature is None or signature.input_kind != "dataframe":
            return
        self.log.declare_inputs(deployment.name, {c.name: c.dtype for c in signature.inputs})

    def _start_watcher(self, loader: _Loader) -> None:
        def swapped(slot: Slot, new: Deployment) -> None:
            self.metrics.reloads.labels(slot.variant, "ok").inc()
            loader.announce(slot.variant, new)
            self.declare_inputs(new)

        def failed(variant: str, _exc: BaseException) -> None:
            self.metrics.reloads.labels(variant, "failed").inc()

        def attached(slot: Slot) -> None:
            self.canary = slot
            swapped(slot, slot.current)

        def detached(slot: Slot) -> None:
            if self.canary is slot:
                self.canary = None
            self.metrics.clear_model(slot.variant)

        follows = [Follow(s.variant, s.uri, s) for s in (self.primary, self.shadow) if s]
        if self.options.canary_uri is not None:
            follows.append(Follow("canary", self.options.canary_uri, self.canary, optional=True))
        self.watcher = AliasWatcher(
            follows,
            resolve=lambda uri: resolve_version(self.client, uri),
            load=loader.load,
            interval_s=self.options.poll_interval_s,
            on_swap=swapped,
            on_failure=failed,
            on_attach=attached,
            on_detach=detached,
            weight=self.weight,
        )
        if self.watcher.watching:
            self._tasks.append(asyncio.get_running_loop().create_task(self.watcher.run()))

    async def stop(self) -> None:
        """Stop the watcher, finish queued requests, flush the log, close the store."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in list(self._background):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        for slot in self.slots:
            await slot.current.batcher.close()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
        self.client.close()


class _Loader:
    """Loads deployments with the server's settings and keeps the model-info metric current."""

    def __init__(
        self, client: Client, options: ServeOptions, settings: Settings, metrics: ServeMetrics
    ) -> None:
        self._client = client
        self._options = options
        self._cache = Path(settings.home) / "cache" / "onnx"
        self._metrics = metrics

    def load(self, uri: str) -> Deployment:
        return load_deployment(
            self._client,
            uri,
            runtime=self._options.runtime,
            cache_dir=self._cache,
            allow_code=self._options.allow_code,
            batching=BatchSettings(self._options.max_batch_size, self._options.max_batch_delay_ms),
            observe=self._metrics.observe_batch,
            always_proba=self._options.inference_log,  # the log records probabilities
        )

    async def primary(self, uri: str) -> Slot:
        slot = await self.slot("primary", uri)
        assert slot is not None
        return slot

    async def canary(self, uri: str | None) -> Slot | None:
        """The canary's slot; None when there is none, or while its alias is not set."""
        if uri is None:
            return None
        try:
            return await self.slot("canary", uri)
        except NotFoundError as exc:
            if not alias_not_set(uri, exc):
                raise
            _log.warning("the canary %s is pending: %s; it answers once the alias is set",
                         uri, exc.message)  # fmt: skip
            return None

    async def slot(self, variant: str, uri: str | None) -> Slot | None:
        if uri is None:
            return None
        deployment = await asyncio.to_thread(self.load, uri)
        deployment.batcher.start()
        self.announce(variant, deployment)
        return Slot(variant, uri, deployment)

    def announce(self, variant: str, deployment: Deployment) -> None:
        self._metrics.set_model(
            variant,
            deployment.name,
            deployment.version,
            deployment.root_digest,
            deployment.runtime,
        )


def _tag_reader(client: Client, options: ServeOptions) -> Callable[[], str | None] | None:
    """Reads the canary weight tag of the canary's registered model (None: no such model)."""
    if options.canary_uri is None:
        return None
    name = parse_model_uri(options.canary_uri).name
    if name is None:
        return None

    def read() -> str | None:
        return client.store.get_registered_model(name).tags.get(CANARY_WEIGHT_TAG)

    return read


def versions(slots: Sequence[Slot]) -> list[str]:
    """The versions the answering slots serve, without repeats."""
    seen: list[str] = []
    for slot in slots:
        if slot.current.version not in seen:
            seen.append(slot.current.version)
    return seen
