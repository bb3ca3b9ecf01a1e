"""Adaptive micro-batching: concurrent requests scored by one model call.

Each request becomes a :class:`Job` on an asyncio queue. One collector task takes the first
waiting job, then every job already queued behind it (up to ``max_batch_size`` rows), and
hands the batch to a single worker thread, so the event loop keeps reading requests while the
model computes. Whatever arrives during that computation forms the next batch: under load,
batches grow by themselves; with one client, each request is scored alone at once.

``max_batch_delay_ms`` adds a short wait for more jobs, but only while load is concurrent
(the previous batch held more than one job), so a lone client never pays it.

Each job gets back its own rows' outputs, or its own error: :func:`score_batch` checks every
job's rows against the signature and scores the good ones together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelkeep.serve.table import Table

__all__ = ["Job", "MicroBatcher", "Outcome"]

_log = logging.getLogger("modelkeep.serve")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One job's outputs: labels (or values) and, when computed, class probabilities."""

    labels: Any
    proba: Any | None
    classes: Sequence[Any] | None


@dataclass(slots=True)
class Job:
    """One request's rows waiting to be scored."""

    table: Table
    want_proba: bool
    future: asyncio.Future[Outcome] = field(repr=False)
    queued_at: float = 0.0

    def __len__(self) -> int:
        return len(self.table)


BatchScorer = Callable[[list[Job]], list[Outcome | BaseException]]
BatchObserver = Callable[[int, int], None]  # (jobs, rows) per batch


class MicroBatcher:
    """Coalesces concurrent jobs into batches scored on one worker thread.

    Args:
        score: scores a batch; returns one :class:`Outcome` or exception per job, in order.
        max_batch_size: the most rows in one batch (a larger single job is scored alone).
        max_batch_delay_ms: how long to wait for more jobs while load is concurrent.
        observe: called with (jobs, rows) of each batch (metrics).
    """

    def __init__(
        self,
        score: BatchScorer,
        *,
        max_batch_size: int = 64,
        max_batch_delay_ms: float = 2.0,
        observe: BatchObserver | None = None,
    ) -> None:
        self._score = score
        self._max_rows = max(1, max_batch_size)
        self._delay_s = max(0.0, max_batch_delay_ms) / 1000
        self._observe = observe
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelkeep-score")
        self._task: asyncio.Task[None] | None = None
        self._last_jobs = 0
        self._held: Job | None = None
        self._busy = False
        self._arrived = asyncio.Event()

    def start(self) -> None:
        """Start the collector task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect())

    async def submit(self, table: Table, *, want_proba: bool = False) -> Outcome:
        """Queue ``table``'s rows and wait for their outputs (or the job's error)."""
        if self._task is None:
            self.start()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Job(table, want_proba, future, time.perf_counter()))
        self._arrived.set()
        return await future

    @property
    def pending(self) -> int:
        """Jobs waiting for a batch."""
        return self._queue.qsize()

    async def close(self) -> None:
        """Score what is queued, then stop the collector and the worker thread."""
        while self._busy or not self._queue.empty() or self._held is not None:
            await asyncio.sleep(0.001)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if self._observe is not None:
                self._observe(len(batch), sum(len(job) for job in batch))
            self._last_jobs = len(batch)
            try:
                results = await loop.run_in_executor(self._executor, self._score, batch)
            except BaseException as exc:  # noqa: BLE001 - the scorer itself broke
                _log.exception("scoring a batch of %d jobs failed", len(batch))
                results = [exc] * len(batch)
            for job, result in zip(batch, results, strict=True):
                if job.future.done():  # the caller went away
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
            self._busy = False

    async def _next_batch(self) -> list[Job]:
        first = self._held if self._held is not None else await self._queue.get()
        self._held = None
        self._busy = True  # from here the batch is ours: close() must wait for it
        batch, rows = [first], len(first)
        deadline = time.perf_counter() + (self._delay_s if self._last_jobs > 1 else 0.0)
        while rows < self._max_rows:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                # Waiting on an event, not on queue.get(): a timed-out get could lose a job.
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                continue
            if rows + len(job) > self._max_rows:
                self._held = job  # starts the next batch
                break
            batch.append(job)
            rows += len(job)
        return batch
