"""Validation rules: suggested from a profile, YAML round trip, validation reports, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from data_support import clean_frame
from rich.console import Console
from rich.table import Table

from modelkeep.data.profile import profile
from modelkeep.data.rules import Rule, RuleSet, suggest_rules, validate
from modelkeep.exceptions import InvalidInputError


def _table(n: int = 40) -> pd.DataFrame:
    """Every column kind a rule can be suggested for, with a little missing data."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "amount": rng.normal(50.0, 5.0, size=n),
            "visits": rng.integers(0, 9, size=n),
            "city": rng.choice(["oslo", "rome", "lima"], size=n),
            "tier": rng.choice(["gold", "silver", None], size=n),
            "member": rng.random(n) > 0.5,
            "since": pd.date_range("2024-01-01", periods=n, freq="D"),
            "note": [f"customer {i} wrote a rather long free-text note" for i in range(n)],
        }
    )
    frame.loc[[2, 7], "amount"] = np.nan
    return frame


def _by_column(rules: RuleSet) -> dict[str, dict[str, Rule]]:
    out: dict[str, dict[str, Rule]] = {}
    for rule in rules:
        out.setdefault(rule.column, {})[rule.kind] = rule
    return out


def _failures(report: Any) -> dict[tuple[str, str], Any]:
    return {(f.rule.column, f.rule.kind): f for f in report.failures}


# -- suggestions ---------------------------------------------------------------------------


def test_suggested_rules_follow_the_profile() -> None:
    frame = _table()
    rules = _by_column(suggest_rules(profile(frame)))
    assert set(rules["customer_id"]) == {"dtype", "not_null", "unique", "range"}
    assert rules["customer_id"]["dtype"].dtype == "integer"
    assert (rules["customer_id"]["range"].min, rules["customer_id"]["range"].max) == (
        1000.0,
        1039.0,
    )
    assert set(rules["amount"]) == {"dtype", "range"}  # values are missing: no not_null
    assert rules["amount"]["dtype"].dtype == "numeric"
    assert rules["city"]["allowed"].values == ("lima", "oslo", "rome")
    assert set(rules["tier"]) == {"dtype", "allowed"}
    assert rules["member"]["dtype"].dtype == "boolean"
    assert rules["since"]["range"].min == "2024-01-01T00:00:00"
    assert set(rules["note"]) == {"dtype", "not_null"}  # free text: no allowed list
    assert "unique" not in rules["visits"]


@pytest.mark.parametrize(
    "frame",
    [_table(), clean_frame(200), _table().astype({"visits": object, "member": object})],
    ids=["mixed", "clean", "object-columns"],
)
def test_suggested_rules_pass_on_the_data_they_came_from(frame: pd.DataFrame) -> None:
    report = validate(frame, suggest_rules(profile(frame)))
    assert report.passed, report.to_dict()
    assert report.failures == [] and report.n_rows == len(frame)


