"""Parser for model-registry filters and order-by clauses.

The registry speaks the run-filter language of :mod:`modelkeep.store.search_syntax` (same
tokenizer, operators, ``and``/``or``/parentheses, quoting and error shape) with different
identifiers: bare field names instead of ``attributes.*``, and ``tags.<key>``.

Registered models filter on ``name``, ``description``, ``tags.<key>``, ``creation_time`` and
``last_update_time``; versions also on ``version``, ``run_id``, ``status``, ``flavor``,
``source``, ``root_digest``, ``created_by`` and ``aliases``. Times and ``version`` compare to
integers, ``status`` to a :class:`~modelkeep.entities.ModelVersionStatus`, the rest to quoted
strings. ``aliases`` takes ``=``, ``!=``, ``IN``, ``NOT IN``, ``LIKE`` and ``ILIKE``:
``aliases = 'champion'`` matches the version the alias points at, ``aliases != 'champion'``
every other version, ``aliases IS NULL`` versions without any alias.

The AST reuses :class:`~modelkeep.store.search_syntax.Comparison` and ``BoolOp``; a field is an
``Identifier`` of kind ``"attribute"`` keyed by the field name, a tag one of kind ``"tag"``.

Example:
    >>> node = parse_registry_filter("name = 'churn' and tags.team = 'a'", "model")
    >>> [c.ident.key for c in node.operands]
    ['name', 'team']
    >>> parse_registry_order_by(["version DESC"], "version")[0].descending
    True
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

from modelkeep.entities import ModelVersionStatus
from modelkeep.exceptions import InvalidFilterError
from modelkeep.store import search_tokens as tk

# The boolean grammar, operators and value lists are the run filter's; only identifiers and
# value types differ, so the registry parser specialises the run parser instead of copying it.
from modelkeep.store.search_syntax import (
    Comparison,
    Identifier,
    Node,
    OrderKey,
    Value,
    _Parser,
    _ValueKind,
)

__all__ = [
    "MODEL_FIELDS",
    "MODEL_ORDER_FIELDS",
    "VERSION_FIELDS",
    "VERSION_ORDER_FIELDS",
    "RegistryScope",
    "parse_registry_filter",
    "parse_registry_order_by",
]

RegistryScope: TypeAlias = Literal["model", "version"]

#: Fields of registered models, and their value types.
MODEL_FIELDS: Final[dict[str, _ValueKind]] = {
    "name": "string",
    "description": "string",
    "creation_time": "integer",
    "last_update_time": "integer",
}
#: Fields of model versions (a superset of the model fields).
VERSION_FIELDS: Final[dict[str, _ValueKind]] = {
    **MODEL_FIELDS,
    "version": "integer",
    "run_id": "string",
    "status": "status",
    "flavor": "string",
    "source": "string",
    "root_digest": "string",
    "created_by": "string",
    "aliases": "string",
}
MODEL_ORDER_FIELDS: Final = ("name", "creation_time", "last_update_time")
VERSION_ORDER_FIELDS: Final = ("name", "version", "creation_time", "last_update_time")

_FIELDS: Final[dict[RegistryScope, dict[str, _ValueKind]]] = {
    "model": MODEL_FIELDS,
    "version": VERSION_FIELDS,
}
_ORDER_FIELDS: Final[dict[RegistryScope, tuple[str, ...]]] = {
    "model": MODEL_ORDER_FIELDS,
    "version": VERSION_ORDER_FIELDS,
}
_TAG_PREFIXES: Final = ("tags", "tag")
_ATTRIBUTE_PREFIXES: Final = ("attributes", "attribute", "attr")
_COMPARE_OPS: Final = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")
_OPS: Final[dict[str, tuple[str, ...]]] = {
    "string": (*_COMPARE_OPS, "LIKE", "ILIKE"),
    "integer": _COMPARE_OPS,
    "status": ("=", "!=", "IN", "NOT IN"),
    "aliases": ("=", "!=", "IN", "NOT IN", "LIKE", "ILIKE"),
}
_NULL_OPS: Final = ("IS NULL", "IS NOT NULL")
_LIST_OPS: Final = ("IN", "NOT IN")
_STATUSES: Final = tuple(status.value for status in ModelVersionStatus)


def parse_registry_filter(text: str | None, scope: RegistryScope) -> Node | None:
    """Parse a registered-model (``scope="model"``) or model-version filter.

    None or blank text means "no filter".

    Raises:
        InvalidFilterError: the text does not parse, names a field the scope does not have, or
            compares a field to the wrong type; ``position`` points at the offending token.
    """
    if text is None or not text.strip():
        return None
    return _RegistryParser(tk.Source(text), scope).parse_filter()


def parse_registry_order_by(clauses: Sequence[str] | None, scope: RegistryScope) -> list[OrderKey]:
    """Parse order-by clauses, each ``FIELD [ASC|DESC]``; a single string is one clause.

    Models order by ``name``, ``creation_time`` or ``last_update_time``; versions also by
    ``version``. Errors carry ``field="order_by"``.
    """
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    return [_parse_order_clause(clause, scope) for clause in clauses]


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


class _RegistryParser(_Parser):
    """The run-filter parser with registry identifiers and value types."""

    __slots__ = ("_scope",)

    def __init__(self, source: tk.Source, scope: RegistryScope) -> None:
        super().__init__(source)
        self._scope = scope

    def _expected(self) -> str:
        fields = [*_FIELDS[self._scope]]
        return f"expected {_listing([*fields, 'tags.<key>'])}"

    def identifier(self) -> Identifier:
        token = self.next()
        if token.kind == tk.WORD:
            return self._field(token)
        if token.kind != tk.IDENT:
            raise self._source.unexpected(token, self._expected())
        prefix = str(token.value).lower()
        if prefix in _TAG_PREFIXES:
            if not token.key:
                hint = 'expected a key after tags., as in tags.team or tags."my key"'
                raise self._source.unexpected(token, hint)
            return Identifier("tag", token.key, token.pos)
        hint = self._expected()
        if prefix in _ATTRIBUTE_PREFIXES and token.key.lower() in _FIELDS[self._scope]:
            hint += f" (write the field bare: {token.key.lower()})"
        raise self._source.unexpected(token, hint)

    def _field(self, token: tk.Token) -> Identifier:
        name = str(token.value)
        if name in _FIELDS[self._scope]:
            return Identifier("attribute", name, token.pos)
        if self._scope == "model" and name in VERSION_FIELDS:
            hint = (
                f"{name} is a model-version field; registered models have "
                f"{_listing([*MODEL_FIELDS, 'tags.<key>'])} (search model versions instead)"
            )
            raise self._source.error(f"Field {token.raw!r}", token.pos, hint)
        close = difflib.get_close_matches(name, _FIELDS[self._scope], n=1, cutoff=0.6)
        hint = self._expected() + (f" (did you mean {close[0]}?)" if close else "")
        raise self._source.error(f"Unknown field {token.raw!r}", token.pos, hint)

    def _comparison(self) -> Comparison:
        ident = self.identifier()
        op_token = self.peek()
        op = self._operator()
        if op in _NULL_OPS:
            return Comparison(ident, op, None, ident.position)
        kind, allowed = _rules(ident)
        if op not in allowed:
            hint = f"{_subject(ident)} only with {', '.join(allowed)}, IS NULL or IS NOT NULL"
            raise self._source.error(f"Operator {op!r}", op_token.pos, hint)
        if op in _LIST_OPS:
            return Comparison(ident, op, self._value_list(ident, kind), ident.position)
        if op in ("LIKE", "ILIKE"):
            kind = "string"
        return Comparison(ident, op, self._value(ident, kind), ident.position)

    def _value(self, ident: Identifier, kind: _ValueKind) -> Value:
        token = self.next()
        if token.kind == tk.NUMBER:
            if kind == "integer" and isinstance(token.value, int):
                return token.value
            if kind == "integer":
                raise self._source.unexpected(token, f"{_subject(ident)} to integers")
            hint = f"{_subject(ident)} to strings; quote the value: '{token.raw}'"
            raise self._source.unexpected(token, hint)
        if token.kind == tk.STRING:
            if kind == "string":
                return token.value
            if kind == "status":
                return self._version_status(token)
            hint = f"{_subject(ident)} to integers; remove the quotes"
            raise self._source.unexpected(token, hint)
        if token.kind == tk.WORD and token.value == "null":
            raise self._source.unexpected(token, "use IS NULL or IS NOT NULL to match no value")
        wanted = "an integer" if kind == "integer" else "a quoted string"
        raise self._source.unexpected(token, f"expected {wanted}")

    def _version_status(self, token: tk.Token) -> str:
        status = str(token.value).upper()
        if status not in _STATUSES:
            hint = f"expected one of {', '.join(_STATUSES)}"
            raise self._source.error(f"Unknown version status {token.raw!r}", token.pos, hint)
        return status


def _rules(ident: Identifier) -> tuple[_ValueKind, tuple[str, ...]]:
    """The value type and the operators (besides IS [NOT] NULL) that ``ident`` accepts."""
    if ident.kind == "tag":
        return "string", _OPS["string"]
    kind = VERSION_FIELDS[ident.key]
    return kind, _OPS["aliases" if ident.key == "aliases" else kind]


def _subject(ident: Identifier) -> str:
    return "tags compare" if ident.kind == "tag" else f"{ident.key} compares"


def _parse_order_clause(clause: str, scope: RegistryScope) -> OrderKey:
    if not isinstance(clause, str):
        message = f"order_by entries must be strings, not {type(clause).__name__}"
        raise InvalidFilterError(message, field="order_by")
    source = tk.Source(clause, field="order_by")
    parser = _RegistryParser(source, scope)
    allowed = _ORDER_FIELDS[scope]
    first = parser.peek()
    if first.kind == tk.EOF:
        raise source.error("Empty order_by clause", 0, "expected a field, as in 'name DESC'")
    ident = parser.identifier()
    if ident.kind != "attribute" or ident.key not in allowed:
        hint = f"results order by {_listing(allowed)}"
        raise source.error(f"Cannot order by {first.raw!r}", first.pos, hint)
    token = parser.next()
    descending = False
    hint = "expected ASC, DESC or the end of the clause"
    if token.kind == tk.WORD and token.value in ("asc", "desc"):
        descending = token.value == "desc"
        token = parser.next()
        hint = "expected the end of the clause"
    if token.kind == tk.COMMA:
        hint += "; give each order key as its own list item"
    if token.kind != tk.EOF:
        raise source.unexpected(token, hint)
    return OrderKey(ident, descending)
