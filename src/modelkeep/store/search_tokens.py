"""Tokenizer for the run-search filter language parsed by :mod:`modelkeep.store.search_syntax`.

The tokenizer knows nothing of the grammar: it turns text into :class:`Token` objects and
reports only lexical errors (unterminated strings, stray characters). Every error it raises is
an :class:`~modelkeep.exceptions.InvalidFilterError` built by :class:`Source`, so lexer and
parser messages share one shape: ``<what> at position <n>[ in order_by clause '...']: <hint>``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from modelkeep.exceptions import InvalidFilterError

__all__ = [
    "COMMA",
    "EOF",
    "IDENT",
    "LPAREN",
    "NUMBER",
    "OP",
    "RPAREN",
    "STRING",
    "WORD",
    "Source",
    "Token",
    "render_key",
    "render_quoted",
    "render_value",
    "tokenize",
]

IDENT: Final = "IDENT"  # ``prefix.key``: value is the prefix as typed, key the unquoted key
WORD: Final = "WORD"  # a bare word without a dot (keyword or misplaced name); value lowercased
STRING: Final = "STRING"
NUMBER: Final = "NUMBER"
OP: Final = "OP"  # comparison symbol; value normalised (``==`` -> ``=``, ``<>`` -> ``!=``)
LPAREN: Final = "LPAREN"
RPAREN: Final = "RPAREN"
COMMA: Final = "COMMA"
EOF: Final = "EOF"

# One match per token, leading whitespace included; ``bad`` catches any stray character so
# the loop never needs a second look at the text.
_TOKEN_RE: Final = re.compile(
    r"\s*(?:(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    # Keys hold ``.``, ``-``, ``/`` and ``:`` so ``metrics.val.loss`` or ``tags.a/b:c`` read
    # as one identifier; a word must start with a letter or ``_`` so numbers stay numbers.
    r"|(?P<word>[^\W\d][\w\-.:/]*)"
    r"|(?P<op>==|!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])"
    r"|(?P<quote>['\"])"
    r"|(?P<bad>.)"
    r"|$)",
    re.DOTALL,
)
_BARE_KEY_RE: Final = re.compile(r"[\w\-.:/]+")
_OPERATORS: Final = {"==": "=", "<>": "!="}
_PUNCT: Final = {"(": LPAREN, ")": RPAREN, ",": COMMA}
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "`": "`", "n": "\n", "t": "\t", "r": "\r"}
_RENDER_ESCAPES: Final = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_PLAIN_RUNS: Final = {q: re.compile(rf"[^{q}\\]+") for q in "'\"`"}
_KEY_QUOTES: Final = '"`'


@dataclass(slots=True)
class Token:
    """One lexical token.

    Attributes:
        kind: one of the kind constants of this module.
        raw: the exact source text, quoted in error messages.
        pos: 0-based offset of the token's first character.
        value: lowercased word, normalised operator, unquoted string or parsed number.
        key: the unquoted key of an ``IDENT`` token, empty otherwise.
    """

    kind: str
    raw: str
    pos: int
    value: str | int | float = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """The text being parsed and where it came from, to build consistent errors."""

    text: str
    field: str = "filter"

    def error(self, what: str, pos: int, hint: str) -> InvalidFilterError:
        """An error about ``what`` at ``pos``, followed by a hint for the user."""
        where = f" in order_by clause {self.text!r}" if self.field == "order_by" else ""
        return InvalidFilterError(
            f"{what} at position {pos}{where}: {hint}", position=pos, field=self.field
        )

    def unexpected(self, token: Token, hint: str) -> InvalidFilterError:
        """An error naming ``token`` (or the end of input) as the thing that was not expected."""
        if token.kind == EOF:
            return self.error("Unexpected end of input", token.pos, hint)
        return self.error(f"Unexpected token {token.raw!r}", token.pos, hint)


def tokenize(source: Source) -> list[Token]:
    """Split ``source.text`` into tokens, ending with one ``EOF`` token.

    Raises:
        InvalidFilterError: on an unterminated string, a stray character or a number too large
            to represent.
    """
    text = source.text
    tokens: list[Token] = []
    pos, end = 0, len(text)
    while pos < end:
        match = _TOKEN_RE.match(text, pos)
        assert match is not None  # the ``$`` branch matches whatever is left
        group, stop = match.lastgroup, match.end()
        if group is None:  # only trailing whitespace was left
            break
        pos = match.start(group)
        if group == "word":
            token, stop = _word_token(source, pos, stop)
        elif group == "num":
            raw = text[pos:stop]
            token = Token(NUMBER, raw, pos, _number(source, raw, pos))
        elif group == "op":
            raw = text[pos:stop]
            token = Token(OP, raw, pos, _OPERATORS.get(raw, raw))
        elif group == "punct":
            token = Token(_PUNCT[text[pos]], text[pos], pos, text[pos])
        elif group == "quote":
            value, stop = _read_quoted(source, pos)
            token = Token(STRING, text[pos:stop], pos, value)
        else:
            raise _stray_character(source, pos)
        tokens.append(token)
        pos = stop
    tokens.append(Token(EOF, "", end))
    return tokens


def _stray_character(source: Source, pos: int) -> InvalidFilterError:
    char = source.text[pos]
    hint = "it is not part of the filter language"
    if char == "`":
        hint = "backticks quote a key only after a prefix, as in metrics.`my key`"
    return source.error(f"Unexpected character {char!r}", pos, hint)


def _word_token(source: Source, start: int, stop: int) -> tuple[Token, int]:
    """A WORD or IDENT token for the word at ``start:stop``, taking a quoted key if one follows."""
    text = source.text
    word = text[start:stop]
    prefix, dot, key = word.partition(".")
    if not dot:
        return Token(WORD, word, start, word.lower()), stop
    # Only ``prefix.`` directly followed by a quote takes a quoted key: ``metrics."my key"``.
    if not key and stop < len(text) and text[stop] in _KEY_QUOTES:
        key, stop = _read_quoted(source, stop)
    return Token(IDENT, text[start:stop], start, prefix, key), stop


def _number(source: Source, raw: str, pos: int) -> int | float:
    if not any(c in raw for c in ".eE"):
        return int(raw)
    value = float(raw)
    if math.isinf(value):
        raise source.error(f"Number {raw!r}", pos, "it is too large to represent")
    return value


def _read_quoted(source: Source, start: int) -> tuple[str, int]:
    """The unquoted content of the quoted text at ``start`` and the offset just past it.

    A doubled quote stands for itself (``'it''s'``). Backslash escapes ``\\\\``, ``\\'``,
    ``\\"``, ``\\```, ``\\n``, ``\\t`` and ``\\r`` are decoded; any other backslash is kept as
    written so LIKE escapes such as ``\\%`` and ``\\_`` reach the SQL layer intact.
    """
    text, quote = source.text, source.text[start]
    plain_run = _PLAIN_RUNS[quote]
    parts: list[str] = []
    pos, end = start + 1, len(text)
    while pos < end:
        run = plain_run.match(text, pos)
        if run is not None:  # copy stretches without quotes or backslashes in one step
            parts.append(run.group())
            pos = run.end()
            continue
        if text[pos] == quote:
            if text.startswith(quote, pos + 1):
                parts.append(quote)
                pos += 2
                continue
            return "".join(parts), pos + 1
        if pos + 1 == end:
            break  # a lone backslash at the very end escapes nothing
        following = text[pos + 1]
        parts.append(_ESCAPES.get(following, "\\" + following))
        pos += 2
    raw = text[start : start + 20] + ("..." if end - start > 20 else "")
    raise source.error(f"Unterminated string {raw!r}", start, f"expected a closing {quote}")


def render_value(value: str | int | float) -> str:
    """``value`` as a literal that the tokenizer reads back equal (strings single-quoted).

    Raises:
        InvalidFilterError: ``value`` is NaN, infinite, a bool or not a str/int/float.
    """
    if isinstance(value, str):
        return render_quoted(value, "'")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise InvalidFilterError(f"Cannot write the value {value!r} in a filter")


def render_key(key: str) -> str:
    """``key`` bare when the tokenizer reads it back whole, else double-quoted."""
    return key if _BARE_KEY_RE.fullmatch(key) else render_quoted(key, '"')


def render_quoted(value: str, quote: str) -> str:
    """``value`` quoted with ``quote`` so that the tokenizer reads it back unchanged."""
    escaped = "".join(_RENDER_ESCAPES.get(c, "\\" + c if c == quote else c) for c in value)
    return f"{quote}{escaped}{quote}"
