"""detect_drift and the dataset summaries: Evidently's method choice, statistics against scipy
and Evidently's binning, false alarms and detection, corrections, inputs, JSON, streaming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as scipy_stats
from scipy.spatial import distance

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.drift import DriftConfig, DriftResult, detect_drift
from modelkeep.monitor.summary import OTHER, DatasetSummary, summarize


def _mixed(rows: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Columns of every kind; ``shifted`` moves the ``s_`` ones."""
    rng = np.random.default_rng(seed)
    s = 1.0 if shifted else 0.0
    cat_shares = [0.25] * 4 if shifted else [0.55, 0.25, 0.15, 0.05]
    few_shares = [0.2, 0.3, 0.5] if shifted else [0.6, 0.3, 0.1]
    frame = pd.DataFrame({
        "s_mean": rng.normal(0.6 * s, 1.0, rows),
        "s_scale": rng.normal(0.0, 1.0 + 0.8 * s, rows),
        "s_cat": rng.choice(list("abcd"), rows, p=cat_shares),
        "s_few": rng.choice([0.0, 1.0, 2.0], rows, p=few_shares),
        "same_num": rng.exponential(2.0, rows),
        "same_cat": rng.choice(["x", "y", "z"], rows, p=[0.5, 0.3, 0.2]),
        "same_bin": rng.choice(["yes", "no"], rows),
        "same_missing": rng.normal(3.0, 1.0, rows),
    })  # fmt: skip
    frame.loc[rng.random(rows) < 0.1, "same_missing"] = np.nan
    frame.loc[rng.random(rows) < 0.01, "same_num"] = np.inf
    return frame


def _decisions(result: DriftResult) -> dict[str, tuple[str, bool]]:
    return {name: (c.method, c.drifted) for name, c in result.columns.items()}


def _finite(series: pd.Series[Any]) -> np.ndarray:
    values = series.to_numpy(dtype=np.float64)
    return values[np.isfinite(values)]


# ---- Evidently's binning, written out as Evidently 0.7 writes it (the oracles) ---------------
def _evidently_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur)


def _evidently_hellinger(ref: np.ndarray, cur: np.ndarray) -> float:
    keys = np.union1d(ref, cur)
    bins = np.histogram_bin_edges(keys, bins="sturges")
    h1 = np.histogram(ref, bins=bins, density=True)[0]
    h2 = np.histogram(cur, bins=bins, density=True)[0]
    width = (max(bins) - min(bins)) / (len(bins) - 1)
    return float(np.sqrt(1 - np.clip(np.sum(np.sqrt(h1 * h2) * width), 0, 1)))


def _decile_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
    p = np.bincount(np.searchsorted(edges, ref), minlength=edges.size + 1) / ref.size
    q = np.bincount(np.searchsorted(edges, cur), minlength=edges.size + 1) / cur.size
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def _category_shares(ref: pd.Series[Any], cur: pd.Series[Any]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(ref) | set(cur))
    counts_ref, counts_cur = ref.value_counts(), cur.value_counts()
    return (
        np.array([counts_ref.get(k, 0) for k in keys], dtype=np.float64),
        np.array([counts_cur.get(k, 0) for k in keys], dtype=np.float64),
    )


# ---- method choice ---------------------------------------------------------------------------
def test_default_methods_follow_evidentlys_choice() -> None:
    rng = np.random.default_rng(1)
    small, large = _mixed(600, 1), _mixed(3000, 2)
    small["binary_num"] = rng.choice([0.0, 1.0], 600)
    large["binary_num"] = rng.choice([0.0, 1.0], 3000)
    large["int_few"] = rng.integers(0, 8, 3000)
    large["int_many"] = rng.integers(0, 500, 3000)
    current_small = _mixed(700, 3).assign(binary_num=rng.choice([0.0, 1.0], 700))
    small_methods = {n: c.method for n, c in detect_drift(small, current_small).columns.items()}
    assert small_methods == {
        "s_mean": "ks", "s_scale": "ks", "s_cat": "chisquare", "s_few": "chisquare",
        "same_num": "ks", "same_cat": "chisquare", "same_bin": "z", "same_missing": "ks",
        "binary_num": "z",
    }  # fmt: skip
    current = large.sample(frac=1.0, random_state=0).reset_index(drop=True)
    result = detect_drift(large, current)
    large_methods = {n: c.method for n, c in result.columns.items()}
    assert large_methods == {
        "s_mean": "wasserstein", "s_scale": "wasserstein", "s_cat": "jensenshannon",
        "s_few": "jensenshannon", "same_num": "wasserstein", "same_cat": "jensenshannon",
        "same_bin": "jensenshannon", "same_missing": "wasserstein", "binary_num": "jensenshannon",
        "int_few": "jensenshannon", "int_many": "wasserstein",
    }  # fmt: skip
    assert result.columns["int_few"].kind == "categorical"
    assert result.columns["int_many"].kind == "numeric"


