"""The quickstart's data: a generated churn table with realistic defects, and production traffic.

Everything is drawn with numpy from fixed seeds; nothing is downloaded.

The training table (:func:`training_table`) has numeric and categorical columns and the
defects real tables have: missing values (``monthly_charges``, ``region``), repeated rows, an
outlier column (``data_usage_gb``, where a few meter readings are about 40 times too large)
and a mild class imbalance (under a third of the customers churn). Churn follows one
concept: high charges, short tenure, many support calls, the basic plan and vouchers push it
up.

Production traffic (:func:`production_rows`) comes in two flavours. ``normal`` rows are drawn
like the training rows (without the defects). ``drifted`` rows are a new cohort that a
promotion brought in: charges moved far up (about 140 a month instead of 65, covariate
shift), the premium plan dominates and tenure is short; and churn follows a new concept there
(concept shift): these customers leave when they call support often or are in their first
months, whatever they pay. A model trained on the old concept calls nearly all of them
churners.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "FEATURES",
    "TARGET",
    "production_rows",
    "training_table",
    "validation_rules",
]

TARGET = "churned"
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "data_usage_gb",
    "plan",
    "region",
    "payment",
)
CATEGORIES: dict[str, tuple[str, ...]] = {
    "plan": ("basic", "standard", "premium"),
    "region": ("north", "south", "east", "west"),
    "payment": ("card", "bank", "voucher"),
}
_MISSING = {"monthly_charges": 0.06, "region": 0.04}
_DUPLICATES = 0.03
_OUTLIERS = 0.015


def _customers(rng: np.random.Generator, n: int, *, drifted: bool) -> pd.DataFrame:
    """Feature columns of ``n`` customers (the old population, or the new cohort)."""
    if drifted:
        tenure = rng.gamma(1.5, 4.0, n)
        charges = rng.normal(140.0, 15.0, n)
        plan = rng.choice(CATEGORIES["plan"], n, p=[0.1, 0.2, 0.7])
    else:
        tenure = rng.gamma(2.0, 15.0, n)
        charges = rng.normal(65.0, 20.0, n)
        plan = rng.choice(CATEGORIES["plan"], n, p=[0.45, 0.35, 0.2])
    return pd.DataFrame(
        {
            "tenure_months": np.clip(np.round(tenure), 0, 72).astype(np.int64),
            "monthly_charges": np.round(np.clip(charges, 15.0, None), 2),
            "support_calls": np.minimum(rng.poisson(1.5, n), 6).astype(np.int64),
            "data_usage_gb": np.round(rng.lognormal(2.3, 0.5, n), 2),
            "plan": plan,
            "region": rng.choice(CATEGORIES["region"], n),
            "payment": rng.choice(CATEGORIES["payment"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def _old_concept(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    score = (
        1.1 * (frame["monthly_charges"] - 65.0) / 20.0
        - 1.2 * (frame["tenure_months"] - 30.0) / 20.0
        + 0.6 * (frame["support_calls"] - 1.5)
        + 0.7 * (frame["plan"] == "basic")
        + 0.5 * (frame["payment"] == "voucher")
        + rng.normal(0.0, 0.5, len(frame))
    )
    return (score > 1.6).to_numpy().astype(np.int64)


def _new_concept(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    leaves = (frame["support_calls"] >= 3) | (frame["tenure_months"] <= 2)
    flipped = rng.random(len(frame)) < 0.05  # a little label noise
    return (leaves ^ flipped).to_numpy().astype(np.int64)


def training_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` customers of the old population with the defects of the module docstring
    (the repeated rows come on top, so the table is a little longer than ``rows``)."""
    rng = np.random.default_rng(seed)
    frame = _customers(rng, rows, drifted=False)
    frame[TARGET] = _old_concept(rng, frame)
    _blank(rng, frame)
    outliers = rng.random(rows) < _OUTLIERS
    frame.loc[outliers, "data_usage_gb"] = np.round(frame.loc[outliers, "data_usage_gb"] * 40, 2)
    repeated = frame.sample(frac=_DUPLICATES, random_state=seed)
    frame = pd.concat([frame, repeated], ignore_index=True)
    return frame.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)


def production_rows(rows: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """``rows`` production customers with their (later known) labels in :data:`TARGET`;
    values go missing as often as in the training table."""
    rng = np.random.default_rng(seed)
    frame = _customers(rng, rows, drifted=drifted)
    frame[TARGET] = _new_concept(rng, frame) if drifted else _old_concept(rng, frame)
    _blank(rng, frame)
    return frame


def _blank(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Blank out values of the columns that go missing (after the labels were drawn)."""
    for column, share in _MISSING.items():
        frame.loc[rng.random(len(frame)) < share, column] = np.nan


def validation_rules() -> str:
    """Validation rules (YAML) that the business knows hold: what the table is checked
    against before training."""
    return (
        "columns:\n"
        "  tenure_months: {dtype: integer, not_null: true, range: {min: 0, max: 72}}\n"
        "  monthly_charges: {dtype: numeric, not_null: true, range: {min: 0, max: 250}}\n"
        "  support_calls: {dtype: integer, not_null: true, range: {min: 0, max: 30}}\n"
        "  data_usage_gb: {dtype: numeric, not_null: true, range: {min: 0, max: 200}}\n"
        "  plan: {allowed: [basic, standard, premium], not_null: true}\n"
        "  region: {allowed: [north, south, east, west], not_null: true}\n"
        "  payment: {allowed: [card, bank, voucher], not_null: true}\n"
        "  churned: {allowed: [0, 1], not_null: true}\n"
    )
