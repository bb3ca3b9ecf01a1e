"""Cleaning as scikit-learn transformers inside the model pipeline, so serving cleans the same way.

:func:`build_preprocessor` turns the ``cleaning:`` section of a training config into a
``ColumnTransformer``; it goes first in the model's ``Pipeline``, is fitted on the training data
only, and is saved with the model, so a served model imputes, clips, groups and encodes exactly
as it did in training. Two steps change the *rows* and therefore cannot live in a pipeline (a
model must return one prediction per input row): :func:`drop_duplicates` and :func:`resample`
are applied to the training data only.

The ``cleaning`` mapping (every key optional; parsed by
:func:`modelkeep.data.cleaning_config.parse_cleaning`, an unknown or ill-typed key raises
``InvalidInputError(field="cleaning.<key>")``)::

    impute:
      numeric: median | mean | constant            # default median
      categorical: most_frequent | constant        # default most_frequent
      fill_value: 0                                # numeric "constant" value (default 0)
      categorical_fill_value: __missing__          # categorical "constant" value
    clip: null | quantile | iqr | {method: quantile | iqr, low: 0.01, high: 0.99, factor: 1.5}
    rare: null | 0.05 | {min_frequency: 0.05, other: __other__}   # fraction of rows, or a count
    encode: onehot | ordinal                       # default onehot
    scale: standard | none                         # default standard
    drop_duplicates: false                         # training only, see drop_duplicates()
    imbalance: null | class_weight | oversample | undersample
                                                   # class_weight: the trainer sets the
                                                   # estimator's class_weight="balanced";
                                                   # the others: resample(), training only

Column kinds come from the dtypes of the frame given to :func:`build_preprocessor`
(:func:`plan_columns`): numbers are *numeric* (clip, impute, scale); booleans, strings, objects
and pandas categoricals are *categorical* (group rare values, impute, encode; values are compared
as strings). Datetime, timedelta and other columns are **dropped** from the model input, logged
and listed in ``ColumnPlan.dropped``; derive numeric features from them before training if they
matter. The target column is never an input.

Unseen categories at prediction time become the ``other`` value (rare grouping) and then encode
as all zeros (one-hot) or -1 (ordinal); missing values are imputed with what training learned.

The two transformers defined here hold plain data only (floats, numpy arrays, lists of
strings), so skops saves them and modelkeep's allowlist trusts them: a pipeline containing them
loads without ``allow_code``.

Example:
    >>> from sklearn.pipeline import make_pipeline  # doctest: +SKIP
    >>> from sklearn.ensemble import RandomForestClassifier  # doctest: +SKIP
    >>> prep = build_preprocessor({"clip": "iqr", "rare": 0.05}, frame, "label")  # doctest: +SKIP
    >>> model = make_pipeline(prep, RandomForestClassifier()).fit(X, y)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from modelkeep.data.cleaning_config import (
    CleaningConfig,
    ColumnPlan,
    parse_cleaning,
    plan_columns,
)
from modelkeep.exceptions import InvalidInputError

__all__ = [
    "CleaningConfig",
    "ColumnPlan",
    "OutlierClipper",
    "RareCategoryGrouper",
    "build_preprocessor",
    "drop_duplicates",
    "parse_cleaning",
    "plan_columns",
    "resample",
]

_log = logging.getLogger(__name__)


class OutlierClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Clip each numeric column to bounds learned at fit time; missing values pass through.

    Args:
        method: ``"quantile"`` clips to the ``low`` and ``high`` quantiles of the training
            column; ``"iqr"`` to ``[Q1 - factor * IQR, Q3 + factor * IQR]``.
        low: lower quantile for ``"quantile"`` (0 <= low < high <= 1).
        high: upper quantile for ``"quantile"``.
        factor: IQR multiplier for ``"iqr"`` (> 0).

    Attributes:
        lower_: per-column lower bounds (``-inf`` for a column with no values).
        upper_: per-column upper bounds (``+inf`` likewise).

    Example:
        >>> OutlierClipper(method="iqr").fit([[1.0], [2.0], [3.0], [100.0]]).upper_
        array([65.5])
    """

    def __init__(
        self,
        method: str = "quantile",
        low: float = 0.01,
        high: float = 0.99,
        factor: float = 1.5,
    ) -> None:
        self.method = method
        self.low = low
        self.high = high
        self.factor = factor

    def fit(self, X: Any, y: Any = None) -> OutlierClipper:
        """Learn the bounds of every column of ``X`` (numbers; NaN allowed)."""
        self._check_params()
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        if self.method == "quantile":
            lower, upper = _nanquantiles(values, [self.low, self.high])
        else:
            q1, q3 = _nanquantiles(values, [0.25, 0.75])
            spread = q3 - q1
            lower, upper = q1 - self.factor * spread, q3 + self.factor * spread
        self.lower_ = np.where(np.isnan(lower), -np.inf, lower)
        self.upper_ = np.where(np.isnan(upper), np.inf, upper)
        return self

    def transform(self, X: Any) -> Any:
        """``X`` as floats, each column clipped to its bounds (NaN stays NaN)."""
        check_is_fitted(self, ("lower_", "upper_"))
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        return np.clip(values, self.lower_, self.upper_)

    def _check_params(self) -> None:
        if self.method not in ("quantile", "iqr"):
            raise ValueError(f"method must be 'quantile' or 'iqr', got {self.method!r}")
        if self.method == "quantile" and not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(f"need 0 <= low < high <= 1, got low={self.low}, high={self.high}")
        if self.method == "iqr" and not self.factor > 0:
            raise ValueError(f"factor must be > 0, got {self.factor}")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _nanquantiles(values: Any, qs: list[float]) -> Any:
    # A column with no values at all gives NaN bounds (then +-inf: no clipping), not a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(values, qs, axis=0)