def test_the_small_reference_rule_counts_non_missing_values() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=1500)})
    ref.loc[:599, "x"] = np.nan
    result = detect_drift(ref, pd.DataFrame({"x": rng.normal(size=1500)}))
    assert result.columns["x"].method == "ks"
    assert result.columns["x"].reference_rows == 900


# ---- statistics on raw data ------------------------------------------------------------------
def test_each_method_equals_scipy_or_evidentlys_binning_on_raw_data() -> None:
    ref, cur = _mixed(3000, 5), _mixed(2500, 6, shifted=True)
    numeric = ("s_mean", "same_num", "same_missing")
    methods = ("ks", "wasserstein", "jensenshannon", "psi", "hellinger")
    for method in methods:
        config = DriftConfig(methods=dict.fromkeys(numeric, method))
        found = detect_drift(ref, cur, columns=list(numeric), config=config).columns
        for name in numeric:
            a, b = _finite(ref[name]), _finite(cur[name])
            expected = {
                "ks": scipy_stats.ks_2samp(a, b).statistic,
                "wasserstein": scipy_stats.wasserstein_distance(a, b) / np.std(a),
                "jensenshannon": distance.jensenshannon(*_evidently_binned(a, b)),
                "psi": _decile_psi(a, b),
                "hellinger": _evidently_hellinger(a, b),
            }[method]
            assert found[name].statistic == pytest.approx(expected, rel=1e-9), (method, name)
    ks = detect_drift(ref, cur, columns=["s_mean"], config=DriftConfig(methods={"s_mean": "ks"}))
    expected_p = scipy_stats.ks_2samp(_finite(ref["s_mean"]), _finite(cur["s_mean"])).pvalue
    assert ks.columns["s_mean"].p_value == pytest.approx(expected_p, rel=1e-9)


def test_categorical_methods_equal_scipy_on_value_counts() -> None:
    ref, cur = _mixed(3000, 7), _mixed(2500, 8, shifted=True)
    counts_ref, counts_cur = _category_shares(ref["s_cat"], cur["s_cat"])
    cases = {
        "chisquare": scipy_stats.chisquare(counts_cur, counts_ref * 2500 / 3000).pvalue,
        "jensenshannon": distance.jensenshannon(counts_ref / 3000, counts_cur / 2500),
        "hellinger": np.sqrt(1 - np.sum(np.sqrt(counts_ref / 3000 * counts_cur / 2500))),
    }
    for method, expected in cases.items():
        config = DriftConfig(methods={"s_cat": method})
        column = detect_drift(ref, cur, columns=["s_cat"], config=config).columns["s_cat"]
        score = column.p_value if method == "chisquare" else column.statistic
        assert score == pytest.approx(expected, rel=1e-9), method


def test_missing_and_infinite_values_are_left_out() -> None:
    ref, cur = _mixed(2000, 9), _mixed(2000, 10)
    column = detect_drift(ref, cur, columns=["same_num"]).columns["same_num"]
    a, b = _finite(ref["same_num"]), _finite(cur["same_num"])
    assert (column.reference_rows, column.current_rows) == (a.size, b.size)
    assert column.statistic == pytest.approx(scipy_stats.wasserstein_distance(a, b) / np.std(a))


# ---- false alarms and detection --------------------------------------------------------------
def test_false_alarm_rate_at_no_shift_is_near_alpha_over_many_columns() -> None:
    rng = np.random.default_rng(11)
    columns = [f"x{i}" for i in range(300)]
    ref = pd.DataFrame(rng.normal(size=(400, 300)), columns=columns)
    cur = pd.DataFrame(rng.normal(size=(400, 300)), columns=columns)
    plain = detect_drift(ref, cur)
    assert {c.method for c in plain.columns.values()} == {"ks"}
    assert 0.02 <= plain.drift_share <= 0.085
    assert not plain.dataset_drift
    corrected = detect_drift(ref, cur, config=DriftConfig(correction="bonferroni"))
    assert corrected.number_of_drifted_columns == 0


