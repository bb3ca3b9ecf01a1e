"""Parser for the run-search filter language and order-by clauses.

Pure Python on purpose: the SQL store compiles the AST below to SQL, the REST server validates
filters with it before touching a store, and the REST client renders ASTs back to text with
:func:`filter_to_string`.

Grammar (keywords and prefixes are case-insensitive; ``and`` binds tighter than ``or``)::

    filter     := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := ident ( ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
                        | ("LIKE" | "ILIKE") string
                        | ["NOT"] "IN" "(" value ("," value)* ")"
                        | "IS" ["NOT"] "NULL" )
    ident      := prefix "." (bare_key | '"' key '"' | "`" key "`")
    prefix     := metrics | params | tags | attributes   (or metric, param, tag, attribute, attr)
    order_key  := ident ["ASC" | "DESC"]

Types are checked while parsing: metrics compare to numbers (no LIKE), params and tags to
quoted strings, ``attributes.status`` to a run status, ``attributes.start_time`` and
``attributes.end_time`` to integer milliseconds, the other attributes to strings. Strings take
single or double quotes, doubled quotes and backslash escapes; an unknown escape keeps its
backslash, so a LIKE value ``'100\\%'`` reaches the SQL compiler as ``100\\%`` (use ``ESCAPE``).

Example:
    >>> node = parse_filter("metrics.acc > 0.9 AND (params.lr = '0.1' OR tags.team = 'a')")
    >>> filter_to_string(node)
    "metrics.acc > 0.9 and (params.lr = '0.1' or tags.team = 'a')"
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from modelkeep.entities import RunStatus
from modelkeep.exceptions import InvalidFilterError
from modelkeep.store import search_tokens as tk

__all__ = [
    "ATTRIBUTE_NAMES",
    "BoolOp",
    "Comparison",
    "EntityKind",
    "Identifier",
    "Node",
    "OrderKey",
    "Value",
    "filter_to_string",
    "parse_filter",
    "parse_order_by",
    "render_identifier",
]

EntityKind: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Value: TypeAlias = str | float | int

#: Canonical attribute names; ``name`` and ``id`` are accepted for ``run_name`` and ``run_id``.
ATTRIBUTE_NAMES = ("status", "run_name", "start_time", "end_time", "run_id", "experiment_id")


@dataclass(frozen=True, slots=True)
class Identifier:
    """What a comparison or order key looks at: ``kind`` plus the metric/param/tag key or the
    canonical attribute name. ``position`` is where it starts in the text (not compared)."""

    kind: EntityKind
    key: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``ident op value``; ``value`` is a tuple for IN/NOT IN and None for IS [NOT] NULL."""

    ident: Identifier
    op: str
    value: Value | tuple[Value, ...] | None
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and``/``or`` over two or more operands, flattened (``a and b and c`` is one node)."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | BoolOp


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order-by key; stores put NULLs last in either direction."""

    ident: Identifier
    descending: bool = False


_KINDS: Final[tuple[EntityKind, ...]] = ("metric", "param", "tag", "attribute")
_CANONICAL_PREFIX: Final = {kind: f"{kind}s" for kind in _KINDS}
_PREFIXES: Final[dict[str, EntityKind]] = {
    **{kind: kind for kind in _KINDS},
    **{f"{kind}s": kind for kind in _KINDS},
    "attr": "attribute",
}
_ATTRIBUTES: Final = {n: n for n in ATTRIBUTE_NAMES} | {"name": "run_name", "id": "run_id"}
_STATUSES: Final = tuple(status.value for status in RunStatus)
_EXPECTED_IDENT: Final = "expected metrics.*, params.*, tags.* or attributes.*"
_COMPARE_OPS: Final = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")
_STRING_OPS: Final = (*_COMPARE_OPS, "LIKE", "ILIKE")
_STATUS_OPS: Final = ("=", "!=", "IN", "NOT IN", "LIKE", "ILIKE")
_NULL_OPS: Final = ("IS NULL", "IS NOT NULL")
_LIST_OPS: Final = ("IN", "NOT IN")
_SCALAR_OPS: Final = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE")
_WORD_OPS: Final = {"like": "LIKE", "ilike": "ILIKE", "in": "IN"}
_ALL_OPS_TEXT: Final = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL"
_MAX_DEPTH: Final = 100  # deeper nesting is abuse, and would otherwise hit RecursionError
_ValueKind: TypeAlias = Literal["number", "integer", "string", "status"]


def parse_filter(text: str | None) -> Node | None:
    """Parse a search filter into an AST; None or blank text means "no filter".

    Raises:
        InvalidFilterError: the text does not parse or breaks a type rule; ``position`` is the
            0-based offset of the offending token and the message quotes it.

    Example:
        >>> parse_filter("attributes.status = 'finished'").value
        'FINISHED'
    """
    if text is None or not text.strip():
        return None
    return _Parser(tk.Source(text)).parse_filter()


def parse_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by clauses, each ``IDENT [ASC|DESC]`` (ascending by default).

    A single string is taken as one clause. Errors carry ``field="order_by"`` and a position
    within the offending clause.

    Example:
        >>> parse_order_by(["metrics.acc DESC"])
        [OrderKey(ident=Identifier(kind='metric', key='acc', position=0), descending=True)]
    """
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    return [_parse_order_clause(clause) for clause in clauses]