class RareCategoryGrouper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Replace categories rarer than ``min_frequency`` (and unseen ones) with ``other``.

    Values are compared as strings (``True`` is ``"True"``), so a column of mixed types encodes
    consistently; missing values stay missing (NaN) for the imputer that follows.

    Args:
        min_frequency: a fraction of the training rows (0 <= f < 1) or a row count (an int
            >= 1); a category seen less often is grouped. 0 keeps every seen category.
        other: the value rare and unseen categories become.

    Attributes:
        categories_: per column, the sorted categories kept as they are.

    Example:
        >>> RareCategoryGrouper(min_frequency=2).fit_transform([["a"], ["a"], ["b"]]).ravel()
        array(['a', 'a', '__other__'], dtype=object)
    """

    def __init__(self, min_frequency: float = 0.01, other: str = "__other__") -> None:
        self.min_frequency = min_frequency
        self.other = other

    def fit(self, X: Any, y: Any = None) -> RareCategoryGrouper:
        """Learn, per column of ``X``, which categories are frequent enough to keep."""
        threshold = self._threshold()
        values = validate_data(self, X, dtype=object, ensure_all_finite=False)
        n_rows = values.shape[0]
        minimum = threshold * n_rows if isinstance(threshold, float) else threshold
        kept: list[list[str]] = []
        for column in values.T:
            present = column[~pd.isna(column)].astype(str)
            names, counts = np.unique(present, return_counts=True)
            kept.append([str(name) for name in names[counts >= minimum]])
        self.categories_ = kept
        return self

    def transform(self, X: Any) -> Any:
        """``X`` as an object array: kept categories as strings, the rest ``other``, NaN kept."""
        check_is_fitted(self, "categories_")
        values = validate_data(self, X, dtype=object, ensure_all_finite=False, reset=False)
        out = np.empty(values.shape, dtype=object)
        for j, column in enumerate(values.T):
            missing = pd.isna(column)
            text = column.astype(str)
            known = np.isin(text, np.asarray(self.categories_[j], dtype=str))
            out[:, j] = np.where(known, text, self.other)
            out[missing, j] = np.nan
        return out

    def _threshold(self) -> float | int:
        value = self.min_frequency
        if isinstance(value, Integral) and not isinstance(value, bool) and value >= 1:
            return int(value)
        if isinstance(value, Real) and not isinstance(value, bool) and 0 <= value < 1:
            return float(value)
        raise ValueError(
            f"min_frequency must be a fraction in [0, 1) or a count >= 1, got {value!r}"
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


def build_preprocessor(cleaning: Mapping[str, Any] | None, frame: Any, target: str | None) -> Any:
    """The unfitted ``ColumnTransformer`` that cleans ``frame``'s feature columns.

    Args:
        cleaning: the ``cleaning:`` mapping (keys in the module docstring), or ``None`` for
            the defaults.
        frame: training data (a pandas DataFrame, or anything :func:`read_table` reads); only
            its dtypes are looked at, to decide each column's kind.
        target: the target column, left out of the inputs (``None`` when ``frame`` has none).

    Returns:
        A ``sklearn.compose.ColumnTransformer`` with a ``numeric`` and/or a ``categorical``
        branch; columns of other kinds are dropped (see :func:`plan_columns`).

    Raises:
        InvalidInputError: an unknown or invalid ``cleaning`` key (``field="cleaning.<key>"``),
            or no usable feature column (``field="features"``).
    """
    from sklearn.compose import ColumnTransformer

    config = parse_cleaning(cleaning)
    plan = plan_columns(frame, target)
    for column, reason in plan.dropped.items():
        _log.info("column %r is not a model input: %s", column, reason)
    branches: list[tuple[str, Any, list[str]]] = []
    if plan.numeric:
        branches.append(("numeric", _numeric_branch(config), list(plan.numeric)))
    if plan.categorical:
        branches.append(("categorical", _categorical_branch(config), list(plan.categorical)))
    if not branches:
        raise InvalidInputError(
            "no numeric or categorical feature column to train on; check the features and "
            "their dtypes",
            field="features",
        )
    return ColumnTransformer(branches, remainder="drop")


def _numeric_branch(config: CleaningConfig) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = []
    if config.clip is not None:
        clip = config.clip
        steps.append(("clip", OutlierClipper(clip.method, clip.low, clip.high, clip.factor)))
    fill = config.fill_value if config.numeric_impute == "constant" else None
    # An all-missing column in one fold stays (imputed to 0) rather than warn and vanish.
    imputer = SimpleImputer(
        strategy=config.numeric_impute, fill_value=fill, keep_empty_features=True
    )
    steps.append(("impute", imputer))
    if config.scale == "standard":
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def _categorical_branch(config: CleaningConfig) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    # The grouper always runs: it makes every value a string and maps unseen categories to
    # ``other``; without a ``rare`` setting it keeps every category seen in training.
    grouper = RareCategoryGrouper(config.rare_min_frequency, config.rare_other)
    fill = config.categorical_fill_value if config.categorical_impute == "constant" else None
    imputer = SimpleImputer(strategy=config.categorical_impute, fill_value=fill)
    encoder: Any
    if config.encode == "onehot":
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return Pipeline([("group", grouper), ("impute", imputer), ("encode", encoder)])


def drop_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without repeated rows (first kept, index renumbered); training data only.

    Example:
        >>> len(drop_duplicates(pd.DataFrame({"a": [1, 1, 2]})))
        2
    """
    return frame.drop_duplicates(ignore_index=True)


