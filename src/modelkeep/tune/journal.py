"""Optuna's ``JournalStorage`` on the store's database, with trial heartbeats.

``modelkeep tune`` keeps its studies here unless given a ``--storage`` URL. The log entries
and heartbeats live in the store's own tables, one journal per study
(:class:`modelkeep.store.sql.study_journal.StudyJournal`). Compared with Optuna's RDB storage
this saves most of the per-trial cost (one small insert per operation, and only the new
entries read back, instead of an ORM session per call; see ``benchmarks/tune.py``).

A worker records its running trial's heartbeat every ``heartbeat_interval`` seconds; a RUNNING
trial silent for longer than ``grace_period`` is failed by the next worker that looks (Optuna's
``fail_stale_trials``), as with Optuna's RDB storage. No snapshot is written or read: Optuna's
snapshots are pickles, and nothing here loads one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from optuna import Study
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import BaseJournalBackend
from optuna.trial import FrozenTrial, TrialState

from modelkeep.store.sql.study_journal import StudyJournal

__all__ = ["JournalStudyStorage", "open_study_journal"]

StaleCallback = Callable[[Study, FrozenTrial], None]


class _Backend(BaseJournalBackend):
    def __init__(self, journal: StudyJournal) -> None:
        self._journal = journal

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._journal.read(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._journal.append(logs)


class JournalStudyStorage(JournalStorage, BaseHeartbeat):
    """Optuna's ``JournalStorage`` on a :class:`StudyJournal`, with heartbeats.

    Args:
        journal: the store's journal tables.
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat after which a RUNNING trial counts as dead.
        on_stale: called with each trial failed for a missing heartbeat.
    """

    def __init__(
        self,
        journal: StudyJournal,
        *,
        heartbeat_interval: int,
        grace_period: int,
        on_stale: StaleCallback | None = None,
    ) -> None:
        super().__init__(_Backend(journal))
        self.url = journal.uri
        self._journal = journal
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._on_stale = on_stale

    def dispose(self) -> None:
        """Close the database connections (the studies stay in the database)."""
        self._journal.close()

    def record_heartbeat(self, trial_id: int) -> None:
        self._journal.beat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        states = (TrialState.RUNNING,)
        running = self.get_all_trials(study_id, deepcopy=False, states=states)
        return self._journal.quiet([trial._trial_id for trial in running], self._grace_period)

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleCallback | None:
        return self._on_stale


def open_study_journal(
    uri: str,
    study: str,
    *,
    heartbeat_interval: int,
    grace_period: int,
    on_stale: StaleCallback | None = None,
) -> JournalStudyStorage:
    """The storage of study ``study`` in the modelkeep store at ``uri`` (its schema must be
    current, as opening a ``SqlStore`` on it makes it).

    Each study has a journal of its own, so the storage holds that study and the refit
    claims made for it (``<study>:refit:<n>``), nothing else.

    Raises:
        InvalidInputError: ``uri`` is not a SQLite or PostgreSQL URL.
        StoreError: the database cannot be read.
    """
    journal = StudyJournal(uri, study)
    try:
        return JournalStudyStorage(
            journal,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            on_stale=on_stale,
        )
    except BaseException:
        journal.close()
        raise
