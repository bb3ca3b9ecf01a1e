"""Tests for the run-search filter language: parsing, type rules, errors, order-by, rendering."""

from __future__ import annotations

import dataclasses
import random

import pytest

from modelkeep.exceptions import InvalidFilterError, InvalidInputError
from modelkeep.store.search_syntax import (
    ATTRIBUTE_NAMES,
    BoolOp,
    Comparison,
    Identifier,
    Node,
    OrderKey,
    Value,
    filter_to_string,
    parse_filter,
    parse_order_by,
    render_identifier,
)


def metric(key: str) -> Identifier:
    return Identifier("metric", key)


def param(key: str) -> Identifier:
    return Identifier("param", key)


def tag(key: str) -> Identifier:
    return Identifier("tag", key)


def attr(key: str) -> Identifier:
    return Identifier("attribute", key)


def parse_error(text: str) -> InvalidFilterError:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    return info.value


def order_error(clauses: list[str]) -> InvalidFilterError:
    with pytest.raises(InvalidFilterError) as info:
        parse_order_by(clauses)
    return info.value


# ---- empty input ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_blank_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


# ---- comparisons ----------------------------------------------------------------------------


def test_metric_comparison() -> None:
    assert parse_filter("metrics.acc > 0.9") == Comparison(metric("acc"), ">", 0.9)


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_symbol_operators_are_normalised(written: str, normalised: str) -> None:
    assert parse_filter(f"metrics.loss {written} 1") == Comparison(metric("loss"), normalised, 1)


@pytest.mark.parametrize(("written", "normalised"), [("LIKE", "LIKE"), ("ilike", "ILIKE")])
def test_like_operators_are_case_insensitive(written: str, normalised: str) -> None:
    node = parse_filter(f"params.model {written} 'rf%'")
    assert node == Comparison(param("model"), normalised, "rf%")


def test_in_list() -> None:
    node = parse_filter("tags.team IN ('a', \"b\", 'c')")
    assert node == Comparison(tag("team"), "IN", ("a", "b", "c"))


def test_not_in_list_of_numbers() -> None:
    node = parse_filter("metrics.epoch not in (1, 2.5, -3)")
    assert node == Comparison(metric("epoch"), "NOT IN", (1, 2.5, -3))


def test_single_value_in_list_is_a_tuple() -> None:
    assert parse_filter("params.a IN ('x')") == Comparison(param("a"), "IN", ("x",))


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("metrics.acc IS NULL", "IS NULL"),
        ("metrics.acc is not null", "IS NOT NULL"),
        ("attributes.end_time Is Null", "IS NULL"),
    ],
)
def test_null_tests(text: str, op: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.op, node.value) == (op, None)


def test_no_whitespace_needed_between_tokens() -> None:
    node = parse_filter("metrics.a>-1and(params.b='x')")
    expected = BoolOp("and", (Comparison(metric("a"), ">", -1), Comparison(param("b"), "=", "x")))
    assert node == expected


def test_surrounding_and_inner_newlines_are_whitespace() -> None:
    node = parse_filter("\n  metrics.a > 1\n\tor\r\n metrics.b > 2 \n")
    assert node == BoolOp("or", (Comparison(metric("a"), ">", 1), Comparison(metric("b"), ">", 2)))


# ---- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("metrics.k = 1", "metric"),
        ("metric.k = 1", "metric"),
        ("METRICS.k = 1", "metric"),
        ("params.k = 'v'", "param"),
        ("param.k = 'v'", "param"),
        ("tags.k = 'v'", "tag"),
        ("Tag.k = 'v'", "tag"),
    ],
)
def test_prefixes_plural_singular_and_any_case(text: str, kind: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.ident.kind, node.ident.key) == (kind, "k")