def test_known_shifts_are_detected_and_unchanged_columns_are_not() -> None:
    # KS and chi-square (a window small next to the reference, where Evidently's chi-square
    # holds its level), then Wasserstein and Jensen-Shannon
    for ref_rows, cur_rows in ((1000, 300), (20_000, 20_000)):
        result = detect_drift(_mixed(ref_rows, 12), _mixed(cur_rows, 13, shifted=True))
        drifted = {name for name, c in result.columns.items() if c.drifted}
        assert drifted == {"s_mean", "s_scale", "s_cat", "s_few"}, ref_rows
        assert result.number_of_drifted_columns == 4
        assert result.drift_share == 0.5
        assert result.dataset_drift


def test_a_new_category_alone_is_drift_for_chisquare() -> None:
    ref = pd.DataFrame({"c": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"c": ["a", "b", "c"] * 99 + ["new"] * 3})
    column = detect_drift(ref, cur).columns["c"]
    assert column.method == "chisquare"
    assert (column.statistic, column.p_value, column.drifted) == (np.inf, 0.0, True)


def test_thresholds_methods_and_drift_share_can_be_configured() -> None:
    ref, cur = _mixed(3000, 14), _mixed(3000, 15, shifted=True)
    config = DriftConfig(
        methods={"same_num": "psi"}, thresholds={"s_mean": 5.0}, drift_share=0.3,
        categorical=("s_few",),
    )  # fmt: skip
    result = detect_drift(ref, cur, config=config)
    assert result.columns["same_num"].method == "psi"
    assert result.columns["same_num"].threshold == 0.25
    assert result.columns["s_mean"].threshold == 5.0
    assert not result.columns["s_mean"].drifted
    assert result.columns["s_few"].kind == "categorical"
    assert result.drift_share == 3 / 8
    assert result.dataset_drift and result.drift_share_threshold == 0.3


# ---- corrections -----------------------------------------------------------------------------
@pytest.mark.parametrize("correction", ["bonferroni", "benjamini-hochberg"])
def test_corrections_adjust_only_the_p_values_of_p_value_tests(correction: str) -> None:
    rng = np.random.default_rng(16)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=500) for i in range(8)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.03 * i, 1.0, 500) for i in range(8)})
    config = DriftConfig(methods={"x7": "wasserstein"})
    raw = detect_drift(ref, cur, config=config)
    adjusted = detect_drift(
        ref, cur, config=DriftConfig(methods={"x7": "wasserstein"}, correction=correction)
    )
    tested = [f"x{i}" for i in range(7)]
    p = np.array([raw.columns[name].p_value for name in tested])
    expected = (
        np.minimum(p * 7, 1.0)
        if correction == "bonferroni"
        else scipy_stats.false_discovery_control(p)
    )
    found = np.array([adjusted.columns[name].p_value for name in tested])
    np.testing.assert_allclose(found, expected, rtol=1e-12)
    for name, value in zip(tested, found, strict=True):
        assert adjusted.columns[name].drifted == (value <= 0.05)
        assert adjusted.columns[name].statistic == raw.columns[name].statistic
    assert adjusted.columns["x7"] == raw.columns["x7"]


# ---- inputs ----------------------------------------------------------------------------------
def test_polars_and_arrow_inputs_give_the_pandas_result() -> None:
    ref, cur = _mixed(2000, 17), _mixed(1500, 18, shifted=True)
    expected = detect_drift(ref, cur).to_dict()
    assert detect_drift(pl.from_pandas(ref), pl.from_pandas(cur)).to_dict() == expected
    assert detect_drift(pl.from_pandas(ref).lazy(), cur).to_dict() == expected
    assert detect_drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)).to_dict() == expected


def test_parquet_paths_give_the_in_memory_result(tmp_path: Path) -> None:
    ref, cur = _mixed(5000, 19), _mixed(4000, 20, shifted=True)
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=700)
    cur.to_parquet(tmp_path / "cur.parquet")
    found = detect_drift(tmp_path / "ref.parquet", str(tmp_path / "cur.parquet"))
    assert found.to_dict() == detect_drift(ref, cur).to_dict()


