"""Row look-ups and frozen snapshots for the registry half of SqlStore.

Snapshots are built with a few batched queries per page (models, tags, aliases, signatures),
never one query per model or version.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select

from modelkeep.entities import ModelVersion, ModelVersionStatus, RegisteredModel, VersionSignature
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.store import registry_validation as rv
from modelkeep.store.sql import models as m

_CHUNK = 900  # under SQLite's bound-parameter limit
_M = m.registered_models
_V = m.model_versions
_STATUS = {s.value: s for s in ModelVersionStatus}


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


def _rows_in(conn: Connection, stmt: Select[Any], column: Any, ids: Sequence[int]) -> list[Any]:
    """Rows of ``stmt`` where ``column`` is one of ``ids`` (queried in chunks)."""
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend(conn.execute(stmt.where(column.in_(chunk))).all())
    return rows


def model_not_found(name: object) -> NotFoundError:
    return NotFoundError(
        f"Registered model {name!r} does not exist; create it or check the name", field="name"
    )


def model_row(conn: Connection, name: object, *, lock: bool = False) -> Row[Any]:
    """The model's row; ``lock`` takes its row lock (PostgreSQL) so that alias, signature and
    delete decisions made in this transaction cannot interleave with another's."""
    try:
        rv.check_model_name(name)
    except InvalidInputError:
        raise model_not_found(name) from None  # a name that cannot be stored is not there
    stmt = select(_M).where(_M.c.name == name)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise model_not_found(name)
    return row


def _version_not_found(name: str, version: int) -> NotFoundError:
    return NotFoundError(f"Registered model {name!r} has no version {version}", field="version")


def version_row(conn: Connection, model: Row[Any], version: int) -> Row[Any]:
    """The row of ``version`` of ``model``, or NotFoundError naming both."""
    stmt = select(_V).where(_V.c.model_id == model.id, _V.c.version == version)
    row = conn.execute(stmt).first()
    if row is None:
        raise _version_not_found(model.name, version)
    return row


def load_model(conn: Connection, model: Row[Any]) -> RegisteredModel:
    """The snapshot of the model whose row was read (NotFoundError if it went meanwhile)."""
    found = load_models(conn, [model.id])
    if not found:  # PostgreSQL reads see each statement's own snapshot
        raise model_not_found(model.name)
    return found[0]


def load_version(conn: Connection, model: Row[Any], version: Row[Any]) -> ModelVersion:
    """The snapshot of the version whose row was read (NotFoundError if it went meanwhile)."""
    found = load_versions(conn, [version.id])
    if not found:
        raise _version_not_found(model.name, version.version)
    return found[0]


def _model_tags(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    t = m.registered_model_tags
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for model_id, key, value in _rows_in(conn, select(t), t.c.model_id, ids):
        out[model_id][key] = value
    return out


def _model_aliases(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    a = m.model_aliases
    out: dict[int, dict[str, int]] = defaultdict(dict)
    stmt = select(a).order_by(a.c.alias)
    for model_id, alias, version in _rows_in(conn, stmt, a.c.model_id, ids):
        out[model_id][alias] = version
    return out


def _latest_versions(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    stmt = select(_V.c.model_id, func.max(_V.c.version)).group_by(_V.c.model_id)
    return dict(_rows_in(conn, stmt, _V.c.model_id, ids))


def load_models(conn: Connection, ids: Sequence[int]) -> list[RegisteredModel]:
    """Snapshots of the registered models ``ids``, in the order given."""
    if not ids:
        return []
    rows = {r.id: r for r in _rows_in(conn, select(_M), _M.c.id, ids)}
    tags, aliases = _model_tags(conn, ids), _model_aliases(conn, ids)
    latest = _latest_versions(conn, ids)
    return [
        RegisteredModel(
            name=r.name,
            description=r.description,
            tags=tags.get(r.id, {}),
            aliases=aliases.get(r.id, {}),
            require_signatures=bool(r.require_signatures),
            trusted_keys=tuple(json.loads(r.trusted_keys)),
            latest_version=latest.get(r.id),
            created_by=r.created_by,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
        )
        for r in (rows[i] for i in ids if i in rows)
    ]


def _version_tags(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    t = m.model_version_tags
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for version_id, key, value in _rows_in(conn, select(t), t.c.version_id, ids):
        out[version_id][key] = value
    return out


def _version_aliases(conn: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    a = m.model_aliases

    on = (a.c.model_id == _V.c.model_id) & (a.c.version == _V.c.version)
    stmt = select(_V.c.id, a.c.alias).select_from(_V.join(a, on)).order_by(a.c.alias)
    out: dict[int, list[str]] = defaultdict(list)
    for version_id, alias in _rows_in(conn, stmt, _V.c.id, ids):
        out[version_id].append(alias)
    return out


def _signatures(conn: Connection, ids: Sequence[int]) -> dict[int, list[VersionSignature]]:
    s = m.model_version_signatures

    stmt = select(s).order_by(s.c.timestamp, s.c.key_id)
    out: dict[int, list[VersionSignature]] = defaultdict(list)
    for r in _rows_in(conn, stmt, s.c.version_id, ids):
        sig = VersionSignature(r.key_id, r.public_key, r.signature, r.signed_by, r.timestamp)
        out[r.version_id].append(sig)
    return out


def load_versions(conn: Connection, ids: Sequence[int]) -> list[ModelVersion]:
    """Snapshots of the model versions ``ids`` (surrogate keys), in the order given."""
    if not ids:
        return []

    stmt = select(_V, _M.c.name).select_from(_V.join(_M, _M.c.id == _V.c.model_id))
    rows = {r.id: r for r in _rows_in(conn, stmt, _V.c.id, ids)}
    tags, aliases = _version_tags(conn, ids), _version_aliases(conn, ids)
    signatures = _signatures(conn, ids)
    return [
        ModelVersion(
            name=r.name,
            version=r.version,
            source=r.source,
            run_id=r.run_id,
            root_digest=r.root_digest,
            flavor=r.flavor,
            status=_STATUS[r.status],
            description=r.description,
            tags=tags.get(r.id, {}),
            aliases=tuple(aliases.get(r.id, ())),
            signatures=tuple(signatures.get(r.id, ())),
            created_by=r.created_by,
            updated_by=r.updated_by,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
        )
        for r in (rows[i] for i in ids if i in rows)
    ]
