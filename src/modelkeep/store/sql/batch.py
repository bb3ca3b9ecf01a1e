"""The write path of ``log_batch`` and ``create_run``: the hottest code in the store.

These statements run on the raw DB-API cursor of the SQLAlchemy connection (inside the same
transaction), with SQL written once per dialect: per-statement SQLAlchemy compilation costs
more than the database work for the small batches a training loop sends.

Metric points are grouped by key and stored as packed arrays, one row per key per batch (see
``models.py``); the latest-value table gets one upsert per key, computed from the batch and
guarded so an older point never replaces a newer one.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from modelkeep.entities import Metric, Param, RunTag
from modelkeep.exceptions import ImmutableParamError, InvalidInputError
from modelkeep.store import validation as v

_SQL = {
    "insert_chunk": "INSERT INTO mk_metric_chunks "
    "(run_pk, key, count, steps, timestamps, metric_values) VALUES (?, ?, ?, ?, ?, ?)",
    "upsert_latest": "INSERT INTO mk_latest_metrics (run_pk, key, step, timestamp, value) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_pk, key) DO UPDATE SET "
    "step = excluded.step, timestamp = excluded.timestamp, value = excluded.value "
    "WHERE excluded.step > mk_latest_metrics.step OR (excluded.step = mk_latest_metrics.step "
    "AND excluded.timestamp >= mk_latest_metrics.timestamp)",
    "select_params": "SELECT key, value FROM mk_params WHERE run_pk = ?",
    "insert_param": "INSERT INTO mk_params (run_pk, key, value) VALUES (?, ?, ?)",
    "upsert_tag": "INSERT INTO mk_tags (run_pk, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_pk, key) DO UPDATE SET value = excluded.value",
    "insert_run": "INSERT INTO mk_runs (run_id, experiment_id, name, status, start_time, "
    "parent_pk, lifecycle_stage) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING pk",
}


@functools.cache
def sql(name: str, dialect: str) -> str:
    """The statement ``name`` in the parameter style of ``dialect``."""
    text = _SQL[name]
    return text.replace("?", "%s") if dialect == "postgresql" else text


def cursor(conn: Connection) -> Any:
    """The DB-API cursor of ``conn``'s current transaction."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return raw.cursor()


def _as_array(values: list[Any], dtype: Any, field: str) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(values, dtype=dtype)
    except (OverflowError, ValueError, TypeError):
        raise InvalidInputError(f"{field} must be a 64-bit number", field=field) from None


def group_metrics(metrics: Sequence[Metric]) -> dict[str, list[Metric]]:
    """Validate points and group them by key."""
    groups: dict[str, list[Metric]] = defaultdict(list)
    for point in metrics:
        groups[point.key].append(point)
    for key, points in groups.items():
        v.check_key(key, "metrics.key")
        for p in points:
            if type(p.value) not in (float, int) or type(p.step) is not int:
                v.check_metric_value(p.value)
                v.check_int64(p.step, "metrics.step")
            if type(p.timestamp) is not int:
                v.check_int64(p.timestamp, "metrics.timestamp")
    return groups


def _pack(points: list[Metric]) -> tuple[bytes, bytes, bytes, tuple[int, int, float | None]]:
    steps = _as_array([p.step for p in points], "<i8", "metrics.step")
    stamps = _as_array([p.timestamp for p in points], "<i8", "metrics.timestamp")
    values = _as_array([p.value for p in points], "<f8", "metrics.value")
    # latest point: highest step, then highest timestamp, then the later one in the batch
    order = np.lexsort((np.arange(len(points)), stamps, steps))
    last = int(order[-1])
    value = float(values[last])
    latest = (int(steps[last]), int(stamps[last]), None if value != value else value)
    return steps.tobytes(), stamps.tobytes(), values.tobytes(), latest


def insert_metrics(conn: Connection, cur: Any, run_pk: int, metrics: Sequence[Metric]) -> None:
    dialect = conn.dialect.name
    chunks, latest = [], []
    for key, points in group_metrics(metrics).items():
        steps, stamps, values, (step, ts, value) = _pack(points)
        chunks.append((run_pk, key, len(points), steps, stamps, values))
        latest.append((run_pk, key, step, ts, value))
    cur.executemany(sql("insert_chunk", dialect), chunks)
    cur.executemany(sql("upsert_latest", dialect), latest)


def unpack_history(rows: Sequence[Any]) -> list[Metric]:
    """Decode chunk rows ``(key, steps, timestamps, values)`` into points by step, then time."""
    if not rows:
        return []
    key = rows[0][0]
    steps = np.concatenate([np.frombuffer(r[1], "<i8") for r in rows])
    stamps = np.concatenate([np.frombuffer(r[2], "<i8") for r in rows])
    values = np.concatenate([np.frombuffer(r[3], "<f8") for r in rows])
    order = np.lexsort((stamps, steps))  # stable: equal (step, time) keep logging order
    return [
        Metric(key, val, step, ts)
        for step, ts, val in zip(
            steps[order].tolist(), stamps[order].tolist(), values[order].tolist(), strict=True
        )
    ]


def _check_params(params: Sequence[Param]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for p in params:
        v.check_key(p.key, "params.key")
        value = v.check_text(p.value, "params.value", v.MAX_PARAM_VALUE_LENGTH)
        if wanted.setdefault(p.key, value) != value:
            raise ImmutableParamError(
                f"Param {p.key!r} is given twice in one batch with different values",
                field="params",
            )
    return wanted


def insert_params(conn: Connection, cur: Any, run_pk: int, params: Sequence[Param]) -> None:
    """Insert new params; the same value again is a no-op, a different one is refused."""
    wanted = _check_params(params)
    if not wanted:
        return
    dialect = conn.dialect.name
    cur.execute(sql("select_params", dialect), (run_pk,))
    existing = dict(cur.fetchall())
    for key, value in wanted.items():
        old = existing.get(key)
        if old is not None and old != value:
            raise ImmutableParamError(
                f"Param {key!r} is already {old!r} and cannot be changed to {value!r}: "
                "params are immutable once logged",
                field="params",
            )
    new = [(run_pk, k, val) for k, val in wanted.items() if k not in existing]
    if new:
        cur.executemany(sql("insert_param", dialect), new)


def upsert_tags(conn: Connection, cur: Any, run_pk: int, tags: Sequence[RunTag]) -> None:
    latest: dict[str, str] = {}
    for tag in tags:
        v.check_key(tag.key, "tags.key")
        latest[tag.key] = v.check_text(tag.value, "tags.value", v.MAX_TAG_VALUE_LENGTH)
    if latest:
        rows = [(run_pk, k, val) for k, val in latest.items()]
        cur.executemany(sql("upsert_tag", conn.dialect.name), rows)


def insert_run(conn: Connection, cur: Any, row: tuple[Any, ...]) -> int:
    cur.execute(sql("insert_run", conn.dialect.name), row)
    return int(cur.fetchone()[0])


_RUN_COLUMNS = frozenset({"status", "end_time", "name"})


def update_run(conn: Connection, cur: Any, run_pk: int, values: dict[str, Any]) -> None:
    assert values.keys() <= _RUN_COLUMNS  # column names come from code, never from users
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    assignments = ", ".join(f"{column} = {mark}" for column in values)
    cur.execute(f"UPDATE mk_runs SET {assignments} WHERE pk = {mark}", (*values.values(), run_pk))


def on_conflict_insert(conn: Connection) -> Any:
    """The dialect's INSERT construct that supports ON CONFLICT (SQLite and PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
