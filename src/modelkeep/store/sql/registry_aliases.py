"""Aliases, their history, signatures and deletes: the registry methods whose decisions depend
on aliases. Each takes the model's row lock first (PostgreSQL; SQLite's write transactions are
serial already), so an alias move, a signature-rule check and a delete never interleave.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, select, update

from modelkeep.entities import AliasChange, VersionSignature, now_ms
from modelkeep.exceptions import ConflictError, InvalidInputError, NotFoundError, SignatureError
from modelkeep.registry.signing import key_id, parse_public_key, public_key_b64, verify_signature
from modelkeep.store import registry_validation as rv
from modelkeep.store import validation as v
from modelkeep.store.audit import claimed_actor
from modelkeep.store.sql import models as m
from modelkeep.store.sql.audit import record
from modelkeep.store.sql.batch import on_conflict_insert
from modelkeep.store.sql.registry_rows import model_row, version_row
from modelkeep.store.sql.session import transaction

if TYPE_CHECKING:
    from modelkeep.store.sql.session import Engines

_M = m.registered_models
_V = m.model_versions
_A = m.model_aliases
_H = m.alias_history
_S = m.model_version_signatures


def _check_force(force: object) -> bool:
    if not isinstance(force, bool):
        raise InvalidInputError(f"force must be true or false, got {force!r}", field="force")
    return force


def _aliases_of(conn: Connection, model: Row[Any], version: int | None = None) -> list[str]:
    """Aliases of ``model`` (pointing at ``version`` when given), sorted."""
    stmt = select(_A.c.alias).where(_A.c.model_id == model.id).order_by(_A.c.alias)
    if version is not None:
        stmt = stmt.where(_A.c.version == version)
    return list(conn.execute(stmt).scalars())


def _record(
    conn: Connection,
    model: Row[Any],
    alias: str,
    change: tuple[int | None, int | None],
    actor: str,
    reason: str,
) -> AliasChange:
    """Append one alias change, ``change`` being ``(version, previous_version)``."""
    now = now_ms()
    version, previous = change
    conn.execute(
        _H.insert().values(
            model_id=model.id,
            alias=alias,
            version=version,
            previous_version=previous,
            actor=actor,
            reason=reason,
            timestamp=now,
        )
    )
    conn.execute(update(_M).where(_M.c.id == model.id).values(last_update_time=now))
    return AliasChange(model.name, alias, version, previous, actor, reason, now)


def _audit(
    conn: Connection,
    action: str,
    model: Row[Any],
    alias: str,
    change: tuple[int | None, int | None],
    actor: str,
    reason: str,
) -> None:
    detail = {
        "version": change[0],
        "previous_version": change[1],
        "reason": reason or None,
        "actor": claimed_actor(actor),
    }
    record(conn, action, f"model:{model.name}@{alias}", detail)


def _require_trusted_signature(conn: Connection, model: Row[Any], target: Row[Any]) -> None:
    trusted = set(json.loads(model.trusted_keys))
    signed = conn.execute(select(_S.c.public_key).where(_S.c.version_id == target.id)).scalars()
    if trusted.isdisjoint(signed):
        raise SignatureError(
            f"Registered model {model.name!r} requires signatures and version {target.version} "
            "has none from a trusted key; sign it with a trusted key first",
            field="signature",
        )


def unsigned_aliases(conn: Connection, model_id: int, trusted: set[str]) -> list[str]:
    """``"alias -> vN"`` for each alias of the model whose version has no signature from a
    key in ``trusted`` (stored signatures were verified when they were added)."""
    rows = conn.execute(
        select(_A.c.alias, _A.c.version, _V.c.id)
        .join(_V, (_V.c.model_id == _A.c.model_id) & (_V.c.version == _A.c.version))
        .where(_A.c.model_id == model_id)
        .order_by(_A.c.alias)
    ).all()
    found = []
    for alias, version, version_id in rows:
        signed = conn.execute(select(_S.c.public_key).where(_S.c.version_id == version_id))
        if trusted.isdisjoint(signed.scalars()):
            found.append(f"{alias} -> v{version}")
    return found


class AliasMixin:
    """Alias, signature and delete methods of the registry half of SqlStore."""

    _engines: Engines

    @staticmethod
    def _alias_target(conn: Connection, model: Row[Any], alias: object) -> int | None:
        """The version ``alias`` points at, or None (also for a name no alias can have)."""
        try:
            rv.check_model_name(alias, "alias")
        except InvalidInputError:
            return None
        stmt = select(_A.c.version).where(_A.c.model_id == model.id, _A.c.alias == alias)
        found = conn.execute(stmt).scalar()
        return None if found is None else int(found)

    def set_model_alias(
        self, name: str, alias: str, version: int, reason: str = "", actor: str = ""
    ) -> AliasChange:
        alias = rv.check_alias(alias)
        version = rv.check_version(version)
        reason = v.check_text(reason, "reason", rv.MAX_REASON_LENGTH)
        actor = rv.check_actor(actor)
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            target = version_row(conn, model, version)
            if model.require_signatures:
                _require_trusted_signature(conn, model, target)
            previous = self._alias_target(conn, model, alias)
            upsert = on_conflict_insert(conn)(_A).values(
                model_id=model.id, alias=alias, version=version
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[_A.c.model_id, _A.c.alias], set_={"version": version}
                )
            )
            _audit(conn, "set_model_alias", model, alias, (version, previous), actor, reason)
            return _record(conn, model, alias, (version, previous), actor, reason)

    def delete_model_alias(
        self, name: str, alias: str, reason: str = "", actor: str = ""
    ) -> AliasChange:
        reason = v.check_text(reason, "reason", rv.MAX_REASON_LENGTH)
        actor = rv.check_actor(actor)
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            previous = self._alias_target(conn, model, alias)
            if previous is None:
                raise NotFoundError(
                    f"Registered model {name!r} has no alias {alias!r}", field="alias"
                )
            conn.execute(delete(_A).where(_A.c.model_id == model.id, _A.c.alias == alias))
            _audit(conn, "delete_model_alias", model, alias, (None, previous), actor, reason)
            return _record(conn, model, alias, (None, previous), actor, reason)

    def list_alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        with transaction(self._engines.read) as conn:
            model = model_row(conn, name)
            stmt = select(_H).where(_H.c.model_id == model.id).order_by(_H.c.id)
            if alias is not None:
                stmt = stmt.where(_H.c.alias == v.check_text(alias, "alias", 1000))
            rows = conn.execute(stmt).all()
        return [
            AliasChange(
                model.name, r.alias, r.version, r.previous_version, r.actor, r.reason, r.timestamp
            )
            for r in rows
        ]

    def add_model_version_signature(
        self, name: str, version: int, public_key: str, signature: str, actor: str = ""
    ) -> VersionSignature:
        version = rv.check_version(version)
        actor = rv.check_actor(actor)
        canonical_key = public_key_b64(parse_public_key(public_key))
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            target = version_row(conn, model, version)
            if not verify_signature(canonical_key, signature, target.root_digest):
                raise SignatureError(
                    f"The signature does not verify against the root digest of version "
                    f"{version} of {name!r}; sign that version's digest with this key",
                    field="signature",
                )
            raw = base64.b64decode(signature, validate=True)
            signed = VersionSignature(
                key_id(canonical_key),
                canonical_key,
                base64.b64encode(raw).decode("ascii"),
                actor,
                now_ms(),
            )
            row = {"version_id": target.id, **signed.to_dict()}
            stmt = on_conflict_insert(conn)(_S).values(row)
            replace = {k: row[k] for k in ("public_key", "signature", "signed_by", "timestamp")}
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_S.c.version_id, _S.c.key_id], set_=replace
                )
            )
            detail = {"key_id": signed.key_id, "actor": claimed_actor(actor)}
            record(conn, "add_model_version_signature", f"model:{model.name}/{version}", detail)
        return signed

    def delete_model_version(
        self, name: str, version: int, force: bool = False, actor: str = ""
    ) -> None:
        version = rv.check_version(version)
        force = _check_force(force)
        actor = rv.check_actor(actor)
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            target = version_row(conn, model, version)
            aliases = _aliases_of(conn, model, version)
            if aliases and not force:
                raise ConflictError(
                    f"Version {version} of {name!r} is aliased ({', '.join(aliases)}); move "
                    "or delete the aliases first, or pass force=True",
                    field="version",
                )
            for alias in aliases:
                conn.execute(delete(_A).where(_A.c.model_id == model.id, _A.c.alias == alias))
                reason = f"version {version} deleted"
                _record(conn, model, alias, (None, version), actor, reason)
            conn.execute(delete(_V).where(_V.c.id == target.id))
            detail = {"force": force, "removed": aliases or None, "actor": claimed_actor(actor)}
            record(conn, "delete_model_version", f"model:{model.name}/{version}", detail)

    def delete_registered_model(self, name: str, force: bool = False, actor: str = "") -> None:
        force = _check_force(force)
        rv.check_actor(actor)
        with transaction(self._engines.write) as conn:
            model = model_row(conn, name, lock=True)
            aliases = _aliases_of(conn, model)
            if aliases and not force:
                raise ConflictError(
                    f"Registered model {name!r} has aliases ({', '.join(aliases)}); delete "
                    "them first, or pass force=True",
                    field="name",
                )
            # aliases first: they reference versions, which the cascade below removes
            conn.execute(delete(_A).where(_A.c.model_id == model.id))
            conn.execute(delete(_M).where(_M.c.id == model.id))
            detail = {"force": force, "removed": aliases or None, "actor": claimed_actor(actor)}
            record(conn, "delete_registered_model", f"model:{model.name}", detail)
