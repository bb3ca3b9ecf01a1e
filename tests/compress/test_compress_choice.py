"""The choice rule: tolerance, fidelity floor, ties, and keeping the original."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from compress_support import FAST_CALLS, classification_table, features, register, store_settings
from sklearn.ensemble import RandomForestClassifier

from modelkeep.compress import compress
from modelkeep.compress.choose import choose
from modelkeep.exceptions import NotFoundError
from modelkeep.tracking import Client


def test_zero_tolerance_without_an_equal_variant_keeps_the_original(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(200, seed=11)
    model = RandomForestClassifier(n_estimators=10, random_state=0)
    model.fit(features(train, "label"), train["label"])
    uri = register(settings, model, features(train, "label"), "forest")
    # Scored on its own training rows the full forest is near perfect; fewer trees are not.
    result = compress(
        uri,
        train,
        "label",
        0.0,
        families=["fewer_trees"],
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    others = result.variants[result.variants["variant"] != "original"]
    assert len(others) == 6 and (others["metric_drop"] > 0).all()
    assert not others["within_tolerance"].any()
    assert result.chosen == "original" and result.version is None
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        assert client.get_model_version("forest", "latest").version == 1
        with pytest.raises(NotFoundError):
            client.get_model_version("forest", 2)


def test_min_fidelity_one_picks_only_identical_labels(tmp_path: Path) -> None:
    settings = store_settings(tmp_path)
    train = classification_table(200, seed=11)
    model = RandomForestClassifier(n_estimators=10, random_state=0)
    model.fit(features(train, "label"), train["label"])
    uri = register(settings, model, features(train, "label"), "forest")
    result = compress(
        uri,
        classification_table(200, seed=12),
        "label",
        1.0,
        families=["onnx", "fewer_trees"],
        min_fidelity=1.0,
        register=False,
        single_row_calls=FAST_CALLS,
        settings=settings,
    )
    table = result.variants.set_index("variant")
    assert table.loc[result.chosen, "fidelity"] == 1.0
    assert set(table.index[table["within_tolerance"]]) == set(table.index[table["fidelity"] == 1])


def _table(rows: list[tuple[str, float, int, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["variant", "latency_1row_ms", "size_bytes", "within_tolerance"]
    )


def test_the_fastest_within_tolerance_wins() -> None:
    table = _table(
        [
            ("original", 5.0, 5000, True),
            ("a", 0.02, 900, True),
            ("b", 0.01, 800, False),  # faster and smaller, but out of tolerance
            ("c", 0.05, 100, True),
        ]
    )
    assert choose(table) == "a"


def test_latencies_within_ten_percent_tie_and_the_smaller_package_wins() -> None:
    table = _table(
        [
            ("original", 5.0, 5000, True),
            ("fast", 0.0200, 900, True),
            ("small", 0.0215, 300, True),  # 7.5% slower: a tie
            ("smaller", 0.0230, 100, True),  # 15% slower: not a tie
        ]
    )
    assert choose(table) == "small"


def test_only_the_original_within_tolerance_is_chosen() -> None:
    table = _table([("original", 5.0, 5000, True), ("a", 0.02, 900, False)])
    assert choose(table) == "original"
