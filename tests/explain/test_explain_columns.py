"""Tracing a preprocessor's output columns back to the original input columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from explain_support import make_rows
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelkeep.data.cleaning import build_preprocessor
from modelkeep.explain.columns import UnmappableError, aggregation_matrix, source_columns


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_rows(60, 4)[["signal", "weak", "plan", "noise"]]


def test_house_preprocessor_maps_scaled_and_one_hot_columns_back(frame: pd.DataFrame) -> None:
    prep = build_preprocessor({"rare": 0.01, "clip": "iqr"}, frame, None).fit(frame)

    sources = source_columns(prep, list(frame.columns))

    width = prep.transform(frame).shape[1]
    # numeric branch first (signal, weak, noise), then plan's three one-hot columns
    assert sources == [0, 1, 3, 2, 2, 2]
    assert len(sources) == width


def test_passthrough_remainder_and_nested_pipelines(frame: pd.DataFrame) -> None:
    prep = ColumnTransformer(
        [
            ("cat", Pipeline([("fill", SimpleImputer(strategy="most_frequent")),
                              ("hot", OneHotEncoder())]), ["plan"]),
            ("num", StandardScaler(), [0]),
        ],
        remainder="passthrough",
    ).fit(frame)  # fmt: skip

    sources = source_columns(Pipeline([("prep", prep)]), list(frame.columns))

    assert sources == [2, 2, 2, 0, 1, 3]


def test_longest_column_name_wins_for_one_hot_names() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "x"], "a_b": ["u", "v", "u"]})
    encoder = OneHotEncoder().fit(frame)

    assert source_columns(encoder, ["a", "a_b"]) == [0, 0, 1, 1]


def test_a_transformer_that_mixes_columns_cannot_be_traced(frame: pd.DataFrame) -> None:
    numeric = frame[["signal", "weak", "noise"]]
    mixing = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2))]).fit(numeric)

    with pytest.raises(UnmappableError):
        source_columns(mixing, list(numeric.columns))


def test_aggregation_matrix_sums_per_source() -> None:
    matrix = aggregation_matrix([0, 1, 1, 2], 4)

    summed = np.array([[1.0, 2.0, 3.0, 4.0]]) @ matrix

    np.testing.assert_allclose(summed, [[1.0, 5.0, 4.0, 0.0]])
