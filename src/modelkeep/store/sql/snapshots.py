"""Build frozen entities from rows: a few batched queries per page of runs, never one per run."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import aliased

from modelkeep.entities import DatasetInput, LifecycleStage, Run, RunStatus
from modelkeep.store.sql import models as m

_parent = aliased(m.runs)

RUN_COLUMNS = (
    m.runs.c.pk,
    m.runs.c.run_id,
    m.runs.c.experiment_id,
    m.runs.c.name,
    m.runs.c.status,
    m.runs.c.start_time,
    m.runs.c.end_time,
    m.runs.c.lifecycle_stage,
    _parent.c.run_id.label("parent_run_id"),
)


def run_select() -> Any:
    """SELECT of the run columns a snapshot needs, with the parent's public id joined."""
    return select(*RUN_COLUMNS).select_from(
        m.runs.outerjoin(_parent, _parent.c.pk == m.runs.c.parent_pk)
    )


def _chunks(pks: Sequence[int], size: int = 900) -> list[Sequence[int]]:
    return [pks[i : i + size] for i in range(0, len(pks), size)]


def _children_stmt(table: Any) -> Any:
    return select(table.c.run_pk, table.c.key, table.c.value).where(
        table.c.run_pk.in_(bindparam("pks", expanding=True))
    )


_CHILD_STMTS = {t.name: _children_stmt(t) for t in (m.params, m.tags, m.latest_metrics)}
_INPUTS_STMT = (
    select(m.inputs)
    .where(m.inputs.c.run_pk.in_(bindparam("pks", expanding=True)))
    .order_by(m.inputs.c.id)
)


def _key_values(conn: Connection, table: Any, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    stmt = _CHILD_STMTS[table.name]
    for chunk in _chunks(pks):
        for run_pk, key, value in conn.execute(stmt, {"pks": list(chunk)}):
            out[run_pk][key] = value
    return out


def _inputs(conn: Connection, pks: Sequence[int]) -> dict[int, list[DatasetInput]]:
    out: dict[int, list[DatasetInput]] = defaultdict(list)
    for chunk in _chunks(pks):
        for row in conn.execute(_INPUTS_STMT, {"pks": list(chunk)}).mappings():
            out[row["run_pk"]].append(
                DatasetInput(
                    name=row["name"],
                    digest=row["digest"],
                    source=row["source"],
                    schema=json.loads(row["schema_json"]),
                    num_rows=row["num_rows"],
                    context=row["context"],
                )
            )
    return out


_RUNS_BY_PK = run_select().where(m.runs.c.pk.in_(bindparam("pks", expanding=True)))


def fetch_run_rows(conn: Connection, pks: Sequence[int]) -> list[Row[Any]]:
    """Run rows for ``pks``, in the order of ``pks``."""
    rows: list[Row[Any]] = []
    for chunk in _chunks(pks):
        rows.extend(conn.execute(_RUNS_BY_PK, {"pks": list(chunk)}))
    position = {pk: i for i, pk in enumerate(pks)}
    rows.sort(key=lambda row: position[row.pk])
    return rows


def load_runs(conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """Snapshots for ``rows`` (from :func:`run_select`), in the order given."""
    pks = [row.pk for row in rows]
    if not pks:
        return []
    params = _key_values(conn, m.params, pks)
    tags = _key_values(conn, m.tags, pks)
    metrics = _key_values(conn, m.latest_metrics, pks)
    inputs = _inputs(conn, pks)
    return [
        Run(
            id=row.run_id,
            experiment_id=str(row.experiment_id),
            name=row.name,
            status=RunStatus(row.status),
            start_time=row.start_time,
            end_time=row.end_time,
            parent_run_id=row.parent_run_id,
            lifecycle_stage=LifecycleStage(row.lifecycle_stage),
            metrics={k: math.nan if v is None else v for k, v in metrics[row.pk].items()},
            params=params[row.pk],
            tags=tags[row.pk],
            inputs=tuple(inputs[row.pk]),
        )
        for row in rows
    ]
