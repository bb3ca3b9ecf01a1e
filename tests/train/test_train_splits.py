"""Test sets and validation folds: sizes, stratification, time order, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.splits import fold_indices, sort_by_time, split_test


def _frame(rows: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "when": pd.date_range("2024-01-01", periods=rows, freq="D").astype(str)[::-1],
            "label": (np.arange(rows) % 10 == 9).astype(int),
        }
    )


def _split(frame: pd.DataFrame, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    options: dict[str, object] = {
        "kind": "holdout",
        "task": "classification",
        "test_size": 0.2,
        "seed": 0,
        "time_column": None,
    }
    options.update(kwargs)
    return split_test(frame, "label", **options)  # type: ignore[arg-type]


def test_holdout_is_stratified_and_sized() -> None:
    train, test = _split(_frame())

    assert len(test) == 20 and len(train) == 80
    assert test["label"].sum() == 2  # 10% positives on both sides


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    frame = _frame()

    first, second, other = _split(frame), _split(frame), _split(frame, seed=1)

    assert first[1].index.tolist() == second[1].index.tolist()
    assert first[1].index.tolist() != other[1].index.tolist()


def test_time_split_holds_out_the_latest_rows() -> None:
    frame = _frame()

    train, test = _split(frame, kind="time", time_column="when")

    assert pd.to_datetime(train["when"]).max() < pd.to_datetime(test["when"]).min()
    assert pd.to_datetime(train["when"]).is_monotonic_increasing


def test_time_column_that_is_not_dates_is_refused() -> None:
    frame = pd.DataFrame({"when": ["soon", "later"], "label": [0, 1]})

    with pytest.raises(InvalidInputError) as caught:
        sort_by_time(frame, "when")
    assert caught.value.field == "split.time_column"


def test_test_size_leaving_nothing_to_train_on() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _split(_frame(3), test_size=0.9)
    assert caught.value.field == "split.test_size"


@pytest.mark.parametrize("kind", ["kfold", "stratified_kfold", "time"])
def test_folds_cover_every_row_once_for_validation(kind: str) -> None:
    frame = _frame()

    folds = fold_indices(
        frame[["x"]],
        frame["label"],
        kind=kind,
        task="classification",
        n_splits=4,
        test_size=0.2,
        seed=0,
    )

    assert len(folds) == 4
    validated = np.concatenate([valid for _, valid in folds])
    if kind == "time":  # expanding window: the first block only ever trains
        assert all(train.max() < valid.min() for train, valid in folds)
    else:
        assert sorted(validated.tolist()) == list(range(100))
    for train, valid in folds:
        assert not set(train) & set(valid)


def test_holdout_validation_is_one_fold() -> None:
    frame = _frame()

    folds = fold_indices(
        frame[["x"]],
        frame["label"],
        kind="holdout",
        task="classification",
        n_splits=5,
        test_size=0.25,
        seed=0,
    )

    assert len(folds) == 1 and len(folds[0][1]) == 25


def test_more_folds_than_rows_names_n_splits() -> None:
    frame = _frame(3)

    with pytest.raises(InvalidInputError) as caught:
        fold_indices(
            frame[["x"]],
            frame["x"],
            kind="kfold",
            task="regression",
            n_splits=5,
            test_size=0.2,
            seed=0,
        )
    assert caught.value.field == "split.n_splits"
