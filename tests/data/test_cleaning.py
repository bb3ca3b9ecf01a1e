"""Cleaning transformers, the preprocessor built from a ``cleaning:`` config, and the
training-only row steps (drop duplicates, resampling)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import SkipTestWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import check_estimator

from modelkeep.data.cleaning import (
    OutlierClipper,
    RareCategoryGrouper,
    build_preprocessor,
    drop_duplicates,
    parse_cleaning,
    plan_columns,
    resample,
)
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.allowlist import is_allowed
from modelkeep.registry.package import load_package, save_package


def _messy_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Missing values, outliers and rare categories in every kind of feature column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100.0, 10.0, size=n),
            "count": rng.integers(0, 20, size=n),
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], size=n, p=[0.5, 0.3, 0.18, 0.02]),
            "member": rng.random(n) > 0.5,
            "signup": pd.date_range("2024-01-01", periods=n, freq="h"),
        }
    )
    frame.loc[::9, "amount"] = np.nan
    frame.loc[[5, n - 3], "amount"] = [1e7, -1e7]
    frame.loc[::13, "city"] = None
    frame["label"] = ((frame["count"] > 9) ^ (frame["city"] == "rome")).astype(int)
    return frame


def _unseen_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [np.nan, 5e9, 99.0],
            "count": [3, 7, 40],
            "city": ["atlantis", None, "oslo"],
            "member": [True, False, True],
            "signup": pd.to_datetime(["2030-01-01", None, "2024-01-01"]),
        }
    )


def _fitted_model(cleaning: dict[str, Any] | None = None) -> tuple[Pipeline, pd.DataFrame]:
    frame = _messy_frame()
    X, y = frame.drop(columns="label"), frame["label"]
    config = {"clip": "iqr", "rare": 0.05} if cleaning is None else cleaning
    prep = build_preprocessor(config, frame, "label")
    model = make_pipeline(prep, RandomForestClassifier(n_estimators=8, random_state=0))
    return model.fit(X, y), X


# -- configuration -------------------------------------------------------------------------


def test_an_empty_config_means_the_defaults() -> None:
    config = parse_cleaning(None)
    assert (config.numeric_impute, config.categorical_impute) == ("median", "most_frequent")
    assert (config.clip, config.rare_min_frequency, config.encode, config.scale) == (
        None,
        0.0,
        "onehot",
        "standard",
    )
    assert (config.drop_duplicates, config.imbalance) == (False, None)
    assert parse_cleaning({}) == config


def test_the_shorthand_and_full_forms_are_the_same_config() -> None:
    short = parse_cleaning({"clip": "iqr", "rare": 0.05})
    full = parse_cleaning({"clip": {"method": "iqr"}, "rare": {"min_frequency": 0.05}})
    assert short == full
    assert short.to_dict()["clip"] == {"method": "iqr", "low": 0.01, "high": 0.99, "factor": 1.5}


@pytest.mark.parametrize(
    ("cleaning", "field"),
    [
        ({"imput": {}}, "cleaning.imput"),
        ({"impute": {"numeric": "mode"}}, "cleaning.impute.numeric"),
        ({"impute": {"categorical": "median"}}, "cleaning.impute.categorical"),
        ({"impute": {"strategy": "mean"}}, "cleaning.impute.strategy"),
        ({"impute": {"fill_value": "zero"}}, "cleaning.impute.fill_value"),
        ({"clip": {"method": "zscore"}}, "cleaning.clip.method"),
        ({"clip": {"low": 0.9, "high": 0.1}}, "cleaning.clip.low"),
        ({"clip": {"factor": -1}}, "cleaning.clip.factor"),
        ({"clip": {"mthod": "iqr"}}, "cleaning.clip.mthod"),
        ({"rare": {"min_freq": 0.1}}, "cleaning.rare.min_freq"),
        ({"rare": 1.5}, "cleaning.rare.min_frequency"),
        ({"encode": "hash"}, "cleaning.encode"),
        ({"scale": "minmax"}, "cleaning.scale"),
        ({"drop_duplicates": "yes"}, "cleaning.drop_duplicates"),
        ({"imbalance": "smote"}, "cleaning.imbalance"),
        ([("clip", "iqr")], "cleaning"),
    ],
)
def test_a_bad_cleaning_key_is_named(cleaning: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_preprocessor(cleaning, _messy_frame(20), "label")
    assert caught.value.field == field
    assert field in caught.value.message


def test_columns_are_sorted_by_dtype_and_datetimes_are_dropped() -> None:
    frame = _messy_frame(20)
    frame["tier"] = pd.Categorical(["a", "b"] * 10)
    plan = plan_columns(frame, "label")
    assert plan.numeric == ("amount", "count")
    assert plan.categorical == ("city", "member", "tier")
    assert list(plan.dropped) == ["signup"]
    assert "datetime" in plan.dropped["signup"]


def test_a_frame_without_usable_features_is_refused() -> None:
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3), "y": [0, 1, 0]})
    with pytest.raises(InvalidInputError) as caught:
        build_preprocessor({}, frame, "y")
    assert caught.value.field == "features"


# -- the transformers ----------------------------------------------------------------------


def test_quantile_clipping_bounds_each_column_and_keeps_missing_values() -> None:
    X = np.array([[float(i), 1.0] for i in range(101)] + [[np.nan, 1.0]])
    clipper = OutlierClipper(method="quantile", low=0.1, high=0.9).fit(X)
    assert clipper.lower_.tolist() == [10.0, 1.0]
    assert clipper.upper_.tolist() == [90.0, 1.0]
    out = clipper.transform(np.array([[-5.0, 3.0], [500.0, 0.0], [np.nan, 1.0]]))
    assert out[:2].tolist() == [[10.0, 1.0], [90.0, 1.0]]
    assert np.isnan(out[2, 0])


def test_iqr_clipping_uses_the_interquartile_range() -> None:
    clipper = OutlierClipper(method="iqr", factor=1.5).fit(np.array([[1.0], [2.0], [3.0], [4.0]]))
    # Q1 = 1.75, Q3 = 3.25, IQR = 1.5
    assert clipper.lower_.tolist() == [1.75 - 2.25]
    assert clipper.upper_.tolist() == [3.25 + 2.25]


def test_a_column_without_values_is_not_clipped() -> None:
    clipper = OutlierClipper().fit(np.array([[np.nan, 1.0], [np.nan, 2.0]]))
    assert clipper.lower_[0] == -np.inf and clipper.upper_[0] == np.inf
    assert clipper.transform(np.array([[7.0, 1.5]]))[0, 0] == 7.0


def test_rare_and_unseen_categories_become_other_and_missing_stays_missing() -> None:
    train = pd.DataFrame({"city": ["oslo"] * 6 + ["rome"] * 3 + ["kyiv", None]})
    grouper = RareCategoryGrouper(min_frequency=0.2).fit(train)
    assert grouper.categories_ == [["oslo", "rome"]]
    out = grouper.transform(pd.DataFrame({"city": ["rome", "kyiv", "atlantis", None]}))
    assert out[:3, 0].tolist() == ["rome", "__other__", "__other__"]
    assert np.isnan(out[3, 0])
    assert grouper.get_feature_names_out().tolist() == ["city"]


def test_min_frequency_may_be_a_row_count() -> None:
    grouper = RareCategoryGrouper(min_frequency=3, other="RARE").fit([["a"], ["a"], ["a"], ["b"]])
    assert grouper.transform([["a"], ["b"]]).ravel().tolist() == ["a", "RARE"]


def test_categories_are_compared_as_text() -> None:
    grouper = RareCategoryGrouper(min_frequency=0).fit(np.array([[True], [False], [1]], object))
    assert grouper.categories_ == [["1", "False", "True"]]


@pytest.mark.parametrize("bad", [1.5, -0.1, "often", True])
def test_a_bad_min_frequency_fails_at_fit(bad: Any) -> None:
    with pytest.raises(ValueError, match="min_frequency"):
        RareCategoryGrouper(min_frequency=bad).fit([["a"]])


def test_the_clipper_passes_scikit_learns_estimator_checks() -> None:
    for estimator in (OutlierClipper(), OutlierClipper(method="iqr")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkipTestWarning)
            results = check_estimator(estimator, on_fail=None)
        assert [r["check_name"] for r in results if r["status"] == "failed"] == []


def test_the_grouper_passes_scikit_learns_checks_that_do_not_expect_numbers_out() -> None:
    not_numbers = (
        "check_complex_data",
        "check_pipeline_consistency",
        "check_estimators_pickle",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit_idempotent",
    )
    expected = dict.fromkeys(not_numbers, "returns categories as text, not numbers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(
            RareCategoryGrouper(), on_fail=None, expected_failed_checks=expected
        )
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []
    assert sum(r["status"] == "passed" for r in results) > 20


# -- the preprocessor in a pipeline --------------------------------------------------------


def test_a_fitted_pipeline_handles_unseen_categories_and_missing_values() -> None:
    model, X = _fitted_model()
    prep = model[0]
    unseen = _unseen_frame()
    features = prep.transform(unseen)
    assert features.shape == (3, len(prep.get_feature_names_out()))
    assert np.isfinite(features).all()
    assert model.predict(unseen).shape == (3,)
    assert model.predict_proba(unseen).shape == (3, 2)
    names = prep.get_feature_names_out().tolist()
    assert "categorical__city___other__" in names  # kyiv (2%) was grouped
    assert not any("signup" in name for name in names)


def test_clipping_limits_what_the_scaler_sees() -> None:
    model, X = _fitted_model({"clip": {"method": "quantile", "low": 0.05, "high": 0.95}})
    clipper = model[0].named_transformers_["numeric"].named_steps["clip"]
    assert clipper.upper_[0] < 200.0 < 1e7
    scaled = model[0].transform(X)[:, 0]
    assert np.abs(scaled).max() < 5.0


def test_ordinal_encoding_without_scaling_and_constant_imputation() -> None:
    cleaning = {
        "encode": "ordinal",
        "scale": "none",
        "impute": {"numeric": "constant", "fill_value": -1, "categorical": "constant"},
    }
    model, _ = _fitted_model(cleaning)
    out = model[0].transform(_unseen_frame())
    names = model[0].get_feature_names_out().tolist()
    assert names == [
        "numeric__amount",
        "numeric__count",
        "categorical__city",
        "categorical__member",
    ]
    assert out[0, 0] == -1.0  # the missing amount, filled with the constant
    assert out[1, 0] == 5e9  # no clipping configured, no scaling either
    encoder = model[0].named_transformers_["categorical"].named_steps["encode"]
    city = encoder.categories_[0].tolist()
    assert "__missing__" in city and out[1, 2] == city.index("__missing__")


def test_a_pipeline_saves_and_loads_bit_identically_without_allow_code(tmp_path: Path) -> None:
    model, X = _fitted_model()
    manifest, root = save_package(model, tmp_path / "pkg", input_example=X.head(5))
    types = manifest.flavor_options["trusted_types"]
    assert "modelkeep.data.cleaning.OutlierClipper" in types
    assert "modelkeep.data.cleaning.RareCategoryGrouper" in types
    loaded = load_package(tmp_path / "pkg", expected_root_digest=root)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # The signature (from the example) says signup has no missing values: keep to it.
    unseen = _unseen_frame().assign(signup=pd.Timestamp("2031-01-01"))
    assert np.array_equal(loaded.predict_proba(unseen), model.predict_proba(unseen))


def test_only_the_named_modelkeep_classes_are_allowlisted() -> None:
    assert is_allowed("modelkeep.data.cleaning.OutlierClipper")
    assert is_allowed("modelkeep.data.cleaning.RareCategoryGrouper")
    assert is_allowed("modelkeep.train.gd.GradientDescentRegressor")
    assert not is_allowed("modelkeep.data.cleaning.build_preprocessor")
    assert not is_allowed("modelkeep.registry.package.save_package")
    assert not is_allowed("modelkeep.data.cleaning.OutlierClipperX")


def test_the_preprocessor_clones_and_refits_the_same_way() -> None:
    model, X = _fitted_model()
    y = _messy_frame()["label"]
    again = clone(model).fit(X, y)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


def test_a_cleaned_pipeline_learns_a_bundled_dataset() -> None:
    frame = load_wine(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["target"])
    prep = build_preprocessor({"clip": "iqr"}, train, "target")
    model = make_pipeline(prep, RandomForestClassifier(n_estimators=20, random_state=0))
    model.fit(train.drop(columns="target"), train["target"])
    assert model.score(test.drop(columns="target"), test["target"]) > 0.85


# -- training-only row steps ---------------------------------------------------------------


def test_drop_duplicates_keeps_the_first_of_each_repeated_row() -> None:
    frame = pd.DataFrame({"a": [1, 1, 2, 1], "b": ["x", "x", "y", "z"]})
    out = drop_duplicates(frame)
    assert out.to_dict("list") == {"a": [1, 2, 1], "b": ["x", "y", "z"]}
    assert out.index.tolist() == [0, 1, 2]


def test_oversampling_repeats_minority_rows_up_to_the_majority() -> None:
    X = pd.DataFrame({"v": range(10)}, index=range(100, 110))
    y = pd.Series([0] * 8 + [1] * 2, index=X.index)
    Xr, yr = resample(X, y, "oversample", seed=1)
    assert yr.value_counts().to_dict() == {0: 8, 1: 8}
    assert set(Xr.loc[yr == 1, "v"]) == {8, 9}
    assert Xr.index.tolist() == list(range(16)) and (Xr["v"] >= 8).tolist() == (yr == 1).tolist()
    again = resample(X, y, "oversample", seed=1)
    assert again[0].equals(Xr)


def test_undersampling_keeps_a_subset_of_each_class_down_to_the_minority() -> None:
    X = np.arange(20).reshape(10, 2)
    y = np.array(["a"] * 7 + ["b"] * 3)
    Xr, yr = resample(X, y, "undersample", seed=0)
    assert sorted(yr.tolist()) == ["a"] * 3 + ["b"] * 3
    assert {tuple(row) for row in Xr[yr == "b"]} == {(14, 15), (16, 17), (18, 19)}


def test_resample_refuses_an_unknown_strategy_and_mismatched_lengths() -> None:
    with pytest.raises(InvalidInputError) as caught:
        resample(np.zeros((2, 1)), np.array([0, 1]), "smote")  # type: ignore[arg-type]
    assert caught.value.field == "cleaning.imbalance"
    with pytest.raises(InvalidInputError):
        resample(np.zeros((3, 1)), np.array([0, 1]))
