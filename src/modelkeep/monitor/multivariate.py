"""Multivariate drift: changes in how features move together, which per-feature tests miss.

Two detectors, following NannyML's conventions so results are comparable:

- :func:`pca_reconstruction_drift` fits a standard scaler and a PCA keeping 65% of the
  variance on the reference (missing numbers imputed with the reference mean, categories
  frequency-encoded), and measures the mean Euclidean distance between the current rows and
  their reconstruction. Its band is learned from reference chunks: the mean of the chunks'
  errors +- 3 standard deviations (lower end floored at 0). Drift when the current error
  leaves the band.
- :func:`domain_classifier_drift` asks a gradient-boosted classifier to tell reference rows
  from current ones; its out-of-fold ROC AUC is 0.5 when it cannot and 1.0 when the two are
  disjoint.

:func:`encode_frames` turns a pair of frames into numeric matrices (categories as integer
codes shared by both frames); the loss model of :mod:`modelkeep.monitor.dle` uses it
too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError

__all__ = [
    "EncodedFrames",
    "MultivariateResult",
    "domain_classifier_drift",
    "encode_frames",
    "pca_reconstruction_drift",
]

BAND_WIDTH = 3.0  # standard deviations either side of the reference mean (NannyML's default)
MAX_CATEGORY_CODES = 254  # below HistGradientBoosting's 255-bin limit for categorical features


@dataclass(frozen=True)
class MultivariateResult:
    """The outcome of one multivariate drift check.

    Attributes:
        method: ``pca_reconstruction`` or ``domain_classifier``.
        statistic: the mean reconstruction error, or the out-of-fold ROC AUC.
        threshold: the value the statistic must reach to count as drift (the upper end of the
            band for the reconstruction error).
        drifted: whether it did (or, for the reconstruction error, fell below the band).
        lower: lower end of the band learned from the reference (reconstruction error only).
        upper: upper end of that band.
        reference_rows: rows of the reference used.
        current_rows: rows of the current data used.
    """

    method: str
    statistic: float
    threshold: float
    drifted: bool
    lower: float | None = None
    upper: float | None = None
    reference_rows: int = 0
    current_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class EncodedFrames:
    """Two frames as float matrices over the same columns.

    Attributes:
        reference: ``(rows, columns)``; NaN where a value is missing.
        current: the same for the current frame.
        columns: the column names, in matrix order.
        categorical: per column, whether it holds category codes (0, 1, ...) rather than
            numbers. Codes are shared by both frames, ordered by reference frequency; the
            rarest categories beyond the first 254 share one code.
    """

    reference: np.ndarray[Any, Any]
    current: np.ndarray[Any, Any]
    columns: list[str]
    categorical: np.ndarray[Any, Any]


def encode_frames(
    reference: Any, current: Any, columns: Sequence[str] | None = None
) -> EncodedFrames:
    """Encode ``reference`` and ``current`` (pandas or polars frames, or 2-D arrays).

    Args:
        reference: the reference rows.
        current: the current rows; must have every column used.
        columns: the columns to use (default: all of the reference's).

    Raises:
        InvalidInputError: a column missing from either frame (``field`` names it), or a
            reference with no columns.
    """
    ref, cur = _as_frame(reference, "reference"), _as_frame(current, "current")
    names = [str(c) for c in (columns if columns is not None else ref.columns)]
    if not names:
        raise InvalidInputError("reference: no columns to compare", field="reference")
    for name in names:
        for frame, side in ((ref, "reference"), (cur, "current")):
            if name not in frame.columns:
                raise InvalidInputError(f"{side} has no column {name!r}", field=name)
    ref_cols, cur_cols, kinds = [], [], []
    for name in names:
        ref_values, cur_values, is_categorical = _encode_column(ref[name], cur[name])
        ref_cols.append(ref_values)
        cur_cols.append(cur_values)
        kinds.append(is_categorical)
    return EncodedFrames(
        reference=np.column_stack(ref_cols) if len(ref) else np.empty((0, len(names))),
        current=np.column_stack(cur_cols) if len(cur) else np.empty((0, len(names))),
        columns=names,
        categorical=np.asarray(kinds, dtype=bool),
    )


def _as_frame(data: Any, field: str) -> pd.DataFrame:
    """``data`` (pandas, polars, or a 2-D array with columns ``x0, x1, ...``) as pandas, with
    text column names."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True).rename(columns=str)
    if hasattr(data, "to_pandas"):
        return pd.DataFrame(data.to_pandas()).reset_index(drop=True).rename(columns=str)
    array = np.asarray(data)
    if array.ndim != 2:
        raise InvalidInputError(f"{field}: a table (2-D) is needed", field=field)
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _encode_column(
    ref: pd.Series[Any], cur: pd.Series[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], bool]:
    if _is_numeric(ref):
        # A current column that arrived as text (JSON payloads) is read as numbers when it can.
        return _as_float(ref), _as_float(cur), False
    # Codes by reference frequency, then the categories only the current rows have.
    known = list(ref.astype(str)[ref.notna()].value_counts().index)
    reference_values = set(known)
    known += [v for v in pd.unique(cur.astype(str)[cur.notna()]) if v not in reference_values]
    lookup = {value: min(code, MAX_CATEGORY_CODES) for code, value in enumerate(known)}
    return _codes(ref, lookup), _codes(cur, lookup), True


def _is_numeric(series: pd.Series[Any]) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series))


