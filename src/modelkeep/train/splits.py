"""How a training config splits its data: a held-out test set, and folds on the rest.

``split.kind`` decides both:

=====================  ======================================  ==============================
kind                   test set (unless ``data.test`` given)   validation folds on the rest
=====================  ======================================  ==============================
``holdout``            ``test_size`` of the rows, at random     one: ``test_size`` of the rest
                       (stratified for classification)
``kfold``              as holdout                              ``n_splits`` shuffled folds
``stratified_kfold``   as holdout                              ``n_splits`` stratified folds
                                                               (classification only)
``time``               the latest ``test_size`` by             ``n_splits`` expanding-window
                       ``time_column``                         folds in time order
=====================  ======================================  ==============================

Every random choice uses the config's ``seed``, so the same config gives the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError

__all__ = ["SPLIT_KINDS", "Fold", "fold_indices", "sort_by_time", "split_test"]

SPLIT_KINDS = ("holdout", "kfold", "stratified_kfold", "time")

Fold = tuple[NDArray[np.intp], NDArray[np.intp]]  # (train positions, validation positions)


def _stratify(task: str, y: Any) -> Any:
    """The labels to stratify on, or None when a class is too rare to appear on both sides."""
    if task != "classification":
        return None
    _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    return y if counts.min() >= 2 else None


def split_test(
    frame: Any,
    target: str,
    *,
    kind: str,
    task: str,
    test_size: float,
    seed: int,
    time_column: str | None,
) -> tuple[Any, Any]:
    """Split a DataFrame into (train, test) frames as ``kind`` says.

    Raises:
        InvalidInputError: (``split.test_size``) when either side would be empty.
    """
    from sklearn.model_selection import train_test_split

    n_test = int(np.ceil(test_size * len(frame)))
    if n_test < 1 or len(frame) - n_test < 2:
        raise InvalidInputError(
            f"split.test_size: {test_size} of {len(frame)} rows leaves an empty train or "
            "test set; use more data or another test_size",
            field="split.test_size",
        )
    if kind == "time":
        assert time_column is not None  # the config requires it for this kind
        ordered = sort_by_time(frame, time_column)
        return ordered.iloc[:-n_test], ordered.iloc[-n_test:]
    try:
        train, test = train_test_split(
            frame,
            test_size=n_test,
            random_state=seed,
            stratify=_stratify(task, frame[target]),
        )
    except ValueError as exc:  # a stratified split too small for the classes
        raise InvalidInputError(
            f"split.test_size: cannot split {len(frame)} rows by class: {exc}",
            field="split.test_size",
        ) from None
    return train, test


def sort_by_time(frame: Any, time_column: str) -> Any:
    """``frame`` in time order (stable); text columns are read as dates to order them.

    Raises:
        InvalidInputError: (``split.time_column``) when text values are not dates.
    """
    import pandas as pd

    column = frame[time_column]
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        try:
            column = pd.to_datetime(column, format="mixed")
        except (ValueError, TypeError):
            raise InvalidInputError(
                f"split.time_column: {time_column!r} holds values that are not dates or "
                "numbers, so they cannot order the rows",
                field="split.time_column",
            ) from None
    order = np.argsort(column.to_numpy(), kind="stable")
    return frame.iloc[order]


def fold_indices(
    X: Any, y: Any, *, kind: str, task: str, n_splits: int, test_size: float, seed: int
) -> list[Fold]:
    """Validation folds on the training rows, as positions into ``X``/``y``.

    For ``time`` the rows must already be in time order (:func:`split_test` leaves them so).

    Raises:
        InvalidInputError: (``split.n_splits``) when there are fewer rows, or members of a
            class, than folds, or a fold would train on one class only.
    """
    from sklearn.model_selection import (
        KFold,
        StratifiedKFold,
        TimeSeriesSplit,
        train_test_split,
    )

    positions = np.arange(len(y))
    if kind == "holdout":
        try:
            train, valid = train_test_split(
                positions, test_size=test_size, random_state=seed, stratify=_stratify(task, y)
            )
        except ValueError as exc:  # a stratified split too small for the classes
            raise InvalidInputError(
                f"split.test_size: cannot hold out a validation set by class: {exc}",
                field="split.test_size",
            ) from None
        folds = [(np.sort(train), np.sort(valid))]
        if task == "classification":
            _check_fold_classes(folds, y, kind)
        return folds
    splitter: Any
    if kind == "kfold":
        splitter = KFold(n_splits, shuffle=True, random_state=seed)
    elif kind == "stratified_kfold":
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    else:
        splitter = TimeSeriesSplit(n_splits)
    try:
        folds = [(train, valid) for train, valid in splitter.split(X, y)]
    except ValueError as exc:
        raise InvalidInputError(
            f"split.n_splits: cannot make {n_splits} {kind} folds of {len(y)} rows ({exc})",
            field="split.n_splits",
        ) from None
    if task == "classification":
        _check_fold_classes(folds, y, kind)
    return folds


def _check_fold_classes(folds: list[Fold], y: Any, kind: str) -> None:
    labels = np.asarray(y)
    for index, (train, _) in enumerate(folds):
        if len(np.unique(labels[train].astype(str))) < 2:
            raise InvalidInputError(
                f"split.n_splits: {kind} fold {index} trains on one class only; use fewer "
                "folds, more data or another split kind",
                field="split.n_splits",
            )
