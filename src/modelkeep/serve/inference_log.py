"""The inference log: every prediction the server makes, and the labels that arrive later.

The request path only takes a lock and extends a queue (:meth:`InferenceLog.append`); one
background thread turns the queue into Arrow tables, column by column, and writes Parquet files
partitioned by model and UTC hour (layout: :mod:`modelkeep.serve.inference_files`). Columns of
``predictions``: ``request_id``, ``timestamp`` (timestamp[ms, UTC]), ``version``, ``variant``,
``latency_ms``, ``prediction``, ``proba`` (list<double>, null when none) and one
``input.<column>`` per input; ``feedback``: ``request_id``, ``label``, ``timestamp``. ``model``
is the hive partition key (``model=<name>`` folders), so pandas, polars and pyarrow add it
when they read the ``predictions`` folder, and :func:`read_inference_log` adds it too.

Failure policy, chosen so that logging can never hurt serving:

* Over ``max_backlog`` queued items, the oldest are dropped and counted (:attr:`dropped`).
* A file that cannot be written (disk full, permissions...) counts one :attr:`write_errors`
  and is logged on ``logging.getLogger("modelkeep.serve")``; its rows go back to the front of
  the queue (within ``max_backlog``) and are retried a full flush interval later, or at once
  by :meth:`flush` and :meth:`close`. After three writes in a row have failed, the rows that
  failed are dropped (counted) rather than retried forever, which bounds memory and lets
  :meth:`flush` return.
* Rows that cannot be turned into a table at all (a bug upstream, not the disk) are dropped
  and counted at once: retrying cannot help.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> with InferenceLog(root) as log:
    ...     log.append([InferenceRecord("r1", 1_764_248_400_000, "churn", "3", "primary",
    ...                                 {"x": 1.5}, 1, [0.2, 0.8], 0.4)])
    >>> read_inference_log(root, "churn")["input.x"].tolist()
    [1.5]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from modelkeep.exceptions import InvalidInputError
from modelkeep.serve.inference_files import (
    FEEDBACK,
    PREDICTIONS,
    hour_bucket_dir,
    latest_schema,
    model_dir,
    write_atomically,
)
from modelkeep.serve.inference_read import join_feedback, read_feedback, read_inference_log
from modelkeep.serve.inference_tables import (
    check_feedback,
    feedback_key,
    feedback_table,
    partitions,
    record_key,
    records_table,
)

__all__ = [
    "Feedback",
    "InferenceLog",
    "InferenceRecord",
    "join_feedback",
    "read_feedback",
    "read_inference_log",
]

_log = logging.getLogger("modelkeep.serve")
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """One input row the server scored, and what came out.

    Attributes:
        request_id: the id feedback refers to (the request's, or one per row of a
            multi-row request).
        timestamp_ms: when the request arrived, epoch milliseconds (UTC).
        model: registered model name (the run id for ``runs:/`` URIs).
        version: the registered version (``""`` when not a registered version).
        variant: ``"primary"``, ``"canary"`` or ``"shadow"``.
        inputs: the input row, column -> JSON scalar.
        prediction: the label or value (JSON scalar).
        proba: class probabilities, or None.
        latency_ms: the request's latency.
    """

    request_id: str
    timestamp_ms: int
    model: str
    version: str
    variant: str
    inputs: Mapping[str, Any]
    prediction: Any
    proba: Sequence[float] | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Feedback:
    """A ground-truth label for an earlier request, which may arrive long after it.

    Attributes:
        request_id: the request it belongs to.
        label: the true label or value (JSON scalar).
        timestamp_ms: when the label was recorded, epoch milliseconds (UTC).
    """

    request_id: str
    label: Any
    timestamp_ms: int


@dataclass
class _Outcome:
    """What one write cycle did."""

    written: int = 0
    discarded: int = 0
    errors: int = 0
    failed_records: list[InferenceRecord] = field(default_factory=list)
    failed_feedback: list[tuple[str, Feedback]] = field(default_factory=list)


class InferenceLog:
    """Append-only log of predictions and feedback, written by a background thread.

    Thread safety: every method may be called from any thread. :meth:`append` and
    :meth:`append_feedback` never block on I/O and never raise for a write problem (see the
    module docstring for what happens to rows that cannot be written). The thread is a daemon:
    call :meth:`close` (or use the log as a context manager) to write what is queued.

    Args:
        root: the log's folder (the server uses ``Settings.home / "inference"``).
        flush_rows: write as soon as this many rows are queued.
        flush_interval_s: otherwise write queued rows at least this often.
        max_backlog: most rows queued (per kind: predictions, feedback) before the oldest
            are dropped. Queued rows are the appended objects themselves: a row of 30 float
            inputs holds about 2 KB, so the default bounds the queue near 2 GB.

    Raises:
        InvalidInputError: a setting is out of range.
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_rows: int = 5000,
        flush_interval_s: float = 1.0,
        max_backlog: int = 1_000_000,
    ) -> None:
        for name, value in (("flush_rows", flush_rows), ("max_backlog", max_backlog)):
            if value < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {value}", field=name)
        if not flush_interval_s > 0:
            raise InvalidInputError(
                f"flush_interval_s must be positive, got {flush_interval_s}",
                field="flush_interval_s",
            )
        self.root = Path(root)
        self._flush_rows = flush_rows
        self._interval = float(flush_interval_s)
        self._max_backlog = max_backlog
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer waits on it
        self._done = threading.Condition(self._lock)  # flush() waits on it
        self._records: deque[InferenceRecord] = deque(maxlen=max_backlog)
        self._feedback: deque[tuple[str, Feedback]] = deque(maxlen=max_backlog)
        # Counters of rows: received = settled (written or dropped) + queued or in flight.
        self._received = self._settled = self._written = self._dropped = 0
        self._reported_dropped = self._write_errors = self._failures = 0
        self._cycles_started = self._last_clean_cycle = 0
        self._flush_requested = self._closed = False
        self._known: dict[tuple[str, str], pa.Schema | None] = {}  # writer thread only
        self._declared: dict[str, dict[str, str]] = {}  # model -> input column -> dtype
        self._thread = threading.Thread(
            target=self._run, name="modelkeep-inference-log", daemon=True
        )
        self._thread.start()

    def declare_inputs(self, model: str, dtypes: Mapping[str, str]) -> None:
        """Type ``model``'s input columns from its signature (``column -> dtype`` as
        signatures name them), rather than from each batch's JSON values: a float feature
        first sent as ``18`` or ``null`` is still written as a float column, so every file of
        the model has the same schema and pandas/polars read the folder directly."""
        with self._lock:
            self._declared[model] = dict(dtypes)

    def append(self, records: Sequence[InferenceRecord]) -> None:
        """Queue prediction rows (no I/O, no conversion: a lock and a list extend)."""
        with self._lock:
            self._enqueue(self._records, records)

    def append_feedback(self, model: str, items: Sequence[Feedback]) -> None:
        """Queue ground-truth labels of ``model``'s earlier requests.

        Raises:
            InvalidInputError: an empty model name, or an item whose request id is not a
                non-empty string, whose label is not a JSON scalar, or whose timestamp is not
                an integer (``field`` names it: ``feedback[2].label``).
        """
        check_feedback(model, items)
        pairs = [(model, item) for item in items]
        with self._lock:
            self._enqueue(self._feedback, pairs)

    def _enqueue(self, queue: deque[Any], items: Sequence[Any]) -> None:
        """Called with the lock held."""
        count = len(items)
        self._received += count
        if self._closed:
            self._dropped += count
            self._settled += count
            return
        before = len(queue)
        queue.extend(items)
        lost = before + count - len(queue)  # the deque's maxlen pushed the oldest out
        if lost:
            self._dropped += lost
            self._settled += lost
        if len(queue) >= self._flush_rows:
            self._wake.notify()

    @property
    def backlog(self) -> int:
        """Rows appended but not yet written or dropped."""
        with self._lock:
            return self._received - self._settled

    @property
    def dropped(self) -> int:
        """Rows given up: over ``max_backlog``, unwritable, or appended after :meth:`close`."""
        with self._lock:
            return self._dropped

    @property
    def written(self) -> int:
        """Rows written to files."""
        with self._lock:
            return self._written

    @property
    def write_errors(self) -> int:
        """Files that could not be written (each failed attempt counts once)."""
        with self._lock:
            return self._write_errors

    def flush(self) -> None:
        """Block until every row appended before the call is written (or dropped, when the
        disk keeps failing: see the module docstring)."""
        with self._lock:
            if self._received == self._settled:
                return
            target = self._cycles_started + 1
            while self._last_clean_cycle < target and self._thread.is_alive():
                self._flush_requested = True
                self._wake.notify()
                self._done.wait(0.5)

    def close(self) -> None:
        """Write what is queued and stop the thread; later appends are dropped (counted).
        Idempotent."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def __enter__(self) -> InferenceLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        deadline = time.monotonic() + self._interval
        while True:
            with self._lock:
                self._wait_for_work(deadline)
                records, self._records = self._records, deque(maxlen=self._max_backlog)
                feedback, self._feedback = self._feedback, deque(maxlen=self._max_backlog)
                self._flush_requested = False
                self._cycles_started += 1
                cycle, stopping = self._cycles_started, self._closed
            outcome = self._write_cycle(records, feedback)
            failed = len(outcome.failed_records) + len(outcome.failed_feedback)
            if failed and self._failures + 1 >= _ATTEMPTS:  # _failures: this thread only
                _log.error(
                    "inference log: dropping %d rows after %d failed writes in a row",
                    failed,
                    _ATTEMPTS,
                )
            with self._lock:
                self._settle(cycle, outcome)
                finished = stopping and not self._records and not self._feedback
                dropped = self._dropped
            if dropped > self._reported_dropped:
                _log.warning(
                    "inference log: %d rows dropped in total (queue over max_backlog=%d, "
                    "failed writes, or appended after close)",
                    dropped,
                    self._max_backlog,
                )
                self._reported_dropped = dropped
            if finished:
                return
            deadline = time.monotonic() + self._interval

    def _wait_for_work(self, deadline: float) -> None:
        """Called with the lock held; returns when a write cycle is due."""
        while not (self._closed or self._flush_requested):
            pending = len(self._records) + len(self._feedback)
            if pending >= self._flush_rows and not self._failures:
                return  # after a failed write, wait the interval: no retry storm
            now = time.monotonic()
            if now >= deadline:
                if pending:
                    return
                deadline = now + self._interval
            self._wake.wait(deadline - now)

    def _write_cycle(
        self, records: deque[InferenceRecord], feedback: deque[tuple[str, Feedback]]
    ) -> _Outcome:
        outcome = _Outcome()
        try:
            if records:
                groups, invalid = partitions(records, record_key)
                outcome.discarded += invalid
                for (model, bucket), group in groups.items():
                    if not self._write_group(PREDICTIONS, model, bucket, group, outcome):
                        outcome.failed_records.extend(group)
            if feedback:
                pair_groups, invalid = partitions(feedback, feedback_key)
                outcome.discarded += invalid
                for (model, bucket), pairs in pair_groups.items():
                    items = [item for _, item in pairs]
                    if not self._write_group(FEEDBACK, model, bucket, items, outcome):
                        outcome.failed_feedback.extend(pairs)
        except Exception:  # the writer thread must survive anything
            _log.exception("inference log: write cycle failed")
            accounted = outcome.written + outcome.discarded
            accounted += len(outcome.failed_records) + len(outcome.failed_feedback)
            outcome.discarded += len(records) + len(feedback) - accounted
        return outcome

    def _write_group(
        self, kind: str, model: str, bucket: int, items: list[Any], outcome: _Outcome
    ) -> bool:
        """Write one file; False when it should be retried (its rows are not accounted)."""
        key = (kind, model)
        try:
            directory = model_dir(self.root, kind, model)
            if key not in self._known:
                self._known[key] = latest_schema(directory)
            with self._lock:
                declared = self._declared.get(model)
            table, items = _tabulate(kind, items, self._known[key], declared, outcome)
            directory = hour_bucket_dir(directory, bucket)
        except Exception:  # a bug upstream, not the disk: retrying cannot help
            _log.exception("inference log: cannot tabulate %d %s rows", len(items), kind)
            outcome.errors += 1
            outcome.discarded += len(items)
            return True
        try:
            write_atomically(table, directory)
        except Exception as exc:
            _log.warning(
                "inference log: cannot write %d rows to %s: %s", len(items), directory, exc
            )
            outcome.errors += 1
            return False
        self._known[key] = table.schema
        outcome.written += len(items)
        return True

    def _settle(self, cycle: int, outcome: _Outcome) -> None:
        """Account for a finished cycle (lock held)."""
        lost = outcome.discarded
        failed = len(outcome.failed_records) + len(outcome.failed_feedback)
        self._failures = self._failures + 1 if failed else 0
        if failed and self._failures < _ATTEMPTS:
            lost += self._requeue(self._records, outcome.failed_records)
            lost += self._requeue(self._feedback, outcome.failed_feedback)
        else:
            lost += failed
            self._failures = 0
            self._last_clean_cycle = cycle
        self._write_errors += outcome.errors
        self._written += outcome.written
        self._dropped += lost
        self._settled += outcome.written + lost
        self._done.notify_all()

    def _requeue(self, queue: deque[Any], items: list[Any]) -> int:
        """Put failed rows back in front of newer ones; returns how many did not fit."""
        room = max(0, self._max_backlog - len(queue))
        keep = items[len(items) - room :] if room < len(items) else items
        queue.extendleft(reversed(keep))
        return len(items) - len(keep)


def _tabulate(
    kind: str,
    items: list[Any],
    known: pa.Schema | None,
    declared: Mapping[str, str] | None,
    outcome: _Outcome,
) -> tuple[pa.Table, list[Any]]:
    """One Arrow table of ``items``; when some cannot be encoded (text with a lone surrogate,
    say), those rows alone are dropped and counted, the others of the group are written."""

    def build(chosen: list[Any]) -> pa.Table:
        if kind == PREDICTIONS:
            return records_table(chosen, known, declared)
        return feedback_table(chosen, known)

    try:
        return build(items), items
    except Exception:
        if len(items) == 1:
            raise
    good = []
    for item in items:
        try:
            build([item])
        except Exception:  # noqa: BLE001 - this row alone cannot be written
            outcome.discarded += 1
            continue
        good.append(item)
    if not good:
        raise ValueError("no row of the group can be encoded")
    _log.warning("inference log: dropped %d row(s) that cannot be encoded", len(items) - len(good))
    return build(good), good