def filter_to_string(node: Node | None) -> str:
    """Render an AST as canonical filter text that :func:`parse_filter` reads back equal.

    Raises:
        InvalidFilterError: a hand-built node holds something the language cannot express
            (an unknown operator, an empty BoolOp, a NaN, a value of the wrong shape).
    """
    if node is None:
        return ""
    return _render(node, None)


class _Parser:
    """Recursive-descent parser over the token list of one filter or order-by clause."""

    __slots__ = ("_depth", "_index", "_source", "_tokens")

    def __init__(self, source: tk.Source) -> None:
        self._source = source
        self._tokens = tk.tokenize(source)
        self._index = 0
        self._depth = 0

    def peek(self) -> tk.Token:
        return self._tokens[self._index]

    def next(self) -> tk.Token:
        token = self._tokens[self._index]
        if token.kind != tk.EOF:
            self._index += 1
        return token

    def _next_is_word(self, word: str) -> bool:
        token = self._tokens[self._index]
        return token.kind == tk.WORD and token.value == word

    def parse_filter(self) -> Node:
        node = self._or_expr()
        token = self.peek()
        if token.kind == tk.RPAREN:
            raise self._source.unexpected(token, "no '(' before it matches it")
        if token.kind != tk.EOF:
            raise self._source.unexpected(token, "expected 'and', 'or' or the end of the filter")
        return node

    def _or_expr(self) -> Node:
        operands = [self._and_expr()]
        while self._next_is_word("or"):
            self._index += 1
            operands.append(self._and_expr())
        return _combine("or", operands)

    def _and_expr(self) -> Node:
        operands = [self._primary()]
        while self._next_is_word("and"):
            self._index += 1
            operands.append(self._primary())
        return _combine("and", operands)

    def _primary(self) -> Node:
        opening = self.peek()
        if opening.kind != tk.LPAREN:
            return self._comparison()
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise self._source.unexpected(opening, f"nesting deeper than {_MAX_DEPTH} levels")
        self._index += 1
        node = self._or_expr()
        closing = self.next()
        if closing.kind == tk.EOF:
            raise self._source.error("Unclosed '('", opening.pos, "expected ')' to match it")
        if closing.kind != tk.RPAREN:
            raise self._source.unexpected(closing, "expected 'and', 'or' or ')'")
        self._depth -= 1
        return node

    def _comparison(self) -> Comparison:
        ident = self.identifier()
        op_token = self.peek()
        op = self._operator()
        if op in _NULL_OPS:
            return Comparison(ident, op, None, ident.position)
        value_kind, allowed = _rules(ident)
        if op not in allowed:
            hint = f"{_subject(ident)} only with {', '.join(allowed)}, IS NULL or IS NOT NULL"
            raise self._source.error(f"Operator {op!r}", op_token.pos, hint)
        if op in ("LIKE", "ILIKE"):
            value_kind = "string"  # a pattern, not a status to validate
        if op in _LIST_OPS:
            return Comparison(ident, op, self._value_list(ident, value_kind), ident.position)
        return Comparison(ident, op, self._value(ident, value_kind), ident.position)

    def identifier(self) -> Identifier:
        token = self.next()
        if token.kind == tk.WORD and token.value in _ATTRIBUTES:
            hint = f"{_EXPECTED_IDENT} (did you mean attributes.{_ATTRIBUTES[str(token.value)]}?)"
            raise self._source.unexpected(token, hint)
        if token.kind != tk.IDENT:
            raise self._source.unexpected(token, _EXPECTED_IDENT)
        prefix = str(token.value)
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise self._source.unexpected(token, _EXPECTED_IDENT + _suggest_prefix(token))
        if not token.key:
            hint = f'expected a key after {prefix}., as in {prefix}.acc or {prefix}."my key"'
            raise self._source.unexpected(token, hint)
        if kind != "attribute":
            return Identifier(kind, token.key, token.pos)
        name = _ATTRIBUTES.get(token.key.lower())
        if name is None:
            hint = f"expected one of {', '.join(ATTRIBUTE_NAMES)}"
            raise self._source.error(f"Unknown attribute {token.raw!r}", token.pos, hint)
        return Identifier(kind, name, token.pos)

    def _operator(self) -> str:
        token = self.next()
        if token.kind == tk.OP:
            return str(token.value)
        word = token.value if token.kind == tk.WORD else None
        if word in _WORD_OPS:
            return _WORD_OPS[str(word)]
        if word == "not":
            following = self.next()
            if following.kind == tk.WORD and following.value == "in":
                return "NOT IN"
            raise self._source.unexpected(following, "expected IN after NOT")
        if word == "is":
            negated = self._next_is_word("not")
            if negated:
                self._index += 1
            if self._next_is_word("null"):
                self._index += 1
                return "IS NOT NULL" if negated else "IS NULL"
            hint = (
                "expected NULL after IS NOT" if negated else "expected NULL or NOT NULL after IS"
            )
            raise self._source.unexpected(self.peek(), hint)
        raise self._source.unexpected(token, f"expected an operator: {_ALL_OPS_TEXT}")

    def _value_list(self, ident: Identifier, kind: _ValueKind) -> tuple[Value, ...]:
        opening = self.next()
        if opening.kind != tk.LPAREN:
            raise self._source.unexpected(opening, "expected '(' to start the list of values")
        if self.peek().kind == tk.RPAREN:
            raise self._source.unexpected(self.peek(), "an IN list needs at least one value")
        values = [self._value(ident, kind)]
        while (token := self.next()).kind == tk.COMMA:
            values.append(self._value(ident, kind))
        if token.kind == tk.EOF:
            raise self._source.error("Unclosed '('", opening.pos, "expected ')' to end the list")
        if token.kind != tk.RPAREN:
            raise self._source.unexpected(token, "expected ',' or ')' in the list of values")
        return tuple(values)

    def _value(self, ident: Identifier, kind: _ValueKind) -> Value:
        token = self.next()
        if token.kind == tk.NUMBER:
            if kind == "number" or (kind == "integer" and isinstance(token.value, int)):
                return token.value
            if kind == "integer":
                hint = f"{_subject(ident)} to integers (milliseconds since the epoch)"
                raise self._source.unexpected(token, hint)
            hint = f"{_subject(ident)} to strings; quote the value: '{token.raw}'"
            raise self._source.unexpected(token, hint)
        if token.kind == tk.STRING:
            if kind == "string":
                return token.value
            if kind == "status":
                return self._status(token)
            raise self._source.unexpected(token, f"{_subject(ident)} to numbers")
        if token.kind == tk.WORD and token.value == "null":
            raise self._source.unexpected(token, "use IS NULL or IS NOT NULL to match no value")
        wanted = {"number": "a number", "integer": "an integer"}.get(kind, "a quoted string")
        raise self._source.unexpected(token, f"expected {wanted}")

    def _status(self, token: tk.Token) -> str:
        status = str(token.value).upper()
        if status not in _STATUSES:
            hint = f"expected one of {', '.join(_STATUSES)}"
            raise self._source.error(f"Unknown run status {token.raw!r}", token.pos, hint)
        return status


