"""Thresholds learned from reference chunks (mean + 3 sigma of the chunks' distances)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.drift import DriftConfig, detect_drift
from modelkeep.monitor.learned import learned_thresholds
from modelkeep.monitor.summary import summarize


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, rows),
            "b": rng.exponential(1.0, rows),
            "c": rng.choice(["x", "y", "z"], rows),
            "k": np.ones(rows),
        }
    )


def test_distance_columns_get_thresholds_from_the_chunks() -> None:
    reference = _frame(5_000, 0)
    summary = summarize(reference, exact_limit=5_000)

    thresholds = learned_thresholds(summary, reference.sample(2_000, random_state=1))

    assert set(thresholds) == {"a", "b", "c"}  # the constant column keeps its static one
    assert all(0 < value < 0.5 for value in thresholds.values())


def test_learned_thresholds_pass_no_shift_and_catch_a_shift() -> None:
    reference = _frame(5_000, 0)
    summary = summarize(reference, exact_limit=5_000)
    config = DriftConfig(thresholds=learned_thresholds(summary, reference.head(2_000)))

    quiet = [detect_drift(summary, _frame(200, seed), config=config) for seed in range(3, 13)]
    shifted = detect_drift(summary, _frame(200, 99, shift=0.8), config=config)

    false_alarms = sum(r.columns["a"].drifted for r in quiet)
    assert false_alarms <= 1
    assert shifted.columns["a"].drifted


def test_too_small_a_sample_is_refused() -> None:
    reference = _frame(100, 0)
    with pytest.raises(InvalidInputError) as caught:
        learned_thresholds(summarize(reference), reference.head(40))
    assert caught.value.field == "chunks"