def _as_float(series: pd.Series[Any]) -> np.ndarray[Any, Any]:
    if pd.api.types.is_bool_dtype(series) or _is_numeric(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _codes(series: pd.Series[Any], lookup: dict[str, int]) -> np.ndarray[Any, Any]:
    text = series.astype(str).where(series.notna())
    return text.map(lookup).to_numpy(dtype=float, na_value=np.nan)


def pca_reconstruction_drift(
    reference: Any,
    current: Any,
    *,
    variance: float = 0.65,
    chunks: int = 10,
    columns: Sequence[str] | None = None,
) -> MultivariateResult:
    """Drift of the joint structure of the features, by PCA reconstruction error.

    The band comes from ``chunks`` consecutive reference chunks (mean +- 3 standard
    deviations of their errors). Its width is scaled to the current size as 1/sqrt(rows), so
    a window larger or smaller than a chunk is judged at its own sampling error, and widened
    by the uncertainty of the reference mean; for a window the size of a chunk this is
    NannyML's threshold widened by ``sqrt(1 + 1/chunks)`` (5% for 10 chunks).

    Args:
        reference: the reference rows (pandas/polars frame or 2-D array).
        current: the rows to check.
        variance: share of the reference variance the principal components keep.
        chunks: how many reference chunks the band is learned from.
        columns: the columns to use (default: all of the reference's).

    Returns:
        A :class:`MultivariateResult` with ``lower``/``upper`` set.

    Raises:
        InvalidInputError: bad ``variance``/``chunks``, too few rows, a missing column.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame(rng.normal(size=(2000, 3)), columns=["a", "b", "c"])
        >>> pca_reconstruction_drift(ref, ref.iloc[:500]).drifted
        False
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if not 0.0 < variance <= 1.0:
        raise InvalidInputError("variance: must be in (0, 1]", field="variance")
    if chunks < 2:
        raise InvalidInputError("chunks: at least 2 are needed for a band", field="chunks")
    encoded = encode_frames(reference, current, columns)
    _require_rows(encoded.reference, 2 * chunks, "reference")
    _require_rows(encoded.current, 1, "current")
    ref, cur = _pca_inputs(encoded)
    scaler = StandardScaler().fit(ref)
    pca = PCA(n_components=variance if variance < 1.0 else None, svd_solver="full")
    pca.fit(scaler.transform(ref))

    def errors(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        scaled = scaler.transform(matrix)
        restored = pca.inverse_transform(pca.transform(scaled))
        return np.asarray(np.linalg.norm(scaled - restored, axis=1))

    chunk_errors = [float(part.mean()) for part in np.array_split(errors(ref), chunks)]
    center, spread = float(np.mean(chunk_errors)), float(np.std(chunk_errors))  # ddof=0
    # The chunks' spread is for chunk-sized samples: rescale it to the window's size, and add
    # the uncertainty of the reference mean itself (the window is not part of it).
    spread *= float(np.sqrt(len(ref) / chunks * (1 / len(cur) + 1 / len(ref))))
    lower = max(0.0, center - BAND_WIDTH * spread)
    upper = center + BAND_WIDTH * spread
    statistic = float(errors(cur).mean())
    return MultivariateResult(
        method="pca_reconstruction",
        statistic=statistic,
        threshold=upper,
        # A reference that reconstructs perfectly (as many components as features) has a band
        # of zero width: only a different error is drift then.
        drifted=not lower < statistic < upper and not np.isclose(statistic, center),
        lower=lower,
        upper=upper,
        reference_rows=len(ref),
        current_rows=len(cur),
    )


def _pca_inputs(encoded: EncodedFrames) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Impute numbers with the reference mean; replace category codes by their reference
    frequency (a missing category takes the most frequent one's, an unseen one 0)."""
    ref, cur = encoded.reference.copy(), encoded.current.copy()
    for j, is_categorical in enumerate(encoded.categorical):
        if is_categorical:
            codes = ref[:, j][~np.isnan(ref[:, j])].astype(int)
            counts = np.bincount(codes, minlength=MAX_CATEGORY_CODES + 1).astype(float)
            frequency = counts / max(len(ref), 1)
            fill = float(frequency.max())
            for matrix in (ref, cur):
                column = matrix[:, j]
                present = ~np.isnan(column)
                column[present] = frequency[column[present].astype(int)]
                column[~present] = fill
        else:
            observed = ref[:, j][~np.isnan(ref[:, j])]
            fill = float(observed.mean()) if observed.size else 0.0
            for matrix in (ref, cur):
                matrix[np.isnan(matrix[:, j]), j] = fill
    return ref, cur


def domain_classifier_drift(
    reference: Any,
    current: Any,
    *,
    threshold: float = 0.55,
    folds: int = 5,
    seed: int = 0,
    columns: Sequence[str] | None = None,
    max_rows: int = 50_000,
) -> MultivariateResult:
    """Drift as how well a classifier tells current rows from reference rows.

    A histogram gradient-boosting classifier (categories as categorical features, missing
    values kept) is cross-validated over stratified folds; the statistic is the ROC AUC of its
    out-of-fold scores. Drift when it reaches ``threshold`` and is also more than 3 null
    standard errors above 0.5 (the Mann-Whitney spread at no shift), so a small window cannot
    fire by chance: the reported ``threshold`` is the larger of the two.

    Args:
        reference: the reference rows (pandas/polars frame or 2-D array).
        current: the rows to check.
        threshold: the ROC AUC that counts as drift.
        folds: cross-validation folds.
        seed: for the folds, the classifier and the row sample.
        columns: the columns to use (default: all of the reference's).
        max_rows: each side is sampled down to this many rows first.

    Raises:
        InvalidInputError: bad ``threshold``/``folds``, fewer rows than folds on a side, a
            missing column.
    """
    if not 0.5 <= threshold <= 1.0:
        raise InvalidInputError("threshold: a ROC AUC in [0.5, 1]", field="threshold")
    if folds < 2:
        raise InvalidInputError("folds: at least 2", field="folds")
    encoded = encode_frames(reference, current, columns)
    rng = np.random.default_rng(seed)
    ref = _sample_rows(encoded.reference, max_rows, rng)
    cur = _sample_rows(encoded.current, max_rows, rng)
    _require_rows(ref, folds, "reference")
    _require_rows(cur, folds, "current")
    features = np.vstack([ref, cur])
    target = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    auc = _out_of_fold_auc(features, target, encoded.categorical, folds, seed)
    null_se = np.sqrt((len(ref) + len(cur) + 1) / (12.0 * len(ref) * len(cur)))
    effective = max(threshold, 0.5 + BAND_WIDTH * float(null_se))
    return MultivariateResult(
        method="domain_classifier",
        statistic=auc,
        threshold=effective,
        drifted=auc >= effective,
        reference_rows=len(ref),
        current_rows=len(cur),
    )


def _out_of_fold_auc(
    features: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    categorical: np.ndarray[Any, Any],
    folds: int,
    seed: int,
) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    scores = np.empty(len(target))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, target):
        model = HistGradientBoostingClassifier(
            categorical_features=categorical if categorical.any() else None,
            early_stopping=False,
            random_state=seed,
        )
        model.fit(features[train], target[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    return float(roc_auc_score(target, scores))


def _sample_rows(
    matrix: np.ndarray[Any, Any], limit: int, rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    if len(matrix) <= limit:
        return matrix
    return matrix[np.sort(rng.choice(len(matrix), limit, replace=False))]


def _require_rows(matrix: np.ndarray[Any, Any], needed: int, field: str) -> None:
    if len(matrix) < needed:
        raise InvalidInputError(
            f"{field}: {len(matrix)} rows, at least {needed} are needed", field=field
        )