def test_suggested_rules_pass_on_the_csv_they_came_from(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    _table().to_csv(path, index=False)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(suggest_rules(profile(path)).to_yaml(), encoding="utf-8")
    assert validate(path, rules_file).passed


def test_a_column_with_infinities_gets_no_range_and_its_rules_pass() -> None:
    frame = pd.DataFrame({"v": [1.0, np.inf, 2.0, np.nan], "w": [1.0, 2.0, 3.0, 4.0]})
    rules = suggest_rules(profile(frame))
    assert [(r.column, r.kind) for r in rules if r.kind == "range"] == [("w", "range")]
    assert validate(frame, rules).passed


def test_many_categories_get_no_allowed_list() -> None:
    frame = pd.DataFrame({"code": [f"c{i % 12}" for i in range(48)]})
    assert [r.kind for r in suggest_rules(profile(frame))] == ["dtype", "not_null"]


# -- validation ----------------------------------------------------------------------------


def _violated(frame: pd.DataFrame) -> pd.DataFrame:
    bad = frame.copy()
    bad["customer_id"] = bad["customer_id"].astype(object)
    bad.loc[[4, 9], "customer_id"] = [1000, 1000]  # repeats row 0's id
    bad.loc[12, "customer_id"] = "x-12"  # not an integer (and outside no range)
    bad.loc[[3, 5, 8], "amount"] = [1e6, -1e6, np.inf]
    bad.loc[6, "city"] = "paris"
    bad.loc[[1, 11], "city"] = None
    bad["member"] = bad["member"].astype(object)
    bad.loc[10, "member"] = "maybe"
    bad.loc[13, "since"] = pd.Timestamp("2031-05-05")
    return bad


def test_injected_violations_fail_with_counts_and_example_rows() -> None:
    frame = _table()
    report = validate(_violated(frame), suggest_rules(profile(frame)))
    assert not report.passed
    failed = _failures(report)
    assert sorted(failed) == sorted(
        [
            ("customer_id", "dtype"),
            ("customer_id", "unique"),
            ("amount", "range"),
            ("city", "not_null"),
            ("city", "allowed"),
            ("member", "dtype"),
            ("since", "range"),
        ]
    )
    unique = failed[("customer_id", "unique")]
    assert unique.failed_count == 3
    assert [ex["row"] for ex in unique.examples] == [0, 4, 9]
    assert [failed[k].failed_count for k in [("amount", "range"), ("city", "not_null")]] == [3, 2]
    dtype = failed[("customer_id", "dtype")]
    assert (dtype.failed_count, dtype.examples[0]["values"]["customer_id"]) == (1, "x-12")
    allowed = failed[("city", "allowed")]
    assert allowed.examples == [{"row": 6, "values": allowed.examples[0]["values"]}]
    assert allowed.examples[0]["values"]["city"] == "paris"
    assert "1 row" in allowed.message and "city" in allowed.message
    assert failed[("since", "range")].examples[0]["values"]["since"] == "2031-05-05T00:00:00"


def test_examples_are_capped_at_five_rows() -> None:
    report = validate(pd.DataFrame({"a": [None] * 9}), "columns: {a: {not_null: true}}")
    failure = report.failures[0]
    assert failure.failed_count == 9 and len(failure.examples) == 5


def test_a_missing_column_fails_every_row() -> None:
    report = validate(pd.DataFrame({"a": [1, 2]}), "columns: {b: {not_null: true}}")
    assert report.failures[0].failed_count == 2
    assert "missing" in report.failures[0].message


@pytest.mark.parametrize(
    ("values", "dtype", "bad_rows"),
    [
        (["1", "2.5", "abc", None], "numeric", [2]),
        (["1", "2.5", "abc", None], "integer", [1, 2]),
        ([1.0, 2.0, 2.5, np.nan], "integer", [2]),
        ([True, "false", "yes", None], "boolean", [2]),
        (["2024-01-01", "soon", None, "2024-02-30"], "datetime", [1, 3]),
        ([1, 2, 3, 4], "string", [0, 1, 2, 3]),
        (["a", 1, None, "b"], "string", []),
        ([1, 2, 3, None], "boolean", [0, 1, 2]),
    ],
)
def test_dtype_rules_judge_each_value(values: list[Any], dtype: str, bad_rows: list[int]) -> None:
    frame = pd.DataFrame({"v": pd.Series(values, dtype=object if dtype != "string" else None)})
    report = validate(frame, RuleSet((Rule("v", "dtype", dtype=dtype),)))
    failed_rows = [ex["row"] for f in report.failures for ex in f.examples]
    assert failed_rows == bad_rows


def test_open_ended_ranges_and_allowed_numbers() -> None:
    frame = pd.DataFrame({"n": [-1, 0, 5, 11], "code": [1, 2, 3, 2]})
    text = "columns:\n  n: {range: {min: 0}}\n  code: {allowed: [1, 2]}\n"
    failed = _failures(validate(frame, text))
    assert [ex["row"] for ex in failed[("n", "range")].examples] == [0]
    assert [ex["row"] for ex in failed[("code", "allowed")].examples] == [2]


def test_a_date_written_without_quotes_bounds_a_datetime_column() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2023-12-31", "2024-06-01", None])})
    report = validate(frame, "columns:\n  when: {range: {min: 2024-01-01}}\n")
    assert [ex["row"] for ex in report.failures[0].examples] == [0]


def test_the_report_is_json_and_a_rich_table() -> None:
    frame = _table()
    report = validate(_violated(frame), suggest_rules(profile(frame)))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is False and data["rules_checked"] == report.rules_checked
    assert {"column", "kind", "rule", "failed_count", "message", "examples"} <= set(
        data["failures"][0]
    )
    table = report.render()
    assert isinstance(table, Table) and table.row_count == len(report.failures)
    console = Console(width=200, record=True)
    console.print(table)
    assert "paris" in console.export_text()


# -- YAML ----------------------------------------------------------------------------------


def test_rules_survive_a_yaml_round_trip(tmp_path: Path) -> None:
    rules = suggest_rules(profile(_table()))
    text = rules.to_yaml()
    assert text.startswith("# modelkeep validation rules")
    assert RuleSet.from_yaml(text) == rules
    path = tmp_path / "rules.yml"
    path.write_text(text, encoding="utf-8")
    assert RuleSet.from_yaml(path) == rules
    assert RuleSet.from_yaml(str(path)) == rules


def test_yaml_keeps_values_that_look_like_other_types_as_text() -> None:
    rules = RuleSet(
        (
            Rule("flag", "allowed", values=("yes", "no", "1.0", "null")),
            Rule("n", "range", min=0.0, max=2.5),
        )
    )
    assert RuleSet.from_yaml(rules.to_yaml()) == rules
    assert "min: 0\n" in rules.to_yaml()


def test_a_missing_rules_file_is_reported() -> None:
    with pytest.raises(InvalidInputError) as caught:
        RuleSet.from_yaml("nowhere/rules.yaml")
    assert caught.value.field == "rules"


def test_yaml_that_does_not_parse_names_the_line() -> None:
    with pytest.raises(InvalidInputError) as caught:
        RuleSet.from_yaml("columns:\n  a: {not_null: true\n  b: [\n")
    assert caught.value.field == "rules"
    assert "line" in caught.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "rules"),
        ("- a\n- b\n", "rules"),
        ("colums: {}\n", "colums"),
        ("version: 2\ncolumns: {}\n", "version"),
        ("columns: [a, b]\n", "columns"),
        ("columns: {a: true}\n", "columns.a"),
        ("columns: {a: {notnull: true}}\n", "columns.a.notnull"),
        ("columns: {a: {not_null: 'yes please'}}\n", "columns.a.not_null"),
        ("columns: {a: {unique: 1}}\n", "columns.a.unique"),
        ("columns: {a: {dtype: float32}}\n", "columns.a.dtype"),
        ("columns: {a: {range: {min: 1, maximum: 2}}}\n", "columns.a.range.maximum"),
        ("columns: {a: {range: {min: 5, max: 1}}}\n", "columns.a.range"),
        ("columns: {a: {range: {}}}\n", "columns.a.range"),
        ("columns: {a: {range: [1, 2]}}\n", "columns.a.range"),
        ("columns: {a: {range: {min: lots}}}\n", "columns.a.range.min"),
        ("columns: {a: {range: {min: true}}}\n", "columns.a.range.min"),
        ("columns: {a: {range: {min: 1, max: '2024-01-01'}}}\n", "columns.a.range"),
        ("columns: {a: {allowed: []}}\n", "columns.a.allowed"),
        ("columns: {a: {allowed: [x, [y]]}}\n", "columns.a.allowed"),
    ],
)
def test_a_malformed_rules_file_names_the_key(text: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RuleSet.from_yaml(text)
    assert caught.value.field == field
    assert field in caught.value.message


def test_false_and_null_settings_are_no_rule() -> None:
    text = "columns:\n  a: {not_null: false, unique: false, range: null}\n  b:\n"
    assert len(RuleSet.from_yaml(text)) == 0