@pytest.mark.parametrize("prefix", ["attributes", "attribute", "attr", "ATTR"])
def test_attribute_prefixes(prefix: str) -> None:
    assert parse_filter(f"{prefix}.run_name = 'x'") == Comparison(attr("run_name"), "=", "x")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [*((name, name) for name in ATTRIBUTE_NAMES), ("name", "run_name"), ("id", "run_id")],
)
def test_attribute_names_and_aliases(written: str, canonical: str) -> None:
    node = parse_filter(f"attributes.{written} IS NOT NULL")
    assert isinstance(node, Comparison)
    assert node.ident == attr(canonical)


def test_attribute_name_is_case_insensitive() -> None:
    node = parse_filter("attributes.Start_Time > 5")
    assert node == Comparison(attr("start_time"), ">", 5)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.val.loss < 1", "val.loss"),
        ("metrics.train/loss-v2:x < 1", "train/loss-v2:x"),
        ("metrics.2nd < 1", "2nd"),
        ("metrics.точность < 1", "точность"),
        ('metrics."my key" < 1', "my key"),
        ("metrics.`a b.c` < 1", "a b.c"),
        ('metrics."say ""hi""" < 1', 'say "hi"'),
        ('metrics."back\\"slash" < 1', 'back"slash'),
        ("metrics.`it``s` < 1", "it`s"),
    ],
)
def test_metric_keys(text: str, key: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.ident == metric(key)


def test_param_key_keeps_its_case() -> None:
    node = parse_filter("params.LearningRate = '0.1'")
    assert isinstance(node, Comparison)
    assert node.ident.key == "LearningRate"


# ---- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'a\\\\b'", "a\\b"),
        ("'line\\nbreak\\ttab'", "line\nbreak\ttab"),
        ("''", ""),
        ("'with spaces and (parens) and, commas'", "with spaces and (parens) and, commas"),
        ("'and or not'", "and or not"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert parse_filter(f"tags.t = {literal}") == Comparison(tag("t"), "=", value)


def test_unknown_escape_keeps_backslash_for_like_patterns() -> None:
    node = parse_filter("params.p LIKE '100\\%\\_x'")
    assert node == Comparison(param("p"), "LIKE", "100\\%\\_x")


@pytest.mark.parametrize(
    ("literal", "value", "value_type"),
    [
        ("7", 7, int),
        ("-7", -7, int),
        ("+7", 7, int),
        ("0.5", 0.5, float),
        (".5", 0.5, float),
        ("-.5", -0.5, float),
        ("5.", 5.0, float),
        ("1e3", 1000.0, float),
        ("2.5E-3", 0.0025, float),
        ("12345678901234567890", 12345678901234567890, int),
    ],
)
def test_number_literals(literal: str, value: Value, value_type: type) -> None:
    node = parse_filter(f"metrics.m = {literal}")
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is value_type


@pytest.mark.parametrize("written", ["finished", "Finished", "FINISHED"])
def test_status_is_normalised_to_upper_case(written: str) -> None:
    node = parse_filter(f"attributes.status = '{written}'")
    assert node == Comparison(attr("status"), "=", "FINISHED")


def test_status_in_list_is_normalised() -> None:
    node = parse_filter("attributes.status IN ('running', 'killed')")
    assert node == Comparison(attr("status"), "IN", ("RUNNING", "KILLED"))


def test_status_like_takes_a_pattern() -> None:
    node = parse_filter("attributes.status LIKE 'FIN%'")
    assert node == Comparison(attr("status"), "LIKE", "FIN%")


def test_time_attributes_take_integers() -> None:
    node = parse_filter("attributes.start_time >= 1700000000000")
    assert node == Comparison(attr("start_time"), ">=", 1700000000000)


@pytest.mark.parametrize("name", ["run_name", "run_id", "experiment_id"])
def test_string_attributes_take_strings(name: str) -> None:
    assert parse_filter(f"attributes.{name} != '1'") == Comparison(attr(name), "!=", "1")


def test_params_allow_ordering_operators_on_strings() -> None:
    assert parse_filter("params.opt >= 'b'") == Comparison(param("opt"), ">=", "b")


# ---- boolean structure ----------------------------------------------------------------------

A = "metrics.a > 1"
B = "metrics.b > 2"
C = "metrics.c > 3"
CA = Comparison(metric("a"), ">", 1)
CB = Comparison(metric("b"), ">", 2)
CC = Comparison(metric("c"), ">", 3)


def test_and_chain_is_flattened() -> None:
    assert parse_filter(f"{A} and {B} AND {C}") == BoolOp("and", (CA, CB, CC))


def test_or_chain_is_flattened() -> None:
    assert parse_filter(f"{A} or {B} Or {C}") == BoolOp("or", (CA, CB, CC))


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter(f"{A} or {B} and {C}") == BoolOp("or", (CA, BoolOp("and", (CB, CC))))


def test_and_binds_tighter_than_or_on_the_left() -> None:
    assert parse_filter(f"{A} and {B} or {C}") == BoolOp("or", (BoolOp("and", (CA, CB)), CC))


def test_parentheses_override_precedence() -> None:
    assert parse_filter(f"({A} or {B}) and {C}") == BoolOp("and", (BoolOp("or", (CA, CB)), CC))


def test_parenthesised_same_operator_is_flattened() -> None:
    assert parse_filter(f"{A} and ({B} and {C})") == BoolOp("and", (CA, CB, CC))


def test_redundant_parentheses_are_dropped() -> None:
    assert parse_filter(f"((({A})))") == CA


def test_nested_groups() -> None:
    node = parse_filter(f"({A} and ({B} or {C})) or ({A} and {C})")
    expected = BoolOp("or", (BoolOp("and", (CA, BoolOp("or", (CB, CC)))), BoolOp("and", (CA, CC))))
    assert node == expected


# ---- positions and node identity ------------------------------------------------------------


def test_positions_point_at_each_comparison() -> None:
    node = parse_filter("metrics.a > 1 and  params.b = 'x'")
    assert isinstance(node, BoolOp)
    first, second = node.operands
    assert isinstance(first, Comparison) and isinstance(second, Comparison)
    assert (first.position, first.ident.position) == (0, 0)
    assert (second.position, second.ident.position) == (19, 19)


def test_positions_do_not_take_part_in_equality() -> None:
    assert parse_filter("  metrics.a > 1") == parse_filter("metrics.a > 1")


def test_nodes_are_frozen() -> None:
    node = parse_filter(A)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.op = "<"  # type: ignore[misc, union-attr]


def test_nodes_are_hashable() -> None:
    assert len({parse_filter(f"{A} or {B}"), parse_filter(f" {A} or {B}")}) == 1


# ---- errors ---------------------------------------------------------------------------------


def test_error_types_and_field() -> None:
    error = parse_error("metricz.acc > 1")
    assert isinstance(error, InvalidInputError)
    assert error.field == "filter"


def test_unknown_prefix() -> None:
    error = parse_error("metricz.acc > 1")
    assert error.position == 0
    assert str(error).startswith(
        "Unexpected token 'metricz.acc' at position 0: "
        "expected metrics.*, params.*, tags.* or attributes.*"
    )
    assert "did you mean metrics.acc?" in str(error)


def test_unknown_prefix_later_in_the_filter() -> None:
    error = parse_error("metrics.a > 1 and foo.bar = 'x'")
    assert error.position == 18
    assert "'foo.bar' at position 18" in str(error)


def test_bare_attribute_name_suggests_the_prefix() -> None:
    error = parse_error("start_time > 5")
    assert error.position == 0
    assert "'start_time'" in str(error)
    assert "did you mean attributes.start_time?" in str(error)


def test_bare_alias_suggests_the_canonical_attribute() -> None:
    assert "did you mean attributes.run_name?" in str(parse_error("name = 'x'"))


def test_prefix_without_key() -> None:
    error = parse_error("params. = 'x'")
    assert (error.position, "'params.'" in str(error)) == (0, True)


def test_empty_quoted_key() -> None:
    assert parse_error("tags.\"\" = 'x'").position == 0


def test_unknown_attribute() -> None:
    error = parse_error("metrics.a > 1 and attributes.colour = 'red'")
    assert error.position == 18
    assert "Unknown attribute 'attributes.colour' at position 18" in str(error)
    assert "run_name" in str(error)


def test_missing_operator() -> None:
    error = parse_error("metrics.acc 0.9")
    assert error.position == 12
    assert "Unexpected token '0.9' at position 12: expected an operator" in str(error)


def test_missing_operator_at_end() -> None:
    error = parse_error("metrics.acc")
    assert error.position == 11
    assert "end of input at position 11" in str(error)


def test_missing_value_at_end() -> None:
    error = parse_error("metrics.acc >")
    assert error.position == 13
    assert "expected a number" in str(error)


def test_missing_value_before_keyword() -> None:
    error = parse_error("params.a = and params.b = 'x'")
    assert error.position == 11
    assert "Unexpected token 'and' at position 11: expected a quoted string" in str(error)


def test_missing_comparison_after_and() -> None:
    error = parse_error("metrics.a > 1 and")
    assert error.position == 17
    assert "end of input" in str(error)


def test_leading_and() -> None:
    assert parse_error("and metrics.a > 1").position == 0


def test_unterminated_single_quoted_string() -> None:
    error = parse_error("params.a = 'abc")
    assert error.position == 11
    assert 'Unterminated string "\'abc" at position 11' in str(error)


def test_unterminated_double_quoted_string() -> None:
    assert parse_error('tags.a = "abc\\"').position == 9


def test_unterminated_quoted_key() -> None:
    error = parse_error("metrics.`my key > 1")
    assert error.position == 8
    assert "Unterminated string" in str(error)


def test_unclosed_parenthesis() -> None:
    error = parse_error("metrics.a > 1 and (metrics.b > 2 or metrics.c > 3")
    assert error.position == 18
    assert "Unclosed '(' at position 18" in str(error)


def test_extra_closing_parenthesis() -> None:
    error = parse_error("(metrics.a > 1))")
    assert error.position == 15
    assert "Unexpected token ')' at position 15" in str(error)


def test_empty_parentheses() -> None:
    assert parse_error("()").position == 1


def test_trailing_garbage() -> None:
    error = parse_error("metrics.a > 1 extra")
    assert error.position == 14
    assert "Unexpected token 'extra' at position 14" in str(error)


def test_two_values() -> None:
    assert parse_error("metrics.a > 1 2").position == 14


def test_stray_character() -> None:
    error = parse_error("metrics.a > 1 & metrics.b > 2")
    assert error.position == 14
    assert "Unexpected character '&' at position 14" in str(error)


def test_backtick_value_is_not_a_string() -> None:
    assert parse_error("tags.a = `x`").position == 9


def test_param_compared_to_bare_number_asks_for_quotes() -> None:
    error = parse_error("params.lr = 0.1")
    assert error.position == 12
    assert "Unexpected token '0.1' at position 12" in str(error)
    assert "quote the value: '0.1'" in str(error)


def test_tag_compared_to_number() -> None:
    assert parse_error("tags.n != 3").position == 10


def test_bare_word_value_asks_for_quotes() -> None:
    error = parse_error("tags.team = alpha")
    assert (error.position, "expected a quoted string" in str(error)) == (12, True)


def test_metric_compared_to_string() -> None:
    error = parse_error("metrics.acc > '0.9'")
    assert error.position == 14
    assert "metrics compare to numbers" in str(error)


def test_like_on_metric() -> None:
    error = parse_error("metrics.acc LIKE '0.9%'")
    assert error.position == 12
    assert "Operator 'LIKE' at position 12" in str(error)


def test_ilike_on_time_attribute() -> None:
    assert parse_error("attributes.end_time ILIKE '1%'").position == 20


def test_ordering_operator_on_status() -> None:
    assert parse_error("attributes.status > 'A'").position == 18


def test_time_attribute_with_float() -> None:
    error = parse_error("attributes.start_time > 1.5")
    assert (error.position, "integers" in str(error)) == (24, True)


def test_time_attribute_with_string() -> None:
    assert parse_error("attributes.end_time < '5'").position == 22


def test_status_with_number() -> None:
    assert parse_error("attributes.status = 1").position == 20


def test_unknown_status() -> None:
    error = parse_error("attributes.status = 'done'")
    assert error.position == 20
    assert "Unknown run status \"'done'\"" in str(error)
    assert "FINISHED" in str(error)


def test_string_attribute_with_number() -> None:
    assert parse_error("attributes.run_name = 5").position == 22


def test_equals_null_suggests_is_null() -> None:
    error = parse_error("tags.a = NULL")
    assert (error.position, "IS NULL" in str(error)) == (9, True)


def test_empty_in_list() -> None:
    error = parse_error("tags.a IN ()")
    assert error.position == 11
    assert "at least one value" in str(error)


def test_in_list_with_wrong_type_points_at_the_value() -> None:
    error = parse_error("tags.a IN ('x', 2)")
    assert error.position == 16


def test_in_list_with_wrong_metric_type() -> None:
    assert parse_error("metrics.a NOT IN (1, 'x')").position == 21


def test_in_without_parenthesis() -> None:
    assert parse_error("tags.a IN 'x'").position == 10


def test_in_list_trailing_comma() -> None:
    assert parse_error("tags.a IN ('x',)").position == 15


def test_in_list_missing_comma() -> None:
    assert parse_error("tags.a IN ('x' 'y')").position == 15


def test_unclosed_in_list() -> None:
    error = parse_error("tags.a IN ('x', 'y'")
    assert (error.position, "Unclosed '('" in str(error)) == (10, True)


def test_not_without_in() -> None:
    error = parse_error("params.a NOT LIKE 'x'")
    assert (error.position, "expected IN after NOT" in str(error)) == (13, True)


def test_is_without_null() -> None:
    assert parse_error("params.a IS 'x'").position == 12


def test_is_not_without_null() -> None:
    assert parse_error("params.a IS NOT 'x'").position == 16


def test_number_too_large() -> None:
    assert parse_error("metrics.a > 1e999").position == 12


def test_too_deep_nesting() -> None:
    error = parse_error("(" * 150 + A + ")" * 150)
    assert error.position == 100


def test_deep_but_allowed_nesting() -> None:
    assert parse_filter("(" * 90 + A + ")" * 90) == CA


# ---- order by -------------------------------------------------------------------------------


def test_order_by_defaults_to_ascending() -> None:
    assert parse_order_by(["attributes.start_time"]) == [OrderKey(attr("start_time"))]


def test_order_by_directions_any_case() -> None:
    keys = parse_order_by(["metrics.acc DESC", "params.lr asc", "tags.t Desc"])
    assert keys == [
        OrderKey(metric("acc"), descending=True),
        OrderKey(param("lr"), descending=False),
        OrderKey(tag("t"), descending=True),
    ]


def test_order_by_quoted_key_and_alias() -> None:
    keys = parse_order_by(['params."learning rate" desc', "attr.name"])
    assert keys == [OrderKey(param("learning rate"), True), OrderKey(attr("run_name"))]


@pytest.mark.parametrize("clauses", [None, [], ()])
def test_order_by_nothing(clauses: list[str] | None) -> None:
    assert parse_order_by(clauses) == []


def test_order_by_single_string_is_one_clause() -> None:
    assert parse_order_by("metrics.acc DESC") == [OrderKey(metric("acc"), True)]


def test_order_by_unknown_prefix() -> None:
    error = order_error(["metrics.acc", "metricz.acc DESC"])
    assert (error.field, error.position) == ("order_by", 0)
    assert "'metricz.acc'" in str(error)
    assert "order_by clause 'metricz.acc DESC'" in str(error)


def test_order_by_bare_attribute_suggests_prefix() -> None:
    error = order_error(["start_time DESC"])
    assert "did you mean attributes.start_time?" in str(error)


def test_order_by_unknown_direction() -> None:
    error = order_error(["metrics.acc descending"])
    assert (error.field, error.position) == ("order_by", 12)
    assert "'descending'" in str(error)


def test_order_by_extra_token_after_direction() -> None:
    assert order_error(["metrics.acc DESC x"]).position == 17


def test_order_by_comma_separated_keys() -> None:
    error = order_error(["metrics.a DESC, metrics.b"])
    assert error.position == 14
    assert "own list item" in str(error)


@pytest.mark.parametrize("clause", ["", "   "])
def test_order_by_empty_clause(clause: str) -> None:
    error = order_error([clause])
    assert (error.field, error.position) == ("order_by", 0)


def test_order_by_unknown_attribute() -> None:
    assert order_error(["attributes.colour"]).field == "order_by"


def test_order_by_unterminated_key() -> None:
    error = order_error(['params."lr'])
    assert (error.field, error.position) == ("order_by", 7)


def test_order_by_non_string_entry() -> None:
    assert order_error([5]).field == "order_by"  # type: ignore[list-item]


# ---- rendering ------------------------------------------------------------------------------


def test_render_none_is_empty() -> None:
    assert filter_to_string(None) == ""


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("metric.acc>=0.9", "metrics.acc >= 0.9"),
        ("METRICS.n == 3", "metrics.n = 3"),
        ('param.lr <> "0.1"', "params.lr != '0.1'"),
        ("attr.name ilike 'a%'", "attributes.run_name ILIKE 'a%'"),
        ("attributes.status in ('finished')", "attributes.status IN ('FINISHED')"),
        ("tags.t not in ('a','b')", "tags.t NOT IN ('a', 'b')"),
        ("tags.t is not null", "tags.t IS NOT NULL"),
        ('tags."a key" = "it\'s"', "tags.\"a key\" = 'it\\'s'"),
        ("metrics.val.loss < 1e-5", "metrics.val.loss < 1e-05"),
        (f"({A} or {B}) and {C}", f"({A} or {B}) and {C}"),
        (f"{A} or ({B} and {C})", f"{A} or {B} and {C}"),
        (f"(({A}))", A),
    ],
)
def test_render_is_canonical(text: str, canonical: str) -> None:
    assert filter_to_string(parse_filter(text)) == canonical


