"""The PII scan on hand-made tables: each kind is found in its column with masked examples,
look-alikes are not, sampling and thresholds apply, and the logging hook blocks or warns."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelkeep.audit import PiiReport, pii_detect, scan_pii
from modelkeep.audit.pii import check_before_logging, register_national_id
from modelkeep.audit.pii_detect import column_hints_name, luhn_valid
from modelkeep.exceptions import InvalidInputError

N = 40
FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Anne-Marie",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "O'Brien",
    "McDonald",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
]


def _kinds(report: PiiReport) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.column, set()).add(finding.kind)
    return found


def _people(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(n)]


def test_each_kind_is_found_in_its_column() -> None:
    frame = pd.DataFrame(
        {
            "contact": [f"user{i}@example.com" for i in range(N)],
            "tel": ["+14155552671", "(415) 555-2671", "020 7946 0958", "+44 20 7946 0958"]
            * (N // 4),
            "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009"] * 13
            + ["6011000000000004"],
            "card_int": [4111111111111111, 5500000000000004] * (N // 2),
            "ssn": [f"123-45-{6700 + i}" for i in range(N)],
            "nino": ["AB 12 34 56 C", "JG103759A"] * (N // 2),
            "ip": ["192.168.1.10", "2001:db8::1", "10.0.0.254", "::1"] * (N // 4),
            "customer": _people(N),
            "first_name": ["james", "Mary", "anne-marie", "Jo"] * (N // 4),
        }
    )
    assert _kinds(scan_pii(frame)) == {
        "contact": {"email"},
        "tel": {"phone"},
        "card": {"card_number"},
        "card_int": {"card_number"},
        "ssn": {"national_id"},
        "nino": {"national_id"},
        "ip": {"ip_address"},
        "customer": {"person_name"},
        "first_name": {"person_name"},
    }


def test_look_alikes_are_not_personal_data() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "plan": ["Gold Plus", "Silver Basic", "Bronze Lite", "Gold Plus"] * (N // 4),
            "plan_name": ["Gold Plus", "Silver Basic"] * (N // 2),
            "file_name": [f"report_{i}.csv" for i in range(N)],
            "account_id": rng.integers(10**15, 10**16, N),  # 16 digits, mostly failing Luhn
            "ordered": [f"2024-01-{1 + i % 28:02d}" for i in range(N)],
            "version": [f"1.2.{i}" for i in range(N)],
            "zip": [f"{10000 + i}" for i in range(N)],
            "amount": rng.normal(size=N),
            "flag": [True, False] * (N // 2),
            "city": ["New York", "San Francisco", "Los Angeles", "Las Vegas"] * (N // 4),
            "sku": [f"SKU-{i:06d}" for i in range(N)],
        }
    )
    report = scan_pii(frame)
    assert report.findings == ()
    assert report.found is False
    assert "amount" not in report.columns_scanned and "flag" not in report.columns_scanned


def test_the_plan_column_is_a_name_only_when_its_name_says_so() -> None:
    values = ["Gold Plus", "Silver Basic", "Bronze Lite", "Gold Plus"] * (N // 4)
    assert scan_pii(pd.DataFrame({"plan": values})).found is False
    [finding] = scan_pii(pd.DataFrame({"customer_name": values})).findings
    assert (finding.kind, finding.detail) == (
        "person_name",
        "the column name suggests people's names",
    )


def test_varied_capitalised_words_need_no_hinting_name() -> None:
    [finding] = scan_pii(pd.DataFrame({"col_7": _people(60)})).findings
    assert finding.kind == "person_name"
    assert finding.detail == "varied values of 2-3 capitalised words (given names)"
    assert all(word.endswith("***") for e in finding.examples for word in e.split())


@pytest.mark.parametrize(
    ("column", "hint"),
    [
        ("name", True),
        ("first_name", True),
        ("Surname", True),
        ("customerName", True),
        ("FULL NAME", True),
        ("patient_name", True),
        ("file_name", False),
        ("plan_name", False),
        ("hostname", False),
        ("name_id", False),
        ("plan", False),
    ],
)
def test_column_names_that_hint_at_people(column: str, hint: bool) -> None:
    assert column_hints_name(column) is hint


def test_share_counts_and_examples_are_masked() -> None:
    values = ["jane.doe@example.com", "no email here", "write to bob@corp.io today", None, ""]
    [finding] = scan_pii(pd.DataFrame({"notes": values})).findings
    assert (finding.kind, finding.matches, finding.sampled) == ("email", 2, 3)
    assert finding.share == pytest.approx(2 / 3)
    assert finding.examples == ("j***@example.com", "b***@corp.io")


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("4111 1111 1111 1111", "card_number", "**** **** **** 1111"),
        ("+1 415-555-2671", "phone", "+* ***-***-**71"),
        ("123-45-6789", "national_id", "***-**-**89"),
        ("192.168.1.10", "ip_address", "192.*.*.*"),
        ("2001:db8::1", "ip_address", "2001:*"),
    ],
)
def test_examples_never_show_the_value(value: str, kind: str, masked: str) -> None:
    [finding] = scan_pii(pd.DataFrame({"c": [value] * 3})).findings
    assert (finding.kind, finding.examples) == (kind, (masked,))


def test_a_minority_of_matches_below_min_share_is_not_reported() -> None:
    values = ["a@example.com"] + [f"text {i}" for i in range(9)]
    assert scan_pii(pd.DataFrame({"c": values})).found is False  # 10% < 20%
    assert scan_pii(pd.DataFrame({"c": values}), min_share=0.1).found is True


def test_long_tables_are_sampled() -> None:
    frame = pd.DataFrame({"contact": [f"u{i}@example.com" for i in range(5000)]})
    report = scan_pii(frame, sample_rows=200)
    assert (report.rows, report.sampled_rows) == (5000, 200)
    assert report.findings[0].sampled == 200


def test_files_and_arrays_are_scanned(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    pd.DataFrame({"email": ["a@example.com", "b@example.org"], "n": [1, 2]}).to_csv(path)
    assert scan_pii(path).columns == ["email"]
    array = np.array([["a@example.com", "x"], ["b@example.org", "y"]], dtype=object)
    assert scan_pii(array).columns == ["0"]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_national_id_patterns_can_be_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii_detect, "NATIONAL_ID_PATTERNS", list(pii_detect.NATIONAL_ID_PATTERNS))
    frame = pd.DataFrame({"bsn": ["1234.56.782", "9876.54.321"]})
    assert scan_pii(frame).found is False
    register_national_id("nl_bsn_dotted", r"\d{4}\.\d{2}\.\d{3}")
    [finding] = scan_pii(frame).findings
    assert (finding.kind, finding.detail) == ("national_id", "nl_bsn_dotted")
    with pytest.raises(InvalidInputError):
        register_national_id("broken", "(")


@pytest.mark.parametrize(
    ("options", "field"), [({"sample_rows": 0}, "sample_rows"), ({"min_share": 0.0}, "min_share")]
)
def test_bad_options_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        scan_pii(pd.DataFrame({"a": ["x"]}), **options)
    assert caught.value.field == field


def test_the_logging_hook_blocks_naming_the_columns() -> None:
    frame = pd.DataFrame({"mail": ["a@example.com"] * 3, "ip": ["10.0.0.1"] * 3, "x": [1, 2, 3]})
    with pytest.raises(InvalidInputError) as caught:
        check_before_logging(frame, block=True)
    assert caught.value.field == "data"
    assert "'mail'" in caught.value.message and "'ip'" in caught.value.message
    assert "mail, ip" in caught.value.message


def test_the_logging_hook_warns_when_not_blocking(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"mail": ["a@example.com"] * 3})
    with caplog.at_level(logging.WARNING, logger="modelkeep.audit"):
        report = check_before_logging(frame, block=False)
    assert report.columns == ["mail"]
    assert "email in 'mail'" in caplog.text
    assert check_before_logging(pd.DataFrame({"x": ["a"]}), block=True).found is False


def test_report_to_dict_is_json_ready() -> None:
    report = scan_pii(pd.DataFrame({"mail": ["a@example.com"]}))
    data = report.to_dict()
    assert data["found"] is True
    assert data["findings"][0]["examples"] == ["a***@example.com"]
