"""KernelSHAP on the original columns: python-function models, the k-means background
summary, and models the exact methods do not cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from explain_support import make_rows

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.explain import explain
from modelkeep.explain.kernel import summarize_background

KERNEL = 1e-6  # the efficiency constraint makes KernelSHAP add up to rounding


def test_python_function_model_is_explained_additively_by_kernel(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    result = explain(uris["additive"], rows, settings=settings, allow_code=True, nsamples=64)

    expected = 2 * rows["signal"] + rows["weak"] + (rows["plan"] == "a")
    assert (result.method, result.output_space) == ("kernel", "prediction")
    np.testing.assert_allclose(result.outputs, expected)
    total = result.base_values + result.attributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, result.outputs, atol=KERNEL)
    assert result.additivity_error < KERNEL
    assert result.background == "rows"
    assert 1 <= result.background_rows <= 10


def test_kernel_recovers_an_additive_model_and_gives_an_unused_column_zero(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    # Four columns: 14 coalitions, all enumerated at nsamples=64, so the values are exact.
    result = explain(uris["additive"], rows, settings=settings, allow_code=True, nsamples=64)

    values = result.attributions
    assert np.abs(values["noise"]).max() < 1e-9
    # Additive model: a column's attribution moves exactly with its own term.
    np.testing.assert_allclose(
        values["signal"] - values["signal"].iloc[0],
        2 * (rows["signal"] - rows["signal"].iloc[0]),
        atol=1e-8,
    )
    np.testing.assert_allclose(
        values["weak"] - values["weak"].iloc[0], rows["weak"] - rows["weak"].iloc[0], atol=1e-8
    )


def test_python_function_classifier_is_explained_in_probability(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    result = explain(uris["signal"], rows, settings=settings, allow_code=True, nsamples=64)

    positive = 1 / (1 + np.exp(-3 * rows["signal"].to_numpy()))
    assert result.output_space == "probability"
    assert result.explained_class == [1] * len(rows)
    np.testing.assert_allclose(result.outputs, positive)
    assert result.additivity_error < KERNEL
    others = result.attributions[["weak", "noise", "plan"]].abs().to_numpy()
    assert others.max() < 1e-9


def test_kernel_can_be_asked_for_on_a_tree_model(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    exact = explain(uris["forest"], rows.iloc[:4], settings=settings)
    sampled = explain(
        uris["forest"], rows.iloc[:4], settings=settings, method="kernel", nsamples=64
    )

    assert sampled.method == "kernel"
    assert sampled.additivity_error < KERNEL
    np.testing.assert_allclose(sampled.outputs, exact.outputs)
    # Different backgrounds, same ranking of what matters most on average.
    assert sampled.attributions.abs().mean().idxmax() == "signal"


def test_kernel_is_repeatable_with_its_seed(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    first = explain(uris["forest3"], rows.iloc[:3], settings=settings, method="kernel", nsamples=8)
    again = explain(uris["forest3"], rows.iloc[:3], settings=settings, method="kernel", nsamples=8)

    pd.testing.assert_frame_equal(first.attributions, again.attributions)


def test_python_function_model_needs_allow_code(
    settings: Settings, uris: dict[str, str], rows: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        explain(uris["additive"], rows, settings=settings)

    assert caught.value.field == "allow_code"


def test_background_summary_keeps_real_rows_and_weights_that_sum_to_one() -> None:
    frame = make_rows(200, 3)[["signal", "weak", "plan"]]

    summary, weights = summarize_background(frame, 10, seed=0)

    assert len(summary) == 10
    assert weights.sum() == pytest.approx(1.0)
    assert (weights > 0).all()
    merged = summary.merge(frame, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert set(summary["plan"]) <= {"a", "b", "c"}


def test_background_with_few_distinct_rows_is_kept_with_its_counts() -> None:
    frame = pd.DataFrame({"x": [1.0, 1.0, 1.0, 2.0], "c": ["a", "a", "a", "b"]})

    summary, weights = summarize_background(frame, 10)

    assert summary.to_dict("list") == {"x": [1.0, 2.0], "c": ["a", "b"]}
    np.testing.assert_allclose(weights, [0.75, 0.25])
