"""Compile registry filters (:mod:`modelkeep.store.registry_filter`) to SQL.

Fields become column comparisons; ``tags.<key>`` and ``aliases`` become correlated ``EXISTS``
probes answered from the child tables' primary keys, as in the run search. The queries select
surrogate keys in result order; :mod:`~modelkeep.store.sql.registry_rows` loads the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, literal, not_, or_, select

from modelkeep.store.registry_filter import (
    RegistryScope,
    parse_registry_filter,
    parse_registry_order_by,
)
from modelkeep.store.search_syntax import Comparison, Node

# LIKE stays case-sensitive on SQLite (GLOB) exactly as in the run search.
from modelkeep.store.sql import models as m
from modelkeep.store.sql.search import _compare

_M = m.registered_models
_V = m.model_versions
_A = m.model_aliases
_MODEL_COLUMNS: dict[str, Any] = {
    "name": _M.c.name,
    "description": _M.c.description,
    "creation_time": _M.c.creation_time,
    "last_update_time": _M.c.last_update_time,
}
_VERSION_COLUMNS: dict[str, Any] = {
    "name": _M.c.name,
    **{
        field: _V.c[field]
        for field in (
            "description",
            "creation_time",
            "last_update_time",
            "version",
            "run_id",
            "status",
            "flavor",
            "source",
            "root_digest",
            "created_by",
        )
    },
}
_NEGATED = {"!=": "=", "NOT IN": "IN"}


def _tag_condition(node: Comparison, scope: RegistryScope, dialect: str) -> ColumnElement[bool]:
    if scope == "model":
        tags = m.registered_model_tags.alias()
        owner = tags.c.model_id == _M.c.id
    else:
        tags = m.model_version_tags.alias()
        owner = tags.c.version_id == _V.c.id
    has_key = select(literal(1)).where(owner, tags.c.key == node.ident.key)
    if node.op == "IS NULL":
        return ~has_key.exists()
    if node.op == "IS NOT NULL":
        return has_key.exists()
    return has_key.where(_compare(tags.c.value, node.op, node.value, dialect)).exists()


def _alias_condition(node: Comparison, dialect: str) -> ColumnElement[bool]:
    """``aliases = 'x'``: an alias ``x`` points here; ``!=``/``NOT IN``: none of them does."""
    aliases = _A.alias()
    points_here = select(literal(1)).where(
        aliases.c.model_id == _V.c.model_id, aliases.c.version == _V.c.version
    )
    if node.op in ("IS NULL", "IS NOT NULL"):
        exists = points_here.exists()
        return ~exists if node.op == "IS NULL" else exists
    op = _NEGATED.get(node.op, node.op)
    found = points_here.where(_compare(aliases.c.alias, op, node.value, dialect)).exists()
    return not_(found) if op != node.op else found


def _condition(node: Comparison, scope: RegistryScope, dialect: str) -> ColumnElement[bool]:
    if node.ident.kind == "tag":
        return _tag_condition(node, scope, dialect)
    if node.ident.key == "aliases":
        return _alias_condition(node, dialect)
    columns = _MODEL_COLUMNS if scope == "model" else _VERSION_COLUMNS
    column = columns[node.ident.key]
    if node.op == "IS NULL":
        return column.is_(None)  # type: ignore[no-any-return]
    if node.op == "IS NOT NULL":
        return column.is_not(None)  # type: ignore[no-any-return]
    return _compare(column, node.op, node.value, dialect)


def _compile(node: Node | None, scope: RegistryScope, dialect: str) -> ColumnElement[bool] | None:
    if node is None:
        return None
    if isinstance(node, Comparison):
        return _condition(node, scope, dialect)
    parts = [_compile(child, scope, dialect) for child in node.operands]
    clauses = [part for part in parts if part is not None]
    return and_(*clauses) if node.op == "and" else or_(*clauses)


def model_query(filter_string: str, order_by: Sequence[str], dialect: str) -> Select[Any]:
    """Ids of the registered models matching the filter, in result order (name last)."""
    where = _compile(parse_registry_filter(filter_string, "model"), "model", dialect)
    stmt = select(_M.c.id)
    if where is not None:
        stmt = stmt.where(where)
    keys = parse_registry_order_by(order_by, "model")
    ordering = [
        _MODEL_COLUMNS[k.ident.key].desc() if k.descending else _MODEL_COLUMNS[k.ident.key]
        for k in keys
    ]
    return stmt.order_by(*ordering, _M.c.name)


def version_query(filter_string: str, order_by: Sequence[str], dialect: str) -> Select[Any]:
    """Ids of the model versions matching the filter, in result order (by default name
    ascending, version descending; those two also break ties of ``order_by``)."""
    where = _compile(parse_registry_filter(filter_string, "version"), "version", dialect)
    stmt = select(_V.c.id).select_from(_V.join(_M, _M.c.id == _V.c.model_id))
    if where is not None:
        stmt = stmt.where(where)
    keys = parse_registry_order_by(order_by, "version")
    ordering = [
        _VERSION_COLUMNS[k.ident.key].desc() if k.descending else _VERSION_COLUMNS[k.ident.key]
        for k in keys
    ]
    return stmt.order_by(*ordering, _M.c.name, _V.c.version.desc())
