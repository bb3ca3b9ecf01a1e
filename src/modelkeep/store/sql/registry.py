"""Model-registry methods of SqlStore: registered models, versions, tags and search.

Aliases, signatures and deletes live in :mod:`~modelkeep.store.sql.registry_aliases`; both
halves follow the invariants of :mod:`modelkeep.store.registry_base`. Every write takes the
model's row lock first (PostgreSQL; SQLite write transactions are serial already), so a write
never meets a version or model that a concurrent delete removed half-way through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy.exc as sa_exc
from sqlalchemy import Connection, Table, delete, select, update

from modelkeep.entities import ModelVersion, ModelVersionStatus, Page, RegisteredModel, now_ms
from modelkeep.exceptions import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    SignatureError,
)
from modelkeep.registry.signing import key_id
from modelkeep.store import registry_validation as rv
from modelkeep.store import validation as v
from modelkeep.store.audit import claimed_actor
from modelkeep.store.sql import models as m
from modelkeep.store.sql import registry_search
from modelkeep.store.sql.audit import record
from modelkeep.store.sql.batch import on_conflict_insert
from modelkeep.store.sql.registry_aliases import AliasMixin, unsigned_aliases
from modelkeep.store.sql.registry_rows import (
    load_model,
    load_models,
    load_version,
    load_versions,
    model_row,
    version_row,
)
from modelkeep.store.sql.search import decode_page_token, encode_page_token
from modelkeep.store.sql.session import transaction

__all__ = ["RegistryMixin"]

_M = m.registered_models
_V = m.model_versions


def _allocate_version(conn: Connection, name: str, actor: str, now: int) -> tuple[int, int]:
    """Create the model if it is missing and take its next version number, in ``conn``'s
    transaction: ``(model id, version)``.

    ``ON CONFLICT DO NOTHING`` lets concurrent first registrations all succeed. The UPDATE takes
    the model's row lock (PostgreSQL) or runs under SQLite's write lock (``BEGIN IMMEDIATE``),
    so no two transactions read the same counter, and a rolled-back one gives its number back.
    """
    new_model = on_conflict_insert(conn)(_M).values(
        name=name,
        description="",
        require_signatures=False,
        trusted_keys="[]",
        next_version=1,
        created_by=actor,
        creation_time=now,
        last_update_time=now,
    )
    conn.execute(new_model.on_conflict_do_nothing(index_elements=[_M.c.name]))
    take = (
        update(_M)
        .where(_M.c.name == name)
        .values(next_version=_M.c.next_version + 1, last_update_time=now)
        .returning(_M.c.id, _M.c.next_version)
    )
    model_id, following = conn.execute(take).one()
    return int(model_id), int(following) - 1


def _upsert_tag(
    conn: Connection, table: Table, owner: dict[str, int], key: str, value: str
) -> None:
    stmt = on_conflict_insert(conn)(table).values(**owner, key=key, value=value)
    keys = [table.c[name] for name in owner] + [table.c.key]
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_={"value": value}))


def _check_tag(key: object, value: object) -> tuple[str, str]:
    return v.check_key(key, "key"), v.check_text(str(value), "value", v.MAX_TAG_VALUE_LENGTH)


def _update_detail(values: Mapping[str, Any], actor: str) -> dict[str, Any]:
    keys = values.get("trusted_keys")
    return {
        "description": values.get("description"),
        "require_signatures": values.get("require_signatures"),
        "trusted_key_ids": None if keys is None else [key_id(k) for k in json.loads(keys)],
        "actor": claimed_actor(actor),
    }


def _check_require(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(
            f"require_signatures must be true or false, got {value!r}",
            field="require_signatures",
        )
    return value


class RegistryMixin(AliasMixin):
    """The :class:`~modelkeep.store.registry_base.RegistryStore` half of SqlStore."""

    # ---- registered models -------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        name = rv.check_model_name(name)
        description = rv.check_description(description)
        tag_map = rv.check_tags(tags)
        actor = rv.check_actor(actor)
        now = now_ms()
        row = {
            "name": name,
            "description": description,
            "require_signatures": False,
            "trusted_keys": "[]",
            "next_version": 1,
            "created_by": actor,
            "creation_time": now,
            "last_update_time": now,
        }
        try:
            with transaction(self._engines.write) as conn:
                model_id = conn.execute(_M.insert().values(row)).inserted_primary_key[0]  # type: ignore[index]
                if tag_map:
                    rows = [
                        {"model_id": model_id, "key": k, "value": val}
                        for k, val in tag_map.items()
                    ]
                    conn.execute(m.registered_model_tags.insert(), rows)
                detail = {"tags": list(tag_map) or None, "actor": claimed_actor(actor)}
                record(conn, "create_registered_model", f"model:{name}", detail)
        except sa_exc.IntegrityError as exc:
            raise AlreadyExistsError(
                f"A registered model named {name!r} already exists", field="name"
            ) from exc
        return RegisteredModel(
            name, description, tag_map, created_by=actor, creation_time=now, last_update_time=now
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        with transaction(self._engines.read) as conn:
            return load_model(conn, model_row(conn, name))

    def search_registered_models(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        v.check_max_results(max_results)
        query = registry_search.model_query(filter_string, order_by, self._engines.dialect)
        offset = decode_page_token(page_token)
        with transaction(self._engines.read) as conn:
            ids = list(conn.execute(query.offset(offset).limit(max_results + 1)).scalars())
            models = load_models(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return Page(models, next_page_token=token)

    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        require_signatures: bool | None = None,
        trusted_keys: Sequence[str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        values: dict[str, Any] = {"last_update_time": now_ms()}
        if description is not None:
            values["description"] = rv.check_description(description)
        if require_signatures is not None:
            values["require_signatures"] = _check_require(require_signatures)
        if trusted_keys is not None:
            values["trusted_keys"] = json.dumps(list(rv.check_trusted_keys(trusted_keys)))
        rv.check_actor(actor)
        with transaction(self._engines.write) as conn:
            row = model_row(conn, name, lock=True)
            required = values.get("require_signatures", row.require_signatures)
            trusted = set(json.loads(values.get("trusted_keys", row.trusted_keys)))
            if required and not trusted:
                raise InvalidInputError(
                    f"Registered model {name!r} cannot require signatures without a trusted "
                    "key; pass trusted_keys with at least one public key",
                    field="trusted_keys",
                )
            if required and (offending := unsigned_aliases(conn, row.id, trusted)):
                raise SignatureError(
                    f"Registered model {name!r} cannot require signatures from these keys "
                    f"while aliases point at versions none of them signed: "
                    f"{', '.join(offending)}; sign those versions or move the aliases first"
                )
            conn.execute(update(_M).where(_M.c.id == row.id).values(values))
            record(conn, "update_registered_model", f"model:{name}", _update_detail(values, actor))
            return load_model(conn, row)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        key, value = _check_tag(key, value)
        with transaction(self._engines.write) as conn:
            row = model_row(conn, name, lock=True)
            _upsert_tag(conn, m.registered_model_tags, {"model_id": row.id}, key, value)
            conn.execute(update(_M).where(_M.c.id == row.id).values(last_update_time=now_ms()))
            detail = {"key": key, "value": value}
            record(conn, "set_registered_model_tag", f"model:{row.name}", detail)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        v.check_key(key, "key")
        t = m.registered_model_tags
        with transaction(self._engines.write) as conn:
            row = model_row(conn, name, lock=True)
            done = conn.execute(delete(t).where(t.c.model_id == row.id, t.c.key == key))
            if done.rowcount == 0:
                raise NotFoundError(f"Registered model {name!r} has no tag {key!r}", field="key")
            conn.execute(update(_M).where(_M.c.id == row.id).values(last_update_time=now_ms()))
            record(conn, "delete_registered_model_tag", f"model:{row.name}", {"key": key})

    # ---- versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        root_digest: str,
        run_id: str | None = None,
        flavor: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> ModelVersion:
        name = rv.check_model_name(name)
        row: dict[str, Any] = {
            "source": v.check_name(source, "source", rv.MAX_SOURCE_LENGTH),
            "root_digest": rv.check_root_digest(root_digest),
            "run_id": run_id,
            "flavor": v.check_text(flavor, "flavor", rv.MAX_FLAVOR_LENGTH),
            "status": ModelVersionStatus.READY.value,
            "description": rv.check_description(description),
            "created_by": rv.check_actor(actor),
            "updated_by": actor,
        }
        tag_map = rv.check_tags(tags)
        now = row["creation_time"] = row["last_update_time"] = now_ms()
        with transaction(self._engines.write) as conn:
            if run_id is not None:
                self._check_run_exists(conn, run_id)
            row["model_id"], row["version"] = _allocate_version(conn, name, actor, now)
            version_id = conn.execute(_V.insert().values(row)).inserted_primary_key[0]  # type: ignore[index]
            if tag_map:
                rows = [
                    {"version_id": version_id, "key": k, "value": val}
                    for k, val in tag_map.items()
                ]
                conn.execute(m.model_version_tags.insert(), rows)
            detail = {
                **{k: row[k] for k in ("source", "root_digest", "run_id", "flavor")},
                "tags": list(tag_map) or None,
                "actor": claimed_actor(actor),
            }
            record(conn, "create_model_version", f"model:{name}/{row['version']}", detail)
            return load_versions(conn, [version_id])[0]

    @staticmethod
    def _check_run_exists(conn: Connection, run_id: object) -> None:
        missing = NotFoundError(
            f"Run {run_id!r} does not exist; pass the id of a logged run", field="run_id"
        )
        if not isinstance(run_id, str) or not v.is_run_id(run_id):
            raise missing
        if conn.execute(select(m.runs.c.pk).where(m.runs.c.run_id == run_id)).first() is None:
            raise missing

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        version = rv.check_version(version)
        with transaction(self._engines.read) as conn:
            model = model_row(conn, name)
            return load_version(conn, model, version_row(conn, model, version))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with transaction(self._engines.read) as conn:
            model = model_row(conn, name)
            number = self._alias_target(conn, model, alias)
            if number is None:
                raise NotFoundError(
                    f"Registered model {name!r} has no alias {alias!r}", field="alias"
                )
            return load_version(conn, model, version_row(conn, model, number))

    def search_model_versions(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        v.check_max_results(max_results)
        query = registry_search.version_query(filter_string, order_by, self._engines.dialect)
        offset = decode_page_token(page_token)
        with transaction(self._engines.read) as conn:
            ids = list(conn.execute(query.offset(offset).limit(max_results + 1)).scalars())
            versions = load_versions(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return Page(versions, next_page_token=token)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        status: ModelVersionStatus | None = None,
        actor: str = "",
    ) -> ModelVersion:
        version = rv.check_version(version)
        values: dict[str, Any] = {
            "updated_by": rv.check_actor(actor),
            "last_update_time": now_ms(),
        }
        if description is not None:
            values["description"] = rv.check_description(description)
        if status is not None:
            values["status"] = rv.check_version_status(status).value
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            found = version_row(conn, model, version)
            conn.execute(update(_V).where(_V.c.id == found.id).values(values))
            detail = {
                "description": description,
                "status": values.get("status"),
                "actor": claimed_actor(actor),
            }
            record(conn, "update_model_version", f"model:{model.name}/{version}", detail)
            return load_version(conn, model, found)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        version = rv.check_version(version)
        key, value = _check_tag(key, value)
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            found = version_row(conn, model, version)
            _upsert_tag(conn, m.model_version_tags, {"version_id": found.id}, key, value)
            target = f"model:{model.name}/{version}"
            record(conn, "set_model_version_tag", target, {"key": key, "value": value})

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        version = rv.check_version(version)
        v.check_key(key, "key")
        t = m.model_version_tags
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            found = version_row(conn, model, version)
            done = conn.execute(delete(t).where(t.c.version_id == found.id, t.c.key == key))
            if done.rowcount == 0:
                raise NotFoundError(
                    f"Version {version} of registered model {name!r} has no tag {key!r}",
                    field="key",
                )
            target = f"model:{model.name}/{version}"
            record(conn, "delete_model_version_tag", target, {"key": key})