def test_streamed_sketches_give_the_in_memory_decisions(tmp_path: Path) -> None:
    ref, cur = _mixed(60_000, 21), _mixed(50_000, 22, shifted=True)
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=5_000)
    cur.to_parquet(tmp_path / "cur.parquet", row_group_size=5_000)
    streamed = [
        summarize(tmp_path / name, chunk_rows=8_000, exact_limit=1_000)
        for name in ("ref.parquet", "cur.parquet")
    ]
    assert streamed[0].columns["s_mean"].representation == "sketch"
    assert streamed[0].columns["s_few"].representation == "counts"
    in_memory = detect_drift(ref, cur)
    from_stream = detect_drift(*streamed)
    assert _decisions(from_stream) == _decisions(in_memory)
    for name, column in in_memory.columns.items():
        found = from_stream.columns[name].statistic
        assert found == pytest.approx(column.statistic, rel=0.02, abs=2e-3), name
    ks = DriftConfig(methods={"s_mean": "ks", "same_num": "ks"})
    assert _decisions(detect_drift(*streamed, config=ks)) == _decisions(
        detect_drift(ref, cur, config=ks)
    )


def test_a_summary_compares_like_the_frame_it_summarises() -> None:
    ref, cur = _mixed(3000, 23), _mixed(3000, 24, shifted=True)
    assert detect_drift(summarize(ref), cur).to_dict() == detect_drift(ref, cur).to_dict()


# ---- summaries -------------------------------------------------------------------------------
def test_summaries_hold_counts_moments_and_categories() -> None:
    rng = np.random.default_rng(25)
    frame = pd.DataFrame({
        "x": rng.normal(2.0, 3.0, 5000),
        "few": rng.integers(0, 4, 5000),
        "cat": [f"c{i}" for i in rng.integers(0, 1500, 5000)],
    })  # fmt: skip
    frame.loc[:9, "x"] = [np.nan] * 5 + [np.inf, -np.inf] * 2 + [np.nan]
    summary = summarize(frame)
    x = summary.columns["x"]
    finite = _finite(frame["x"])
    assert (x.count, x.missing, x.representation) == (4990, 10, "exact")
    assert x.mean == pytest.approx(finite.mean()) and x.std == pytest.approx(finite.std())
    assert (x.min, x.max) == (finite.min(), finite.max())
    few = summary.columns["few"]
    assert few.representation == "counts" and few.integer
    np.testing.assert_array_equal(few.unique_counts, np.bincount(frame["few"]))
    cat = summary.columns["cat"]
    assert cat.n_unique == frame["cat"].nunique() and cat.n_unique_exact
    assert len(cat.categories) == 1001 and sum(cat.categories.values()) == 5000
    counts = frame["cat"].value_counts()
    kept = {k: n for k, n in cat.categories.items() if k != OTHER}
    assert all(counts[k] == n for k, n in kept.items())
    assert min(kept.values()) >= counts.drop(list(kept)).max()
    assert cat.categories[OTHER] == 5000 - sum(kept.values())


def test_summaries_round_trip_through_json() -> None:
    rng = np.random.default_rng(26)
    frame = _mixed(30_000, 26)
    frame["ids"] = [f"id{i}" for i in rng.integers(0, 3000, 30_000)]
    frame["empty"] = np.nan
    summary = summarize(frame, exact_limit=10_000, chunk_rows=7_000)
    kinds = {c.representation for c in summary.columns.values()}
    assert kinds == {"sketch", "counts", "categories", "empty"}
    restored = DatasetSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert restored == summary
    exact = summarize(frame.iloc[:5000])
    assert DatasetSummary.from_dict(json.loads(json.dumps(exact.to_dict()))) == exact
    current = _mixed(4000, 27, shifted=True)
    columns = list(current.columns)
    assert detect_drift(restored, current, columns=columns).to_dict() == (
        detect_drift(summary, current, columns=columns).to_dict()
    )


def test_a_malformed_summary_is_refused_with_the_column_named() -> None:
    data = summarize(_mixed(100, 28)).to_dict()
    data["columns"]["s_mean"]["count"] = "many"
    data["columns"]["s_mean"]["unexpected"] = 1
    with pytest.raises(InvalidInputError) as caught:
        DatasetSummary.from_dict(data)
    assert caught.value.field == "s_mean"
    with pytest.raises(InvalidInputError):
        DatasetSummary.from_dict({"rows": 3})


