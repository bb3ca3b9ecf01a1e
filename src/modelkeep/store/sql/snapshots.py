"""Build frozen entities from rows: a few batched queries per page of runs, never one per run.

Reads run on the raw DB-API cursor: for a page of 1,000 runs, SQLAlchemy's expanding parameters
and row objects cost more than the queries themselves.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from modelkeep.entities import DatasetInput, LifecycleStage, Run, RunStatus
from modelkeep.store.sql.batch import cursor

_CHUNK = 900
_STATUS = {s.value: s for s in RunStatus}
_STAGE = {s.value: s for s in LifecycleStage}

_RUNS_SQL = (
    "SELECT r.pk, r.run_id, r.experiment_id, r.name, r.status, r.start_time, r.end_time, "
    "r.lifecycle_stage, p.run_id FROM mk_runs r LEFT OUTER JOIN mk_runs p ON p.pk = r.parent_pk "
    "WHERE r.pk {in_pks}"
)
_CHILD_SQL = "SELECT run_pk, key, value FROM {table} WHERE run_pk {in_pks}"
_INPUTS_SQL = (
    "SELECT run_pk, name, digest, source, schema_json, num_rows, context FROM mk_inputs "
    "WHERE run_pk {in_pks} ORDER BY id"
)


def _select_in(conn: Connection, template: str, pks: Sequence[int], **fmt: str) -> list[Any]:
    """Rows of ``template`` whose ``{in_pks}`` condition matches ``pks``.

    PostgreSQL gets one array parameter (``= ANY(%s)``), planned once; SQLite gets
    ``IN (?, ...)`` lists in chunks under its bound-parameter limit.
    """
    cur = cursor(conn)
    if conn.dialect.name == "postgresql":
        cur.execute(template.format(in_pks="= ANY(%s)", **fmt), (list(pks),))
        return list(cur.fetchall())
    rows: list[Any] = []
    for i in range(0, len(pks), _CHUNK):
        chunk = list(pks[i : i + _CHUNK])
        marks = ", ".join(["?"] * len(chunk))
        cur.execute(template.format(in_pks=f"IN ({marks})", **fmt), chunk)
        rows.extend(cur.fetchall())
    return rows


def _key_values(conn: Connection, table: str, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for run_pk, key, value in _select_in(conn, _CHILD_SQL, pks, table=table):
        out[run_pk][key] = value
    return out


def _inputs(conn: Connection, pks: Sequence[int]) -> dict[int, list[DatasetInput]]:
    out: dict[int, list[DatasetInput]] = defaultdict(list)
    for run_pk, name, digest, source, schema, rows, context in _select_in(conn, _INPUTS_SQL, pks):
        out[run_pk].append(DatasetInput(name, digest, source, json.loads(schema), rows, context))
    return out


def load_runs(conn: Connection, pks: Sequence[int]) -> list[Run]:
    """Snapshots of the runs ``pks``, in the order given (unknown pks are left out)."""
    if not pks:
        return []
    rows = {row[0]: row for row in _select_in(conn, _RUNS_SQL, pks)}
    params = _key_values(conn, "mk_params", pks)
    tags = _key_values(conn, "mk_tags", pks)
    metrics = _key_values(conn, "mk_latest_metrics", pks)
    inputs = _inputs(conn, pks)
    runs = []
    for pk in pks:
        row = rows.get(pk)
        if row is None:
            continue
        latest = metrics.get(pk, {})
        runs.append(
            Run(
                id=row[1],
                experiment_id=str(row[2]),
                name=row[3],
                status=_STATUS[row[4]],
                start_time=row[5],
                end_time=row[6],
                parent_run_id=row[8],
                lifecycle_stage=_STAGE[row[7]],
                metrics={k: math.nan if v is None else v for k, v in latest.items()},
                params=params.get(pk, {}),
                tags=tags.get(pk, {}),
                inputs=tuple(inputs.get(pk, ())),
            )
        )
    return runs
