"""Reading a training config's data: column checks, duplicates, the test split.

Everything here runs before a run is created, so a config naming a column its data lacks
fails without leaving a half-made run behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.config import TrainConfig, load_train_config
from modelkeep.train.splits import Fold, fold_indices, split_test

__all__ = ["PreparedData", "prepare_data"]


@dataclass(frozen=True)
class PreparedData:
    """A config's data, read, checked and split.

    Attributes:
        frame: the training table as read (profiled and logged as the run's ``train`` input).
        test_frame: the separate test table when ``data.test`` names one, else None.
        X_train: the feature columns of the training rows (in time order for a time split).
        y_train: their targets.
        X_test: the feature columns of the held-out test rows.
        y_test: their targets.
        features: the feature column names, in order.
        classes: the sorted class labels (classification), else None.
        folds: the validation folds on the training rows, as positions (drawn here so that
            a split too small for them is refused before any run exists).
    """

    frame: pd.DataFrame
    test_frame: pd.DataFrame | None
    X_train: pd.DataFrame
    y_train: pd.Series[Any]
    X_test: pd.DataFrame
    y_test: pd.Series[Any]
    features: list[str]
    classes: list[Any] | None
    folds: list[Fold]


def _columns_text(frame: pd.DataFrame) -> str:
    names = [str(name) for name in frame.columns]
    return ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")


def _check_columns(frame: pd.DataFrame, config: TrainConfig, source: str) -> list[str]:
    """The feature columns; raises naming the key when the file lacks a column."""
    if config.target not in frame.columns:
        raise InvalidInputError(
            f"target: column {config.target!r} is not in {source}; its columns are: "
            f"{_columns_text(frame)}",
            field="target",
        )
    time_column = config.split.time_column if config.split.kind == "time" else None
    if time_column is not None and time_column not in frame.columns:
        raise InvalidInputError(
            f"split.time_column: column {time_column!r} is not in {source}; its columns "
            f"are: {_columns_text(frame)}",
            field="split.time_column",
        )
    if config.features is None:
        return [str(c) for c in frame.columns if c not in (config.target, time_column)]
    missing = [name for name in config.features if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"features: {', '.join(map(repr, missing))} not in {source}; its columns are: "
            f"{_columns_text(frame)}",
            field="features",
        )
    if config.target in config.features:
        raise InvalidInputError(
            f"features: the target {config.target!r} cannot also be a feature",
            field="features",
        )
    return list(config.features)


def _labelled(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows that have a target (a row without one can neither train nor score)."""
    kept = frame[frame[target].notna()]
    if len(kept) < 2:
        raise InvalidInputError(
            f"target: column {target!r} has fewer than 2 non-missing values", field="target"
        )
    return kept


def prepare_data(config: TrainConfig | Any) -> PreparedData:
    """Read the config's data, check its columns, drop duplicates if asked, and split it.

    Args:
        config: a :class:`TrainConfig`, or anything :func:`load_train_config` takes.

    Returns:
        The :class:`PreparedData`; rows without a target are left out of training and test.

    Raises:
        InvalidInputError: unreadable data (``data``), a missing target, feature or time
            column (``target``, ``features``, ``split.time_column``, naming the file's
            columns), or a split that leaves a side empty (``split.*``).
    """
    from modelkeep.data.cleaning import drop_duplicates, parse_cleaning
    from modelkeep.data.io import read_table

    config = load_train_config(config)
    frame = read_table(config.data.train)
    features = _check_columns(frame, config, config.data.train)
    cleaning = parse_cleaning(config.cleaning)
    rows = drop_duplicates(frame) if cleaning.drop_duplicates else frame
    rows = _labelled(rows, config.target)
    split = config.split
    test_frame = None
    if config.data.test is not None:
        test_frame = read_table(config.data.test)
        _check_columns(
            test_frame, config.model_copy(update={"features": features}), "the test data"
        )
        train_rows = _sorted_by_time(rows, config)
        test_rows = _labelled(test_frame, config.target)
    else:
        train_rows, test_rows = split_test(
            rows,
            config.target,
            kind=split.kind,
            task=config.task,
            test_size=split.test_size,
            seed=config.seed,
            time_column=split.time_column,
        )
    y_train = train_rows[config.target].reset_index(drop=True)
    given_test = test_rows[config.target] if config.data.test is not None else None
    _check_target_values(config, y_train, given_test)
    classes = _classes(y_train) if config.task == "classification" else None
    X_train = train_rows[features].reset_index(drop=True)
    folds = _folds(config, X_train, y_train)
    return PreparedData(
        frame=frame,
        test_frame=test_frame,
        X_train=X_train,
        y_train=y_train,
        X_test=test_rows[features].reset_index(drop=True),
        y_test=test_rows[config.target].reset_index(drop=True),
        features=features,
        classes=classes,
        folds=folds,
    )


def _folds(config: TrainConfig, X_train: pd.DataFrame, y_train: pd.Series[Any]) -> list[Fold]:
    split = config.split
    return fold_indices(
        X_train,
        y_train,
        kind=split.kind,
        task=config.task,
        n_splits=split.n_splits,
        test_size=split.test_size,
        seed=config.seed,
    )


def _check_target_values(config: TrainConfig, y_train: Any, y_test: Any) -> None:
    """Refuse, before any run, a target the task cannot use: text for a regression, or test
    classes the training rows never show (no model could predict them)."""
    if config.task == "regression":
        if not pd.api.types.is_numeric_dtype(y_train) or pd.api.types.is_bool_dtype(y_train):
            raise InvalidInputError(
                f"target: column {config.target!r} holds {y_train.dtype} values; a regression "
                "needs numbers (use task: classification for labels)",
                field="target",
            )
        return
    if y_test is None:
        return
    unseen = sorted(set(map(str, y_test.unique())) - set(map(str, y_train.unique())))
    if unseen:
        raise InvalidInputError(
            f"data.test: target classes {', '.join(unseen[:5])} appear in the test rows but "
            "never in the training rows",
            field="data.test",
        )


def _sorted_by_time(rows: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    if config.split.kind != "time" or config.split.time_column is None:
        return rows
    from modelkeep.train.splits import sort_by_time

    ordered: pd.DataFrame = sort_by_time(rows, config.split.time_column)
    return ordered


def _classes(y: pd.Series[Any]) -> list[Any]:
    import numpy as np

    # np.unique sorts as scikit-learn does for ``classes_``.
    labels: list[Any] = np.unique(y.to_numpy()).tolist()
    if len(labels) < 2:
        raise InvalidInputError(
            f"target: classification needs at least 2 classes; the training rows have "
            f"{len(labels)}",
            field="target",
        )
    return labels