# ---- results and errors ----------------------------------------------------------------------
def test_the_result_dict_is_json_ready() -> None:
    result = detect_drift(_mixed(900, 29), _mixed(900, 30, shifted=True))
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {
        "columns", "drift_share", "dataset_drift", "number_of_drifted_columns",
        "drift_share_threshold",
    }  # fmt: skip
    assert data["columns"]["s_mean"]["method"] == "ks"
    assert data["columns"]["s_mean"]["drifted"] is True
    assert data["columns"]["same_bin"]["kind"] == "categorical"


def test_bad_requests_are_refused_naming_the_field(tmp_path: Path) -> None:
    ref, cur = _mixed(500, 31), _mixed(500, 32)
    cases: list[tuple[Any, str]] = [
        (lambda: detect_drift(ref, cur, columns=["nope"]), "nope"),
        (lambda: detect_drift(ref, cur.drop(columns="s_mean"), columns=["s_mean"]), "s_mean"),
        (lambda: detect_drift(ref, cur.assign(s_mean=np.nan), columns=["s_mean"]), "s_mean"),
        (lambda: detect_drift(ref, cur, config=DriftConfig(methods={"s_cat": "ks"})), "s_cat"),
        (lambda: DriftConfig(methods={"s_mean": "nonsense"}), "s_mean"),
        (lambda: DriftConfig(thresholds={"s_mean": -1.0}), "s_mean"),
        (lambda: DriftConfig(drift_share=0.0), "drift_share"),
        (lambda: DriftConfig(correction="holm"), "correction"),
        (lambda: detect_drift([1, 2], cur), "reference"),
        (lambda: detect_drift(ref[["s_cat"]], cur[["same_bin"]]), "columns"),
        (lambda: summarize(ref, chunk_rows=0), "chunk_rows"),
    ]
    sketched = summarize(pd.DataFrame({"x": np.arange(5000.0)}), exact_limit=1000)
    chi = DriftConfig(methods={"x": "chisquare"})
    cases.append((lambda: detect_drift(sketched, sketched, config=chi), "x"))
    for call, field in cases:
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert caught.value.field == field
    with pytest.raises(NotFoundError):
        detect_drift(tmp_path / "missing.parquet", cur)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InvalidInputError):
        detect_drift(tmp_path / "bad.parquet", cur)


def test_a_parquet_file_written_by_pyarrow_with_dictionary_strings_reads(tmp_path: Path) -> None:
    frame = _mixed(3000, 33)
    table = pa.Table.from_pandas(frame).cast(
        pa.schema([
            pa.field(name, pa.dictionary(pa.int32(), pa.string()))
            if frame[name].dtype != np.float64 else pa.field(name, pa.float64())
            for name in frame.columns
        ])
    )  # fmt: skip
    pq.write_table(table, tmp_path / "dict.parquet")
    found = detect_drift(tmp_path / "dict.parquet", frame)
    assert found.number_of_drifted_columns == 0
    assert found.columns["s_cat"].statistic == 0.0


def test_many_rows_of_few_values_give_scipys_statistics() -> None:
    rng = np.random.default_rng(34)
    ref = pd.DataFrame({"k": rng.integers(0, 9, 30_000).astype(np.float64)})
    cur = pd.DataFrame({"k": rng.integers(1, 10, 25_000).astype(np.float64)})
    a, b = ref["k"].to_numpy(), cur["k"].to_numpy()
    ks = detect_drift(ref, cur, config=DriftConfig(methods={"k": "ks"})).columns["k"]
    expected = scipy_stats.ks_2samp(a, b)
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-15)
    assert ks.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    w1 = detect_drift(ref, cur, config=DriftConfig(methods={"k": "wasserstein"})).columns["k"]
    assert w1.statistic == pytest.approx(scipy_stats.wasserstein_distance(a, b) / np.std(a))


def test_save_html_writes_a_self_contained_page(tmp_path: Path) -> None:
    result = detect_drift(_mixed(900, 35), _mixed(900, 36, shifted=True))
    result.save_html(tmp_path / "drift.html")
    page = (tmp_path / "drift.html").read_text(encoding="utf-8")
    assert "s_mean" in page and "same_cat" in page
    assert "<script" not in page and "http://" not in page