def _combine(op: Literal["and", "or"], operands: list[Node]) -> Node:
    """One node for ``operands``, flattening nested BoolOps of the same operator."""
    if len(operands) == 1:
        return operands[0]
    flat: list[Node] = []
    for operand in operands:
        if isinstance(operand, BoolOp) and operand.op == op:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return BoolOp(op, tuple(flat))


def _rules(ident: Identifier) -> tuple[_ValueKind, tuple[str, ...]]:
    """The value type and the operators (besides IS [NOT] NULL) that ``ident`` accepts."""
    if ident.kind == "metric":
        return "number", _COMPARE_OPS
    if ident.kind != "attribute" or ident.key in ("run_name", "run_id", "experiment_id"):
        return "string", _STRING_OPS
    if ident.key == "status":
        return "status", _STATUS_OPS
    return "integer", _COMPARE_OPS


def _subject(ident: Identifier) -> str:
    if ident.kind == "attribute":
        return f"attributes.{ident.key} compares"
    return f"{_CANONICAL_PREFIX[ident.kind]} compare"


def _suggest_prefix(token: tk.Token) -> str:
    prefix = str(token.value)
    close = difflib.get_close_matches(prefix.lower(), _PREFIXES, n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {_CANONICAL_PREFIX[_PREFIXES[close[0]]]}{token.raw[len(prefix) :]}?)"