ROUND_TRIP_FILTERS = [
    A,
    f"{A} and {B} or {C} and ({A} or {B})",
    "params.`weird \"key\" with 'quotes'` = 'va\\\\lue\\nline'",
    "tags.`mlflow.source/name:v-1` = 'y'",
    "params.p LIKE '100\\%'",
    "metrics.m IN (1, -2.5, 3e+20, 0.1)",
    "attributes.experiment_id = '0' and attributes.run_id != 'abc'",
    "attributes.end_time IS NULL or attributes.start_time < 17",
]


@pytest.mark.parametrize("text", ROUND_TRIP_FILTERS)
def test_round_trip(text: str) -> None:
    node = parse_filter(text)
    assert parse_filter(filter_to_string(node)) == node


def test_render_hand_built_same_op_nesting_keeps_grouping() -> None:
    node = BoolOp("and", (BoolOp("and", (CA, CB)), CC))
    assert filter_to_string(node) == f"({A} and {B}) and {C}"


def test_render_single_operand_bool_op() -> None:
    assert filter_to_string(BoolOp("or", (CA,))) == A


def test_render_empty_bool_op_is_an_error() -> None:
    with pytest.raises(InvalidFilterError):
        filter_to_string(BoolOp("and", ()))


@pytest.mark.parametrize(
    "node",
    [
        Comparison(metric("m"), ">", float("nan")),
        Comparison(metric("m"), ">", float("inf")),
        Comparison(metric("m"), "~", 1),
        Comparison(metric("m"), "IN", ()),
        Comparison(metric("m"), "IN", 1),
        Comparison(metric("m"), "=", (1, 2)),
        Comparison(metric("m"), "=", None),
        Comparison(metric("m"), "=", True),
    ],
)
def test_render_unrepresentable_comparison_is_an_error(node: Comparison) -> None:
    with pytest.raises(InvalidFilterError):
        filter_to_string(node)


