"""The SQL side of ``modelkeep tune``'s study storage: a journal and trial heartbeats.

:mod:`modelkeep.tune.journal` builds Optuna's ``JournalStorage`` on this (this module knows
nothing of Optuna, the tune package nothing of SQL). Optuna's journal storage records every
study operation as a log entry and rebuilds the studies in memory by replaying the entries in
order; :class:`StudyJournal` keeps the entries in ``mk_study_journal`` of the store's own
database (SQLite or PostgreSQL), so any number of workers on one or many machines share the
studies through it. Each study has its own journal (rows keyed by the journal's name), so a
worker replays only its study's entries however many studies the store has run.

Ordering: every worker must replay the same entries in the same order, so a journal's entries
are numbered 0, 1, 2... without gaps, and a writer takes its numbers under a lock held until it
commits: SQLite's write lock (``BEGIN IMMEDIATE``), or on PostgreSQL a transaction-level
advisory lock on the journal's name, which queues that journal's writers and nobody else. A
reader therefore never sees entry ``n + 1`` before entry ``n``.

Heartbeats are kept in ``mk_study_heartbeats`` with the database's clock, so workers on
machines with skewed clocks agree on which trial went quiet.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from modelkeep.exceptions import InvalidInputError
from modelkeep.store.sql.models import study_heartbeats, study_journal
from modelkeep.store.sql.session import Engines, transaction

__all__ = ["StudyJournal"]


class StudyJournal:
    """The journal called ``name`` (and its heartbeats) in the modelkeep store at ``uri``.

    The store's schema must be current (opening a ``SqlStore`` on the URI makes it so).

    Raises:
        InvalidInputError: ``uri`` is not a SQLite or PostgreSQL URL, or ``name`` is empty or
            longer than 256 characters.
    """

    def __init__(self, uri: str, name: str) -> None:
        if not name or len(name) > 256:
            raise InvalidInputError("study: a study name is 1 to 256 characters", field="study")
        self.uri = uri
        self.name = name
        self._lock_key = int.from_bytes(
            hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
        )
        self._engines = Engines(uri)

    def close(self) -> None:
        """Close the database connections."""
        self._engines.dispose()

    def read(self, first: int) -> list[dict[str, Any]]:
        """The entries numbered ``first`` and after, in order."""
        stmt = (
            sa.select(study_journal.c.entry)
            .where(study_journal.c.journal == self.name, study_journal.c.seq >= first)
            .order_by(study_journal.c.seq)
        )
        with transaction(self._engines.read) as conn:
            rows = conn.execute(stmt).scalars().all()
        return [json.loads(text) for text in rows]

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Add ``entries`` (JSON-ready) after the last one, in one transaction."""
        if not entries:
            return
        with transaction(self._engines.write) as conn:
            if self._engines.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            last = conn.execute(
                sa.select(sa.func.max(study_journal.c.seq)).where(
                    study_journal.c.journal == self.name
                )
            ).scalar_one()
            start = -1 if last is None else int(last)
            rows = [
                {"journal": self.name, "seq": start + 1 + index, "entry": json.dumps(entry)}
                for index, entry in enumerate(entries)
            ]
            conn.execute(study_journal.insert(), rows)

    def beat(self, trial_id: int) -> None:
        """Record that ``trial_id``'s worker is alive now."""
        now = _db_now_ms(self._engines.dialect)
        with transaction(self._engines.write) as conn:
            mine = study_heartbeats.c.journal == self.name
            updated = conn.execute(
                study_heartbeats.update()
                .where(mine, study_heartbeats.c.trial_id == trial_id)
                .values(beat_time=now)
            ).rowcount
            if not updated:
                conn.execute(
                    study_heartbeats.insert().values(
                        journal=self.name, trial_id=trial_id, beat_time=now
                    )
                )

    def quiet(self, trial_ids: list[int], grace_s: float) -> list[int]:
        """Those of ``trial_ids`` whose last heartbeat is more than ``grace_s`` old (a trial
        that never beat is not counted)."""
        if not trial_ids:
            return []
        cutoff = _db_now_ms(self._engines.dialect) - int(grace_s * 1000)
        stmt = sa.select(study_heartbeats.c.trial_id).where(
            study_heartbeats.c.journal == self.name,
            study_heartbeats.c.trial_id.in_(trial_ids),
            study_heartbeats.c.beat_time < cutoff,
        )
        with transaction(self._engines.read) as conn:
            return sorted(int(trial_id) for trial_id in conn.execute(stmt).scalars())


def _db_now_ms(dialect: str) -> Any:
    """The database's clock in milliseconds since the epoch, as a SQL expression."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()) * 1000, sa.BigInteger)
    return sa.cast((sa.func.julianday("now") - 2440587.5) * 86400000.0, sa.BigInteger)
