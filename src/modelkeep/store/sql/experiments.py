"""Experiment methods of SqlStore (a mixin keeps store.py to one idea: runs)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc as sa_exc
from sqlalchemy import Connection, select, update

from modelkeep.entities import Experiment, LifecycleStage, now_ms
from modelkeep.exceptions import AlreadyExistsError, ConflictError, NotFoundError
from modelkeep.store import validation as v
from modelkeep.store.base import RunView
from modelkeep.store.sql import models as m
from modelkeep.store.sql.audit import record
from modelkeep.store.sql.batch import cursor
from modelkeep.store.sql.session import transaction

if TYPE_CHECKING:
    from modelkeep.store.sql.session import Engines

_T = m.experiments


def _experiment_pk(experiment_id: object) -> int:
    try:
        return int(str(experiment_id))
    except ValueError:
        raise NotFoundError(
            f"Experiment {experiment_id!r} does not exist", field="experiment_id"
        ) from None


class ExperimentMixin:
    _engines: Engines

    def _experiments(self, conn: Connection, stmt: Any) -> list[Experiment]:
        rows = conn.execute(stmt).all()
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        if rows:
            tt = m.experiment_tags
            ids = [r.id for r in rows]
            for eid, key, value in conn.execute(
                select(tt.c.experiment_id, tt.c.key, tt.c.value).where(tt.c.experiment_id.in_(ids))
            ):
                tags[eid][key] = value
        return [
            Experiment(
                id=str(r.id),
                name=r.name,
                lifecycle_stage=LifecycleStage(r.lifecycle_stage),
                tags=tags[r.id],
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
            )
            for r in rows
        ]

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        name = v.check_name(name, "name", v.MAX_EXPERIMENT_NAME_LENGTH)
        tag_rows = [
            {
                "key": v.check_key(k, "tags.key"),
                "value": v.check_text(str(val), "tags.value", 8000),
            }
            for k, val in (tags or {}).items()
        ]
        now = now_ms()
        try:
            with transaction(self._engines.write) as conn:
                result = conn.execute(
                    _T.insert().values(
                        name=name,
                        lifecycle_stage="active",
                        creation_time=now,
                        last_update_time=now,
                    )
                )
                eid = result.inserted_primary_key[0]  # type: ignore[index]
                if tag_rows:
                    conn.execute(
                        m.experiment_tags.insert(),
                        [{"experiment_id": eid, **row} for row in tag_rows],
                    )
                detail = {"name": name, "tags": [r["key"] for r in tag_rows] or None}
                record(conn, "create_experiment", f"experiment:{eid}", detail)
        except sa_exc.IntegrityError as exc:
            raise AlreadyExistsError(
                f"An experiment named {name!r} already exists", field="name"
            ) from exc
        tag_map = {r["key"]: r["value"] for r in tag_rows}
        return Experiment(str(eid), name, LifecycleStage.ACTIVE, tag_map, now, now)

    def get_experiment(self, experiment_id: str) -> Experiment:
        pk = _experiment_pk(experiment_id)
        with transaction(self._engines.read) as conn:
            found = self._experiments(conn, select(_T).where(_T.c.id == pk))
        if not found:
            raise NotFoundError(
                f"Experiment {experiment_id!r} does not exist", field="experiment_id"
            )
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with transaction(self._engines.read) as conn:
            found = self._experiments(conn, select(_T).where(_T.c.name == name))
        return found[0] if found else None

    def list_experiments(self, view: RunView = "active") -> list[Experiment]:
        stmt = select(_T).order_by(_T.c.name)
        if v.check_view(view) != "all":
            stmt = stmt.where(_T.c.lifecycle_stage == view)
        with transaction(self._engines.read) as conn:
            return self._experiments(conn, stmt)

    def _set_experiment_stage(
        self, experiment_id: str, stage: LifecycleStage, action: str
    ) -> None:
        pk = _experiment_pk(experiment_id)
        with transaction(self._engines.write) as conn:
            done = conn.execute(
                update(_T)
                .where(_T.c.id == pk)
                .values(lifecycle_stage=stage.value, last_update_time=now_ms())
            )
            if done.rowcount == 0:
                raise NotFoundError(
                    f"Experiment {experiment_id!r} does not exist", field="experiment_id"
                )
            record(conn, action, f"experiment:{pk}")

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED, "delete_experiment")

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE, "restore_experiment")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        v.check_key(key, "key")
        value = v.check_text(str(value), "value", v.MAX_TAG_VALUE_LENGTH)
        pk = _experiment_pk(experiment_id)
        tt = m.experiment_tags
        with transaction(self._engines.write) as conn:
            self._experiment_row(conn, pk, experiment_id)
            where = (tt.c.experiment_id == pk) & (tt.c.key == key)
            if conn.execute(update(tt).where(where).values(value=value)).rowcount == 0:
                conn.execute(tt.insert().values(experiment_id=pk, key=key, value=value))
            detail = {"key": key, "value": value}
            record(conn, "set_experiment_tag", f"experiment:{pk}", detail)

    def _experiment_row(self, conn: Connection, pk: int, experiment_id: object) -> Any:
        cur = cursor(conn)
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        cur.execute(f"SELECT id, lifecycle_stage FROM mk_experiments WHERE id = {mark}", (pk,))
        row = cur.fetchone()
        if row is None:
            raise NotFoundError(
                f"Experiment {experiment_id!r} does not exist", field="experiment_id"
            )
        return row

    def _active_experiment_pk(self, conn: Connection, experiment_id: str) -> int:
        pk = _experiment_pk(experiment_id)
        row = self._experiment_row(conn, pk, experiment_id)
        if row[1] != LifecycleStage.ACTIVE.value:
            raise ConflictError(
                f"Experiment {experiment_id!r} is deleted; restore it before adding runs",
                field="experiment_id",
            )
        return pk
