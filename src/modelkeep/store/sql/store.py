"""SqlStore: the BaseStore contract on SQLite or PostgreSQL (SQLAlchemy Core, no ORM)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy.exc as sa_exc
from sqlalchemy import Connection, bindparam, func, select, update

from modelkeep.entities import (
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    LifecycleStage,
    Metric,
    Page,
    Param,
    Role,
    Run,
    RunStatus,
    RunTag,
    now_ms,
)
from modelkeep.exceptions import AlreadyExistsError, InvalidInputError, NotFoundError
from modelkeep.store import validation as v
from modelkeep.store.base import BaseStore, RunView
from modelkeep.store.sql import batch, migrate, search
from modelkeep.store.sql import models as m
from modelkeep.store.sql.audit import AuditMixin, record
from modelkeep.store.sql.experiments import ExperimentMixin
from modelkeep.store.sql.names import generate_run_name
from modelkeep.store.sql.registry import RegistryMixin
from modelkeep.store.sql.session import Engines, transaction
from modelkeep.store.sql.snapshots import load_runs

__all__ = ["SqlStore"]

_PK_BY_RUN_ID = select(m.runs.c.pk).where(m.runs.c.run_id == bindparam("run_id"))


def _batch_detail(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> dict[str, Any]:
    # counts and keys only: values may be long, and log_batch is the hot path
    return {
        "metrics": len(metrics) or None,
        "params": [p.key for p in params] or None,
        "tags": [t.key for t in tags] or None,
    }


class SqlStore(ExperimentMixin, RegistryMixin, AuditMixin, BaseStore):
    """Metadata store on a SQL database.

    Args:
        uri: ``sqlite:///path/to/file.db`` or ``postgresql+psycopg://user@host:port/db``.
            The schema is created or upgraded on open.

    Example:
        >>> store = SqlStore("sqlite:///:memory:")  # doctest: +SKIP
        >>> exp = store.create_experiment("churn")
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._engines = Engines(uri)
        self._pk_cache: dict[str, int] = {}
        self._cache_lock = threading.Lock()
        try:
            migrate.upgrade(self._engines)
        except sa_exc.SQLAlchemyError as exc:
            from modelkeep.store.sql.session import map_db_error

            raise map_db_error(exc) from exc

    @property
    def dialect(self) -> str:
        return self._engines.dialect

    def close(self) -> None:
        self._engines.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self._engines.write.url.render_as_string(hide_password=True)!r})"

    # ---- runs --------------------------------------------------------------------------
    def _run_pk(self, conn: Connection, run_id: str) -> int:
        pk = self._pk_cache.get(run_id)
        if pk is not None:
            return pk
        if not isinstance(run_id, str) or not v.is_run_id(run_id):
            raise NotFoundError(f"Run {run_id!r} does not exist", field="run_id")
        pk = conn.execute(_PK_BY_RUN_ID, {"run_id": run_id}).scalar()
        if pk is None:
            raise NotFoundError(f"Run {run_id!r} does not exist", field="run_id")
        with self._cache_lock:
            if len(self._pk_cache) > 100_000:
                self._pk_cache.clear()
            self._pk_cache[run_id] = pk
        return int(pk)

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        name = generate_run_name() if run_name is None else v.check_name(run_name, "run_name")
        start = now_ms() if start_time is None else v.check_int64(start_time, "start_time")
        run_id = uuid.uuid4().hex
        tag_list = [RunTag(k, str(val)) for k, val in (tags or {}).items()]
        with transaction(self._engines.write) as conn:
            exp_pk = self._active_experiment_pk(conn, experiment_id)
            parent_pk = None if parent_run_id is None else self._run_pk(conn, parent_run_id)
            row = (run_id, exp_pk, name, RunStatus.RUNNING.value, start, parent_pk, "active")
            cur = batch.cursor(conn)
            pk = batch.insert_run(conn, cur, row)
            batch.upsert_tags(conn, cur, pk, tag_list)
            detail = {"experiment_id": experiment_id, "name": name, "parent": parent_run_id}
            record(conn, "create_run", f"run:{run_id}", detail, cur=cur)
        self._pk_cache[run_id] = pk
        return Run(
            id=run_id,
            experiment_id=str(exp_pk),
            name=name,
            status=RunStatus.RUNNING,
            start_time=start,
            parent_run_id=parent_run_id,
            tags={t.key: t.value for t in tag_list},
        )

    def get_run(self, run_id: str) -> Run:
        with transaction(self._engines.read) as conn:
            return self._get_run(conn, run_id)

    def _get_run(self, conn: Connection, run_id: str) -> Run:
        pk = self._run_pk(conn, run_id)
        return load_runs(conn, [pk])[0]

    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = v.check_status(status).value
        if end_time is not None:
            values["end_time"] = v.check_int64(end_time, "end_time")
        if run_name is not None:
            values["name"] = v.check_name(run_name, "run_name")
        with transaction(self._engines.write) as conn:
            pk = self._run_pk(conn, run_id)
            if values:
                batch.update_run(conn, batch.cursor(conn), pk, values)
            record(conn, "update_run", f"run:{run_id}", values)

    def _set_run_stage(self, run_id: str, stage: LifecycleStage, action: str) -> None:
        with transaction(self._engines.write) as conn:
            pk = self._run_pk(conn, run_id)
            stmt = update(m.runs).where(m.runs.c.pk == pk).values(lifecycle_stage=stage.value)
            conn.execute(stmt)
            record(conn, action, f"run:{run_id}")

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED, "delete_run")

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE, "restore_run")

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        with transaction(self._engines.write) as conn:
            cur = batch.cursor(conn)
            self._log_batch(conn, cur, run_id, metrics, params, tags)

    def _log_batch(
        self,
        conn: Connection,
        cur: Any,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> int:
        pk = self._run_pk(conn, run_id)
        batch.insert_params(conn, cur, pk, params)
        if metrics:
            batch.insert_metrics(conn, cur, pk, metrics)
        batch.upsert_tags(conn, cur, pk, tags)
        detail = _batch_detail(metrics, params, tags)
        record(conn, "log_batch", f"run:{run_id}", detail, cur=cur)
        return pk

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        values = {
            "status": v.check_status(status).value,
            "end_time": v.check_int64(end_time, "end_time"),
        }
        # audited as the base class's finish_run would be: a log_batch (if any), an update_run
        with transaction(self._engines.write) as conn:
            cur = batch.cursor(conn)
            if metrics or params or tags:
                pk = self._log_batch(conn, cur, run_id, metrics, params, tags)
            else:
                pk = self._run_pk(conn, run_id)
            batch.update_run(conn, cur, pk, values)
            record(conn, "update_run", f"run:{run_id}", values, cur=cur)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        t = m.metric_history
        with transaction(self._engines.read) as conn:
            pk = self._run_pk(conn, run_id)
            stmt = (
                select(t.c.key, t.c.steps, t.c.timestamps, t.c.metric_values)
                .where(t.c.run_pk == pk, t.c.key == key)
                .order_by(t.c.id)
            )
            return batch.unpack_history(conn.execute(stmt).all())

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        rows = [self._input_row(d) for d in datasets]
        with transaction(self._engines.write) as conn:
            pk = self._run_pk(conn, run_id)
            for row in rows:
                stmt = batch.on_conflict_insert(conn)(m.inputs).values(run_pk=pk, **row)
                conn.execute(stmt.on_conflict_do_nothing())
            names = [f"{r['name']}:{r['context']}:{r['digest'][:12]}" for r in rows]
            record(conn, "log_inputs", f"run:{run_id}", {"datasets": names})

    @staticmethod
    def _input_row(d: DatasetInput) -> dict[str, Any]:
        try:
            schema_json = json.dumps(dict(d.schema), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"dataset schema is not JSON: {exc}", field="schema") from exc
        return {
            "name": v.check_name(d.name, "dataset.name"),
            "digest": v.check_name(d.digest, "dataset.digest", 64),
            "source": v.check_text(d.source, "dataset.source", 4000),
            "schema_json": schema_json,
            "num_rows": d.num_rows,
            "context": v.check_text(d.context, "dataset.context", 100),
        }

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> Page[Run]:
        v.check_max_results(max_results)
        v.check_view(view)
        query = search.build_query(
            experiment_ids, filter_string, order_by, view, self._engines.dialect
        )
        offset = search.decode_page_token(page_token)
        with transaction(self._engines.read) as conn:
            pks = query.fetch_pks(conn, offset, max_results + 1)
            more = len(pks) > max_results
            pks = pks[:max_results]
            runs = load_runs(conn, pks)
        token = search.encode_page_token(offset + max_results) if more else None
        return Page(runs, next_page_token=token)

    # ---- artifacts ---------------------------------------------------------------------
    def record_artifact(self, run_id: str, path: str, digest: str, size: int) -> ArtifactRecord:
        v.check_name(path, "path", 1024)
        v.check_name(digest, "digest", 64)
        created = now_ms()
        t = m.artifacts
        with transaction(self._engines.write) as conn:
            pk = self._run_pk(conn, run_id)
            stmt = batch.on_conflict_insert(conn)(t).values(
                run_pk=pk, path=path, digest=digest, size=size, created_time=created
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.run_pk, t.c.path],
                set_={"digest": digest, "size": size, "created_time": created},
            )
            conn.execute(stmt)
            detail = {"path": path, "digest": digest, "size": size}
            record(conn, "record_artifact", f"run:{run_id}", detail)
        return ArtifactRecord(run_id, path, digest, size, created)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        t = m.artifacts
        prefix = prefix.strip("/")
        with transaction(self._engines.read) as conn:
            pk = self._run_pk(conn, run_id)
            stmt = select(t).where(t.c.run_pk == pk).order_by(t.c.path)
            if prefix:
                under = func.substr(t.c.path, 1, len(prefix) + 1) == prefix + "/"
                stmt = stmt.where((t.c.path == prefix) | under)
            rows = conn.execute(stmt).mappings().all()
        return [
            ArtifactRecord(run_id, r["path"], r["digest"], r["size"], r["created_time"])
            for r in rows
        ]

    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        t = m.artifacts
        with transaction(self._engines.read) as conn:
            pk = self._run_pk(conn, run_id)
            row = conn.execute(select(t).where(t.c.run_pk == pk, t.c.path == path)).first()
        if row is None:
            raise NotFoundError(f"Run {run_id} has no artifact {path!r}", field="path")
        return ArtifactRecord(run_id, row.path, row.digest, row.size, row.created_time)

    # ---- tokens ------------------------------------------------------------------------
    def create_token(self, name: str, role: Role, token_hash: str) -> ApiToken:
        token = ApiToken(uuid.uuid4().hex, v.check_name(name, "name"), Role(role), now_ms())
        row = {
            "id": token.id,
            "name": token.name,
            "role": token.role.value,
            "token_hash": v.check_name(token_hash, "token_hash", 64),
            "created_time": token.created_time,
            "revoked": False,
        }
        try:
            with transaction(self._engines.write) as conn:
                conn.execute(m.api_tokens.insert().values(row))
                # name and role only: never the hash
                detail = {"name": token.name, "role": token.role.value}
                record(conn, "create_token", f"token:{token.id}", detail)
        except sa_exc.IntegrityError as exc:
            raise AlreadyExistsError("A token with this hash exists", field="token_hash") from exc
        return token

    @staticmethod
    def _token(row: Any) -> ApiToken:
        return ApiToken(row.id, row.name, Role(row.role), row.created_time, bool(row.revoked))

    def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        t = m.api_tokens
        with transaction(self._engines.read) as conn:
            row = conn.execute(select(t).where(t.c.token_hash == token_hash)).first()
        return None if row is None else self._token(row)

    def list_tokens(self) -> list[ApiToken]:
        t = m.api_tokens
        with transaction(self._engines.read) as conn:
            rows = conn.execute(select(t).order_by(t.c.created_time, t.c.id)).all()
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        t = m.api_tokens
        with transaction(self._engines.write) as conn:
            done = conn.execute(update(t).where(t.c.id == token_id).values(revoked=True))
            if done.rowcount == 0:
                raise NotFoundError(f"Token {token_id!r} does not exist", field="token_id")
            record(conn, "revoke_token", f"token:{token_id}")
