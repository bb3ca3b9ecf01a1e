"""Buffered, batched metric logging.

``log_metric`` only appends to an in-memory queue; a daemon thread writes the queue to the
store with ``log_batch`` every ``interval`` seconds or as soon as ``max_points`` are waiting.
``flush()`` writes everything now from the caller's thread and re-raises the first error a
background write met, so nothing fails silently. An ``atexit`` hook flushes at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence

from modelkeep.entities import Metric, Param, RunTag
from modelkeep.exceptions import ModelkeepError, StoreUnavailableError

BatchWriter = Callable[[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]
FinalWriter = Callable[[Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]

_LIVE: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


class MetricBuffer:
    """Per-client queue of pending points, params and tags, keyed by run id."""

    def __init__(self, write: BatchWriter, interval: float = 1.0, max_points: int = 50_000):
        self._write = write
        self._interval = interval
        self._max_points = max_points
        self._lock = threading.Lock()  # guards the pending dicts
        self._flush_lock = threading.Lock()  # one writer at a time keeps batches in order
        self._metrics: dict[str, list[Metric]] = defaultdict(list)
        self._params: dict[str, list[Param]] = defaultdict(list)
        self._tags: dict[str, list[RunTag]] = defaultdict(list)
        self._count = 0
        self._errors: dict[str, ModelkeepError] = {}  # first background failure per run
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="modelkeep-metric-flusher", daemon=True
            )
            self._thread.start()

    def add(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        with self._lock:
            if metrics:
                self._metrics[run_id].extend(metrics)
            if params:
                self._params[run_id].extend(params)
            if tags:
                self._tags[run_id].extend(tags)
            self._count += len(metrics) + len(params) + len(tags)
            full = self._count >= self._max_points
        if self._thread is None:
            self._ensure_thread()
        if full:
            self._wake.set()

    def _take(
        self, run_id: str | None
    ) -> list[tuple[str, list[Metric], list[Param], list[RunTag]]]:
        with self._lock:
            ids = set(self._metrics) | set(self._params) | set(self._tags)
            if run_id is not None:
                ids &= {run_id}
            out = [
                (
                    rid,
                    self._metrics.pop(rid, []),
                    self._params.pop(rid, []),
                    self._tags.pop(rid, []),
                )
                for rid in ids
            ]
            self._count = (
                sum(map(len, self._metrics.values()))
                + sum(map(len, self._params.values()))
                + sum(map(len, self._tags.values()))
            )
            return out

    def _put_back(self, rid: str, ms: list[Metric], ps: list[Param], ts: list[RunTag]) -> None:
        with self._lock:
            self._metrics[rid][:0] = ms
            self._params[rid][:0] = ps
            self._tags[rid][:0] = ts
            self._count += len(ms) + len(ps) + len(ts)

    def _write_one(self, rid: str, ms: list[Metric], ps: list[Param], ts: list[RunTag]) -> None:
        try:
            self._write(rid, ms, ps, ts)
        except StoreUnavailableError:
            self._put_back(rid, ms, ps, ts)  # keep the points; retry later
            raise

    def _pop_error(self, run_id: str | None) -> ModelkeepError | None:
        with self._lock:
            if run_id is not None:
                return self._errors.pop(run_id, None)
            errors = list(self._errors.values())
            self._errors.clear()
        return errors[0] if errors else None

    def flush(self, run_id: str | None = None) -> None:
        """Write pending data (of one run, or all) now; re-raise a background write error."""
        error = self._pop_error(run_id)
        with self._flush_lock:
            for rid, ms, ps, ts in self._take(run_id):
                self._write_one(rid, ms, ps, ts)
        if error is not None:
            raise error

    def finish(self, run_id: str, finish: FinalWriter) -> None:
        """Hand the run's pending data to ``finish`` (called once, maybe with empty lists), so
        the last batch and the end of the run can be written together."""
        error = self._pop_error(run_id)
        with self._flush_lock:
            taken = self._take(run_id)
            ms, ps, ts = (taken[0][1], taken[0][2], taken[0][3]) if taken else ([], [], [])
            if error is not None:
                if taken:
                    self._write_one(run_id, ms, ps, ts)
                raise error
            try:
                finish(ms, ps, ts)
            except StoreUnavailableError:
                self._put_back(run_id, ms, ps, ts)
                raise

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._flush_lock:
                for rid, ms, ps, ts in self._take(None):
                    try:
                        self._write_one(rid, ms, ps, ts)
                    except ModelkeepError as exc:
                        with self._lock:
                            self._errors.setdefault(rid, exc)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._closed = True
        self._wake.set()
        self.flush()


@atexit.register
def _flush_all_at_exit() -> None:
    for buf in list(_LIVE):
        try:
            buf.close()
        except ModelkeepError:
            pass  # the process is ending; nowhere left to report to