def resample(
    X: Any, y: Any, strategy: Literal["oversample", "undersample"] = "oversample", seed: int = 0
) -> tuple[Any, Any]:
    """Balance the classes of ``y`` by random over- or undersampling; training data only.

    ``"oversample"`` draws extra rows (with replacement) of every class up to the largest
    class's count; ``"undersample"`` keeps a random subset of every class down to the smallest
    count. Rows keep their original order; pandas inputs come back with a fresh index.

    Args:
        X: features (DataFrame or array), one row per label.
        y: class labels (Series or array).
        strategy: ``"oversample"`` or ``"undersample"``.
        seed: seed of the random draw; the same seed gives the same rows.

    Raises:
        InvalidInputError: an unknown strategy (``field="cleaning.imbalance"``) or ``X`` and
            ``y`` of different lengths.

    Example:
        >>> Xr, yr = resample(np.arange(4).reshape(-1, 1), np.array([0, 0, 0, 1]))
        >>> np.bincount(yr).tolist()
        [3, 3]
    """
    if strategy not in ("oversample", "undersample"):
        raise InvalidInputError(
            f"imbalance strategy must be oversample or undersample, got {strategy!r}",
            field="cleaning.imbalance",
        )
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise InvalidInputError(f"X has {len(X)} rows but y has {len(labels)}", field="y")
    classes, counts = np.unique(labels, return_counts=True)
    goal = counts.max() if strategy == "oversample" else counts.min()
    rng = np.random.default_rng(seed)
    chosen: list[Any] = []
    for label, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == label)
        if strategy == "oversample":
            chosen += [members, rng.choice(members, goal - count, replace=True)]
        else:
            chosen.append(rng.choice(members, goal, replace=False))
    order = np.sort(np.concatenate(chosen)) if chosen else np.arange(0)
    return _take_rows(X, order), _take_rows(y, order)


def _take_rows(data: Any, order: Any) -> Any:
    if isinstance(data, pd.DataFrame | pd.Series):
        return data.iloc[order].reset_index(drop=True)
    return np.asarray(data)[order]