def test_render_identifier_quotes_only_when_needed() -> None:
    assert render_identifier(metric("val.loss")) == "metrics.val.loss"
    assert render_identifier(tag("a b")) == 'tags."a b"'


KEY_ALPHABET = "ab_-.:/ \"'`\\()é,=\n"
STRING_ALPHABET = "ab %_\\'\"`()\n\t,="


def random_text(rng: random.Random, alphabet: str, minimum: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(minimum, 6)))


def random_comparison(rng: random.Random) -> Comparison:
    kind = rng.choice(["metric", "param", "tag", "time", "status"])
    if kind == "time":
        ident = attr(rng.choice(["start_time", "end_time"]))
        value: Value = rng.randint(0, 10**13)
    elif kind == "status":
        ident, value = attr("status"), rng.choice(["RUNNING", "FAILED"])
    elif kind == "metric":
        ident = metric(random_text(rng, KEY_ALPHABET, 1))
        value = rng.choice([rng.randint(-1000, 1000), rng.uniform(-1e6, 1e6), 1.5e-300])
    else:
        ident = Identifier(kind, random_text(rng, KEY_ALPHABET, 1))  # type: ignore[arg-type]
        value = random_text(rng, STRING_ALPHABET, 0)
    op = rng.choice(["=", "!=", "IN", "NOT IN", "IS NULL"])
    if op == "IS NULL":
        return Comparison(ident, op, None)
    if op in ("IN", "NOT IN"):
        return Comparison(ident, op, (value, value))
    return Comparison(ident, op, value)


