"""The detectors behind :func:`~modelkeep.audit.pii.scan_pii`: one test per kind of personal
data, the national ID patterns (extend with :func:`register_national_id`), the column-name and
value heuristics for people's names, and the masks applied to examples."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from modelkeep.exceptions import InvalidInputError

__all__ = [
    "EMAIL",
    "NATIONAL_ID_PATTERNS",
    "NationalIdPattern",
    "column_hints_name",
    "is_card",
    "is_ip",
    "is_phone",
    "luhn_valid",
    "mask_email",
    "mask_ip",
    "mask_keep_last",
    "mask_name",
    "name_matches",
    "national_id",
    "register_national_id",
]


@dataclass(frozen=True)
class NationalIdPattern:
    """A national identifier: a regex the whole (upper-cased) value must match, and an
    optional check of the match (a checksum)."""

    name: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None

    def matches(self, value: str) -> bool:
        text = value.upper()
        return self.pattern.fullmatch(text) is not None and (
            self.check is None or self.check(text)
        )


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum (cards, Canadian SINs) of the digits in ``digits``."""
    numbers = [int(c) for c in digits if c.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(numbers)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(numbers) and total % 10 == 0


NATIONAL_ID_PATTERNS: list[NationalIdPattern] = [
    NationalIdPattern("us_ssn", re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")),
    NationalIdPattern(
        "uk_nino",
        re.compile(
            r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
        ),
    ),
    NationalIdPattern("ca_sin", re.compile(r"[1-79]\d{2}[ -]\d{3}[ -]\d{3}"), luhn_valid),
]
"""The national ID patterns ``national_id`` findings come from (extend with
:func:`register_national_id`)."""


def register_national_id(
    name: str, pattern: str, check: Callable[[str], bool] | None = None
) -> None:
    """Add a national ID pattern (or replace the one of that name).

    Args:
        name: names the pattern in findings' ``detail``.
        pattern: a regex the whole upper-cased value must match.
        check: an extra test of the upper-cased value (e.g. a checksum).

    Raises:
        InvalidInputError: an empty name or a pattern that does not compile.

    Example:
        >>> register_national_id("nl_bsn_dotted", r"\\d{4}\\.\\d{2}\\.\\d{3}")  # doctest: +SKIP
    """
    if not name.strip():
        raise InvalidInputError("a national ID pattern needs a name", field="name")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"pattern {pattern!r}: {exc}", field="pattern") from None
    NATIONAL_ID_PATTERNS[:] = [p for p in NATIONAL_ID_PATTERNS if p.name != name]
    NATIONAL_ID_PATTERNS.append(NationalIdPattern(name, compiled, check))


# ---- value detectors --------------------------------------------------------------------------

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_INTERNATIONAL = re.compile(r"\+[1-9]\d{0,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}")
_NATIONAL = re.compile(r"(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])(?:\d{2,5}[ .-]){0,3}\d{2,5}")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
# Dates and date-times ("2020-01-01 00", "01/02/2020 10") have phone-like digit groups.
_DATE_LIKE = re.compile(r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\b")


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_phone(value: str) -> bool:
    count = len(_digits(value))
    if value.startswith("+"):
        formatted = _E164.fullmatch(value) or _INTERNATIONAL.fullmatch(value)
        return formatted is not None and 8 <= count <= 15
    return (
        _NATIONAL.fullmatch(value) is not None
        and 10 <= count <= 11
        and not is_ip(value)
        and _DATE_LIKE.match(value) is None
    )


def is_card(value: str) -> bool:
    if _CARD.fullmatch(value) is None:
        return False
    digits = _digits(value)
    return len(set(digits)) > 1 and luhn_valid(digits)


def national_id(value: str) -> str | None:
    return next((p.name for p in NATIONAL_ID_PATTERNS if p.matches(value)), None)


# ---- masking ----------------------------------------------------------------------------------


def mask_keep_last(value: str, keep: int) -> str:
    """Every letter and digit but the last ``keep`` becomes ``*``; separators stay."""
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    hidden = set(positions[: max(len(positions) - keep, 0)])
    return "".join("*" if i in hidden else c for i, c in enumerate(value))


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_ip(value: str) -> str:
    if ":" in value:
        return value.split(":")[0] + ":*"
    return value.split(".")[0] + ".*.*.*"


def mask_name(value: str) -> str:
    return " ".join(word[:1] + "***" for word in value.split())


# ---- names ------------------------------------------------------------------------------------

_NAME_WORDS = {"firstname", "lastname", "surname", "forename", "givenname", "fullname",
               "middlename", "maidenname", "familyname", "nickname"}  # fmt: skip
_PERSON_WORDS = {
    "first", "last", "given", "family", "full", "middle", "maiden", "customer", "client",
    "patient", "person", "employee", "contact", "owner", "holder", "cardholder", "recipient",
    "sender", "member", "student", "author", "applicant", "beneficiary", "legal", "passenger",
    "guest", "buyer", "seller", "driver", "guardian", "mother", "father", "spouse",
}  # fmt: skip


def _name_tokens(column: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def column_hints_name(column: str) -> bool:
    """Whether a column's name says it holds people's names (``name``, ``first_name``,
    ``Surname``, ``customerName``; not ``file_name`` or ``plan_name``)."""
    tokens = _name_tokens(column)
    joined = {a + b for a, b in zip(tokens, tokens[1:], strict=False)} | set(tokens)
    if joined & _NAME_WORDS or tokens == ["name"]:
        return True
    return any(
        tokens[i] == "name" and tokens[i - 1] in _PERSON_WORDS for i in range(1, len(tokens))
    )


def _letters(word: str) -> str:
    return word.replace("-", "").replace("'", "").replace(".", "")


def _name_like(value: str) -> bool:
    words = value.split()
    return 1 <= len(words) <= 4 and all(_letters(w).isalpha() for w in words)


def _capitalised_words(value: str) -> bool:
    words = value.split()
    return 2 <= len(words) <= 3 and all(
        w[0].isupper() and _letters(w).isalpha() and not _letters(w)[1:].isupper() for w in words
    )


def name_matches(column: str, values: list[str], min_share: float) -> tuple[list[str], float, str]:
    """The values that look like people's names, the share needed for a finding, and why.

    With a hinting column name (:func:`column_hints_name`) values of 1-4 words of letters
    count and ``min_share`` applies; without one, only 2-3 capitalised words count, at least
    80% are needed, and they must be varied (10 distinct, half of them unique), else nothing
    matches.
    """
    if column_hints_name(column):
        matched = [v for v in values if _name_like(v)]
        return matched, min_share, "the column name suggests people's names"
    matched = [v for v in values if _capitalised_words(v)]
    distinct = len(set(matched))
    if distinct < 10 or distinct < 0.5 * len(matched):
        return [], 1.0, ""
    # Product names and titles are capitalised words too: most values must also start with
    # a common given name.
    given = sum(v.split()[0].split("-")[0].lower() in FIRST_NAMES for v in matched)
    if given < 0.5 * len(matched):
        return [], 1.0, ""
    return matched, max(min_share, 0.8), "varied values of 2-3 capitalised words (given names)"


FIRST_NAMES = frozenset(
    """
    aaron abdul adam ahmed aisha alan albert alejandro alex alexander alice alicia ali amanda
    amir amy ana andrea andrew angela anna anne anthony antonio arjun barbara ben benjamin
    betty bob brandon brian carlos carol caroline catherine charles charlotte chen chris
    christian christina christopher claire daniel david deborah dennis diana diego dmitri
    donald donna dorothy edward elena elizabeth emily emma eric fatima francesca francisco
    frank gabriel gary george grace hannah hans harry helen henry hiroshi hugo ian ibrahim
    irina isabel isabella jack jacob james jane janet jason javier jean jennifer jessica jia
    joan joe john jonathan jorge jose joseph joshua juan julia julie karen kate katherine
    kenji kevin kim laura lauren lei li linda lisa lucas lucia luis maria mark martha martin
    mary matthew mei michael michelle mohammed muhammad nancy natalia nicholas nicole noah
    olga olivia omar oscar pablo patricia paul pedro peter priya rachel rahul raj rebecca
    richard robert ronald rosa ryan samuel sandra sara sarah scott sergei sharon sofia sophia
    stephanie stephen steven susan thomas timothy tom victoria wei william yuki yusuf zhang
    """.split()
)
