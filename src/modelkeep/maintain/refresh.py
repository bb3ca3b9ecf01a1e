"""The refreshed dataset a retrain runs on, and the holdout the two models are judged on.

Recent labeled production rows come from the inference log joined with the labels that
arrived (``/feedback``): inputs (``input.<column>``) and the label become a row of the
training table. Only rows scored after the champion was trained are used, so neither model
has seen them. A share of them (``retrain.holdout``, drawn at random with a fixed seed) is
kept aside for the evaluation; the rest join the original training data, repeated
``retrain.weight`` times (a weight of 2.5 repeats every row twice and a random half once
more; below 1 a random share is kept) so every model family honours the weighting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import NotFoundError

__all__ = ["RefreshedData", "production_rows", "refresh_data", "weighted"]

INPUT_PREFIX = "input."


@dataclass(frozen=True)
class RefreshedData:
    """What :func:`refresh_data` built.

    Attributes:
        train: the rows to retrain on (original + weighted production rows).
        holdout: recent labeled production rows that neither model trained on (features and
            the target column).
        sources: where the rows came from, for the decision record and the lineage tags.
    """

    train: pd.DataFrame
    holdout: pd.DataFrame
    sources: dict[str, Any] = field(default_factory=dict)


def production_rows(
    root: Path, model: str, features: list[str], target: str, *, since_ms: int, until_ms: int
) -> pd.DataFrame:
    """The labeled predictions of ``model`` scored in ``[since_ms, until_ms)`` as training
    rows (``features`` + ``target``, plus ``request_id`` and ``timestamp``); empty when none.

    Only labels that arrived before ``until_ms`` count, so the same bounds always give the
    same rows (a resumed evaluation splits exactly the rows the challenger was split from).
    """
    from modelkeep.serve.inference_read import read_feedback, read_inference_log

    try:
        log = read_inference_log(root, model, since_ms=since_ms, until_ms=until_ms)
    except NotFoundError:
        return pd.DataFrame(columns=[*features, target])
    log["label"] = _labels_before(read_feedback(root, model), log["request_id"], until_ms)
    labeled = log[log["label"].notna()]
    # The primary and canary answers of one request share a label; shadow copies are not
    # answers: keep one row per request.
    labeled = labeled[labeled["variant"] != "shadow"].drop_duplicates("request_id", keep="first")
    rows = pd.DataFrame(
        {
            name: labeled.get(INPUT_PREFIX + name, pd.Series(np.nan, index=labeled.index))
            for name in features
        }  # fmt: skip
    )
    rows[target] = labeled["label"].to_numpy()
    rows["request_id"] = labeled["request_id"].to_numpy()
    rows["timestamp"] = labeled["timestamp"].to_numpy()
    return rows.reset_index(drop=True)


def _labels_before(feedback: pd.DataFrame, request_ids: pd.Series[Any], until_ms: int) -> Any:
    """Each request's latest label recorded before ``until_ms`` (None where none was)."""
    if feedback.empty:
        return pd.Series([None] * len(request_ids), index=request_ids.index, dtype=object)
    cutoff = pd.Timestamp(until_ms, unit="ms", tz="UTC")
    stamps = pd.to_datetime(feedback["timestamp"], utc=True)
    given = feedback[stamps < cutoff].sort_values("timestamp", kind="stable")
    latest = given.groupby("request_id")["label"].last()
    return request_ids.map(latest)


def weighted(rows: pd.DataFrame, weight: float, seed: int) -> pd.DataFrame:
    """``rows`` repeated ``int(weight)`` times plus a random ``weight % 1`` share."""
    whole, part = int(weight), weight - int(weight)
    pieces = [rows] * whole
    if part > 0:
        pieces.append(rows.sample(frac=part, random_state=seed))
    return pd.concat(pieces, ignore_index=True) if pieces else rows.iloc[:0]


def refresh_data(
    original: pd.DataFrame | None,
    production: pd.DataFrame,
    *,
    target: str,
    holdout_share: float,
    weight: float,
    seed: int = 0,
    task: str = "classification",
) -> RefreshedData:
    """Split ``production`` into holdout and training rows and join the latter to
    ``original`` (None when the policy leaves the original data out)."""
    order = np.random.default_rng(seed).permutation(len(production))
    n_holdout = int(round(len(production) * holdout_share))
    holdout_rows = production.iloc[order[:n_holdout]]
    train_rows = production.iloc[order[n_holdout:]]
    columns = list(original.columns) if original is not None else None
    extra = weighted(train_rows, weight, seed)
    extra = extra[[c for c in (columns or extra.columns) if c in extra.columns]]
    if original is not None:
        train = pd.concat([original, _like(extra, original)], ignore_index=True)
    else:
        train = extra.drop(columns=["request_id", "timestamp"], errors="ignore")
    sources: dict[str, Any] = {
        "original_rows": 0 if original is None else len(original),
        "production_rows": len(production),
        "production_train_rows": len(train_rows),
        "production_weight": weight,
        "holdout_rows": len(holdout_rows),
        "rows": len(train),
    }
    if task == "classification" and len(holdout_rows):
        sources["holdout_classes"] = {
            str(k): int(v) for k, v in holdout_rows[target].value_counts().items()
        }
    return RefreshedData(train.reset_index(drop=True), holdout_rows.reset_index(drop=True),
                         sources)  # fmt: skip


def _like(rows: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the original's dtypes where they convert (labels logged as text or
    floats become the original's integers again)."""
    out = rows.copy()
    for column in out.columns:
        if column in original.columns:
            try:
                out[column] = out[column].astype(original[column].dtype)
            except (TypeError, ValueError):
                continue
    return out
