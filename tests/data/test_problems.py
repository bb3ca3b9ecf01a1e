"""find_problems on scikit-learn's datasets and on generated data with injected problems."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from data_support import clean_frame
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from modelkeep.data.problems import PROBLEM_KINDS, Problem, find_problems
from modelkeep.exceptions import InvalidInputError


def _kinds(problems: list[Problem]) -> set[tuple[str, str | None]]:
    return {(p.kind, p.column) for p in problems}


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine, load_diabetes])
def test_bundled_datasets_have_no_problems(loader: Callable[..., object]) -> None:
    frame = loader(as_frame=True).frame  # type: ignore[attr-defined]
    assert find_problems(frame, target="target") == []


def test_clean_generated_data_has_no_problems() -> None:
    assert find_problems(clean_frame(), target="y") == []


def test_missing_values_are_flagged_per_column() -> None:
    frame = clean_frame()
    frame.loc[frame.index[:60], "x2"] = np.nan
    frame.loc[frame.index[:400], "color"] = None
    problems = {p.column: p for p in find_problems(frame, target="y")}
    assert problems["x2"].kind == "missing_values"
    assert problems["x2"].severity == "warning"
    assert problems["x2"].details == {"missing_count": 60, "missing_rate": 0.1}
    assert problems["color"].severity == "error"  # two thirds missing


def test_duplicate_rows_are_flagged_with_examples() -> None:
    frame = clean_frame()
    frame = pd.concat([frame, frame.iloc[:15]], ignore_index=True)
    [problem] = find_problems(frame, target="y")
    assert problem.kind == "duplicates"
    assert problem.column is None
    assert problem.details["duplicate_rows"] == 15
    assert problem.details["example_rows"] == [600, 601, 602, 603, 604]


def test_duplicates_are_found_behind_a_fresh_id_per_row() -> None:
    frame = clean_frame()
    frame = pd.concat([frame, frame.iloc[:15]], ignore_index=True)
    frame.insert(0, "row_id", np.arange(len(frame)))
    problems = find_problems(frame, target="y")
    assert _kinds(problems) == {("duplicates", None), ("id_like", "row_id")}
    duplicates = next(p for p in problems if p.kind == "duplicates")
    assert duplicates.details["ignored_columns"] == ["row_id"]
    assert duplicates.details["duplicate_rows"] == 15


def test_constant_columns_are_flagged() -> None:
    frame = clean_frame()
    frame["version"] = "v1"
    frame["empty"] = np.nan
    problems = find_problems(frame, target="y")
    constant = {p.column: p for p in problems if p.kind == "constant_column"}
    assert constant["version"].details == {"value": "v1", "distinct_count": 1}
    assert constant["empty"].details == {"value": None, "distinct_count": 0}
    assert ("missing_values", "empty") in _kinds(problems)


@pytest.mark.parametrize(
    ("make_id", "reason"),
    [
        (lambda n: np.arange(1000, 1000 + n), "integer sequence"),
        (lambda n: np.random.default_rng(1).permutation(n) * 7919 + 13, "unique whole numbers"),
        (lambda n: [f"cust-{i:05d}" for i in range(n)], "unique strings"),
    ],
)
def test_id_like_columns_are_flagged(make_id: Callable[[int], object], reason: str) -> None:
    frame = clean_frame()
    frame.insert(0, "key", make_id(len(frame)))
    [problem] = find_problems(frame, target="y")
    assert (problem.kind, problem.column, problem.details["reason"]) == ("id_like", "key", reason)


def test_unique_floats_and_free_text_are_not_id_like() -> None:
    frame = clean_frame()
    frame["note"] = [f"customer said thing number {i}" for i in range(len(frame))]
    assert find_problems(frame, target="y") == []


def test_class_imbalance_is_flagged_below_the_threshold() -> None:
    frame = clean_frame()
    frame["y"] = (frame["x1"] + np.random.default_rng(2).normal(size=len(frame)) > 2.3).astype(int)
    [problem] = find_problems(frame, target="y")
    assert (problem.kind, problem.column) == ("class_imbalance", "y")
    assert problem.details["minority_class"] == "1"
    assert problem.details["minority_share"] < 0.1
    lenient = find_problems(frame, target="y", imbalance_threshold=0.01)
    assert lenient == []


def test_a_numeric_leaking_column_is_flagged() -> None:
    frame = clean_frame()
    noise = np.random.default_rng(3).normal(scale=0.05, size=len(frame))
    frame.insert(2, "refund_amount", frame["y"] * 10.0 + noise)
    [problem] = find_problems(frame, target="y")
    assert (problem.kind, problem.column, problem.severity) == (
        "target_leakage",
        "refund_amount",
        "error",
    )
    assert problem.details["metric"] == "balanced_accuracy"
    assert problem.details["score"] > 0.98


def test_a_categorical_leaking_column_is_flagged() -> None:
    frame = clean_frame()
    status = np.where(frame["y"] == 1, "churned", "active").astype(object)
    status[:3] = "active"  # a few disagreements: still almost perfect
    frame["status"] = status
    [problem] = find_problems(frame, target="y")
    assert (problem.kind, problem.column) == ("target_leakage", "status")


def test_leakage_into_a_regression_target_is_flagged() -> None:
    frame = load_diabetes(as_frame=True).frame
    frame["target_copy"] = np.log1p(frame["target"])
    [problem] = find_problems(frame, target="target")
    assert (problem.kind, problem.column) == ("target_leakage", "target_copy")
    assert problem.details["metric"] == "r2"


def test_leakage_check_samples_large_tables() -> None:
    frame = pd.concat([clean_frame(seed=s) for s in range(12)], ignore_index=True)
    frame["leak"] = frame["y"].map({0: "no", 1: "yes"})
    problems = find_problems(frame, target="y", sample_size=500)
    assert _kinds(problems) == {("target_leakage", "leak")}


def test_every_injected_problem_at_once() -> None:
    frame = clean_frame()
    frame["y"] = (frame["x1"] + np.random.default_rng(2).normal(size=len(frame)) > 2.3).astype(int)
    frame["leak"] = frame["y"] * 3
    frame["constant"] = 0
    frame["owner"] = [f"owner{i % 7}@example.com" for i in range(len(frame))]
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)
    frame.insert(0, "id", np.arange(len(frame)))
    frame.loc[frame.index[::20], "x3"] = np.nan
    problems = find_problems(frame, target="y")
    assert [p.kind for p in problems] == list(PROBLEM_KINDS)
    assert _kinds(problems) == {
        ("missing_values", "x3"),
        ("duplicates", None),
        ("constant_column", "constant"),
        ("id_like", "id"),
        ("class_imbalance", "y"),
        ("target_leakage", "leak"),
        ("personal_data", "owner"),
    }


def test_problems_round_trip_through_dicts() -> None:
    frame = clean_frame()
    frame["constant"] = 1
    [problem] = find_problems(frame)
    assert Problem.from_dict(problem.to_dict()) == problem


def test_an_unknown_target_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="target column 'nope' is not in the data") as info:
        find_problems(clean_frame(), target="nope")
    assert info.value.field == "target"


def test_unhashable_values_do_not_break_the_checks() -> None:
    frame = pd.DataFrame({"tags": [["a"], ["b"], ["a"]], "n": [1.5, 2.5, 3.5]})
    assert _kinds(find_problems(frame)) == set()


def test_columns_that_look_like_personal_data_are_reported_masked() -> None:
    table = pd.DataFrame(
        {"contact": [f"person{i}@example.org" for i in range(40)], "spend": range(40)}
    )

    [problem] = [p for p in find_problems(table) if p.kind == "personal_data"]

    assert problem.column == "contact" and problem.details["kind"] == "email"
    assert problem.severity == "warning"
    assert all("person" not in e or "*" in e for e in problem.details["examples"])