def _parse_order_clause(clause: str) -> OrderKey:
    if not isinstance(clause, str):
        message = f"order_by entries must be strings, not {type(clause).__name__}"
        raise InvalidFilterError(message, field="order_by")
    source = tk.Source(clause, field="order_by")
    parser = _Parser(source)
    if parser.peek().kind == tk.EOF:
        raise source.error("Empty order_by clause", 0, "expected a key, as in 'metrics.acc DESC'")
    ident = parser.identifier()
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


def _render(node: Node, parent: str | None) -> str:
    if isinstance(node, Comparison):
        return _render_comparison(node)
    if not node.operands:
        raise InvalidFilterError(f"A BoolOp {node.op!r} needs at least one operand")
    if len(node.operands) == 1:
        return _render(node.operands[0], parent)
    text = f" {node.op} ".join(_render(operand, node.op) for operand in node.operands)
    # ``and`` binds tighter, so only an ``or`` under an ``and`` needs parentheses; a same-op
    # child (only hand-built ASTs have one) keeps them to show its grouping.
    return f"({text})" if parent is not None and parent in ("and", node.op) else text


def _render_comparison(node: Comparison) -> str:
    ident = render_identifier(node.ident)
    if node.op in _NULL_OPS:
        return f"{ident} {node.op}"
    if node.op in _LIST_OPS and isinstance(node.value, tuple) and node.value:
        return f"{ident} {node.op} ({', '.join(tk.render_value(v) for v in node.value)})"
    if node.op in _SCALAR_OPS and not isinstance(node.value, tuple | None):
        return f"{ident} {node.op} {tk.render_value(node.value)}"
    raise InvalidFilterError(f"Cannot render operator {node.op!r} with value {node.value!r}")


def render_identifier(ident: Identifier) -> str:
    """Canonical text for ``ident``: plural prefix, key bare when it can be, else quoted."""
    return f"{_CANONICAL_PREFIX[ident.kind]}.{tk.render_key(ident.key)}"