def random_tree(rng: random.Random, depth: int, parent: str | None) -> Node:
    if depth == 0 or rng.random() < 0.3:
        return random_comparison(rng)
    # Canonical trees never nest an operator under itself: the parser flattens such groups.
    op = "and" if parent == "or" else "or" if parent == "and" else rng.choice(["and", "or"])
    operands = tuple(random_tree(rng, depth - 1, op) for _ in range(rng.randint(2, 3)))
    return BoolOp(op, operands)  # type: ignore[arg-type]


def test_random_trees_round_trip() -> None:
    rng = random.Random(20240501)
    for _ in range(500):
        tree = random_tree(rng, 4, None)
        assert parse_filter(filter_to_string(tree)) == tree


FUZZ_PIECES = [
    *("metrics.a", "params.b", 'tags."x y"', "attributes.status", "attr.start_time", "foo.x"),
    *(" ", "(", ")", ",", "=", "<", ">", "!", "IN", "NOT", "IS", "NULL", "and", "or", "LIKE"),
    *("'x'", "'", '"', "`", "1", "-2.5", "e", "\\", ".", "DESC", "'finished'"),
]


def test_garbage_only_ever_raises_invalid_filter_error_with_a_position() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 10)))
        try:
            parse_filter(text)
        except InvalidFilterError as error:
            assert error.position is not None and 0 <= error.position <= len(text)
        try:
            parse_order_by([text])
        except InvalidFilterError as error:
            assert error.position is not None and 0 <= error.position <= len(text)
