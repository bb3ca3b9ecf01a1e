"""The inference log: rows written off the request path, read back by us and by others."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.serve.inference_files import model_dir, partition_value
from modelkeep.serve.inference_log import (
    Feedback,
    InferenceLog,
    InferenceRecord,
    join_feedback,
    read_feedback,
    read_inference_log,
)
from modelkeep.serve.inference_read import logged_models, read_inference_table

T0 = int(datetime(2025, 11, 27, 13, 15, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000


def record(
    request_id: str,
    *,
    at: int = T0,
    model: str = "churn",
    inputs: dict[str, Any] | None = None,
    prediction: Any = 1,
    proba: list[float] | None = None,
    version: str = "3",
    variant: str = "primary",
) -> InferenceRecord:
    return InferenceRecord(
        request_id,
        at,
        model,
        version,
        variant,
        {"x": 1.5} if inputs is None else inputs,
        prediction,
        proba,
        0.25,
    )


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., InferenceLog]]:
    """Opens logs under tmp_path/inference (closed at the end); no timed writes by default."""
    opened: list[InferenceLog] = []

    def make(**options: Any) -> InferenceLog:
        options.setdefault("flush_interval_s", 3600.0)
        log = InferenceLog(tmp_path / "inference", **options)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_rows_read_back_equal_the_records(tmp_path: Path, open_log: Any) -> None:
    first = [
        record(
            "req-1/0",
            inputs={"i": 3, "f": 0.5, "s": "a", "b": True, "n": None},
            prediction=0,
            proba=[0.9, 0.1],
        ),
        record(
            "req-1/1",
            inputs={"i": -7, "f": 2.0, "s": "é", "b": False, "n": None},
            prediction=1,
            proba=[0.2, 0.8],
        ),
    ]
    second = [
        record(
            "req-2",
            at=T0 + 5,
            inputs={"i": 2**40, "f": float("nan"), "s": "", "b": True, "n": None},
            prediction=1,
            variant="canary",
            version="4",
        )
    ]
    log = open_log()
    log.append(first)
    log.append(second)
    log.flush()

    frame = read_inference_log(tmp_path / "inference", "churn")

    assert list(frame.columns[:8]) == [
        "request_id",
        "timestamp",
        "model",
        "version",
        "variant",
        "latency_ms",
        "prediction",
        "proba",
    ]
    assert frame["timestamp"].dtype == "datetime64[ms, UTC]"
    assert frame["prediction"].dtype == "int64"
    assert frame["input.i"].dtype == "int64"
    assert frame["input.f"].dtype == "float64"
    assert frame["input.b"].dtype == "bool"
    assert frame["input.n"].isna().all()
    for row, expected in zip(frame.to_dict("records"), first + second, strict=True):
        assert row["request_id"] == expected.request_id
        assert row["timestamp"] == pd.Timestamp(expected.timestamp_ms, unit="ms", tz="UTC")
        assert (row["model"], row["version"], row["variant"]) == (
            expected.model,
            expected.version,
            expected.variant,
        )
        assert row["latency_ms"] == expected.latency_ms
        assert row["prediction"] == expected.prediction
        if expected.proba is None:
            assert row["proba"] is None
        else:
            assert list(row["proba"]) == expected.proba
        for name, value in expected.inputs.items():
            got = row[f"input.{name}"]
            if isinstance(value, float) and value != value:
                assert got != got  # NaN stays NaN (not null)
            elif value is None:
                assert got is None
            else:
                assert got == value and type(got) is type(value)


def test_rows_of_one_request_keep_their_order(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    rows = [record(f"req/{index}", inputs={"k": index}) for index in range(50)]
    log.append(rows[:25])
    log.flush()  # two files, same timestamps: order must survive the merge
    log.append(rows[25:])
    log.flush()
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert frame["request_id"].tolist() == [r.request_id for r in rows]
    assert frame["input.k"].tolist() == list(range(50))


def test_records_of_two_hours_go_to_two_partitions(tmp_path: Path, open_log: Any) -> None:
    end_of_hour = int(datetime(2025, 11, 27, 13, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)
    midnight = int(datetime(2025, 11, 28, 0, 0, tzinfo=UTC).timestamp() * 1000)
    log = open_log()
    log.append([record("a", at=end_of_hour), record("b", at=end_of_hour + 1)])
    log.append([record("c", at=midnight - 1), record("d", at=midnight)])
    log.flush()
    base = model_dir(tmp_path / "inference", "predictions", "churn")
    folders = sorted(str(path.parent.relative_to(base)) for path in parquet_files(base))
    assert folders == [
        "date=2025-11-27/hour=13",
        "date=2025-11-27/hour=14",
        "date=2025-11-27/hour=23",
        "date=2025-11-28/hour=0",
    ]
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert frame["request_id"].tolist() == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "name",
    ["../x", "/", "..", ".", "a/../../b", "C:\\evil", "模型 é%2F~", "trailing.", "n" * 256],
)
def test_model_names_never_escape_the_root(tmp_path: Path, open_log: Any, name: str) -> None:
    root = tmp_path / "inference"
    log = open_log()
    log.append([record("r1", model=name)])
    log.append_feedback(name, [Feedback("r1", 1, T0)])
    log.flush()
    files = parquet_files(tmp_path)
    assert len(files) == 2
    for path in files:
        relative = path.resolve().relative_to(root.resolve())
        assert relative.parts[0] in ("predictions", "feedback")
        assert relative.parts[1] == f"model={partition_value(name)}"
        assert len(relative.parts) == 5  # kind / model / date / hour / file
    assert read_inference_log(root, name)["model"].tolist() == [name]
    assert join_feedback(root, name)["label"].tolist() == [1]


def test_names_that_look_alike_get_distinct_folders() -> None:
    names = ["a/b", "a%2Fb", "a~b", "a%7Eb", "x" * 256, "x" * 255 + "y"]
    values = [partition_value(name) for name in names]
    assert len(set(values)) == len(names)
    assert all(len(value) <= 200 for value in values)


def test_flush_blocks_until_rows_are_on_disk(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record(f"r{i}") for i in range(10)])
    assert log.backlog == 10 and parquet_files(tmp_path) == []
    log.flush()
    assert log.backlog == 0 and log.written == 10
    assert pq.read_table(parquet_files(tmp_path)[0]).num_rows == 10
    log.flush()  # nothing queued: returns at once
    assert len(parquet_files(tmp_path)) == 1


def test_rows_are_written_after_the_interval_without_flush(tmp_path: Path, open_log: Any) -> None:
    log = open_log(flush_interval_s=0.02)
    log.append([record("r1"), record("r2")])
    deadline = time.monotonic() + 30
    while log.written < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.written == 2 and log.backlog == 0
    assert len(parquet_files(tmp_path)) == 1


def test_flush_rows_triggers_a_write(tmp_path: Path, open_log: Any) -> None:
    log = open_log(flush_rows=3)
    log.append([record("r1"), record("r2"), record("r3")])
    deadline = time.monotonic() + 30
    while log.written < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.written == 3


def test_close_writes_the_queue_and_is_idempotent(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "inference", flush_interval_s=3600)
    log.append([record("r1"), record("r2")])
    log.close()
    log.close()
    assert log.written == 2 and log.backlog == 0
    log.append([record("late")])  # after close: counted, never raised
    assert log.dropped == 1 and log.backlog == 0
    assert read_inference_log(tmp_path / "inference", "churn")["request_id"].tolist() == [
        "r1",
        "r2",
    ]


def test_backlog_over_the_limit_drops_the_oldest(tmp_path: Path, open_log: Any) -> None:
    log = open_log(max_backlog=10)
    log.append([record(f"r{i}") for i in range(8)])
    log.append([record(f"r{i}") for i in range(8, 16)])
    assert (log.backlog, log.dropped) == (10, 6)
    log.append([record(f"r{i}") for i in range(16, 40)])  # one call larger than the limit
    assert (log.backlog, log.dropped) == (10, 30)
    log.flush()
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(30, 40)]
    assert (log.backlog, log.written) == (0, 10)


def test_unwritable_root_counts_errors_then_drops(
    tmp_path: Path, open_log: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "inference").mkdir()
    (tmp_path / "inference" / "predictions").write_text("not a folder")
    log = open_log()
    with caplog.at_level(logging.WARNING, logger="modelkeep.serve"):
        log.append([record("r1"), record("r2")])
        log.flush()  # retried three times, then given up: flush still returns
    assert (log.write_errors, log.dropped, log.backlog, log.written) == (3, 2, 0, 0)
    messages = [r.getMessage() for r in caplog.records if r.name == "modelkeep.serve"]
    assert any("cannot write 2 rows" in message for message in messages)
    assert any("dropping 2 rows after 3 failed writes" in message for message in messages)


def test_failed_write_is_retried_on_the_next_cycle(tmp_path: Path, open_log: Any) -> None:
    blocker = tmp_path / "inference" / "predictions"
    blocker.parent.mkdir()
    blocker.write_text("not a folder")
    # flush_rows=2 makes the first write start at once; it fails, and the retry waits the
    # interval (long) unless a flush asks for it sooner.
    log = open_log(flush_rows=2, flush_interval_s=3.0)
    log.append([record("r1"), record("r2")])
    deadline = time.monotonic() + 30
    while log.write_errors == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert log.backlog == 2 and log.dropped == 0
    blocker.unlink()
    log.flush()
    assert (log.write_errors, log.dropped, log.written) == (1, 0, 2)
    assert read_inference_log(tmp_path / "inference", "churn")["request_id"].tolist() == [
        "r1",
        "r2",
    ]


def test_feedback_join_latest_label_wins_missing_is_null(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("r1"), record("r2"), record("r3"), record("r1", at=T0 + 1)])
    log.append_feedback(
        "churn",
        [
            Feedback("r1", 1, T0 + 2 * HOUR),  # appended first, but the latest
            Feedback("r1", 0, T0 + HOUR),
            Feedback("r2", 0, T0 + HOUR),
            Feedback("unknown", 1, T0 + HOUR),
        ],
    )
    log.flush()
    root = tmp_path / "inference"
    joined = join_feedback(root, "churn")
    assert joined["request_id"].tolist() == ["r1", "r2", "r3", "r1"]
    assert joined["label"].dtype == "Int64"
    assert joined["label"].tolist()[:2] == [1, 0] and joined["label"].tolist()[3] == 1
    assert pd.isna(joined["label"].iloc[2])
    feedback = read_feedback(root, "churn")
    assert feedback["request_id"].tolist() == ["r1", "r2", "unknown", "r1"]
    assert list(feedback.columns) == ["request_id", "label", "timestamp", "model"]


def test_join_without_feedback_has_null_labels(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("r1"), record("r2")])
    log.flush()
    joined = join_feedback(tmp_path / "inference", "churn")
    assert joined["label"].tolist() == [None, None]
    assert read_feedback(tmp_path / "inference", "churn").empty


def test_string_labels_join(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("r1", prediction="yes"), record("r2", prediction="no")])
    log.append_feedback("churn", [Feedback("r2", "yes", T0)])
    log.flush()
    joined = join_feedback(tmp_path / "inference", "churn")
    assert pd.isna(joined["label"].iloc[0]) and joined["label"].iloc[1] == "yes"


@pytest.mark.parametrize(
    ("model", "item", "field"),
    [
        ("", Feedback("r1", 1, T0), "model"),
        ("churn", Feedback("", 1, T0), "feedback[0].request_id"),
        ("churn", Feedback("r1", [1, 2], T0), "feedback[0].label"),
        ("churn", Feedback("r1", 1, "soon"), "feedback[0].timestamp_ms"),  # type: ignore[arg-type]
    ],
)
def test_bad_feedback_is_refused(open_log: Any, model: str, item: Feedback, field: str) -> None:
    log = open_log()
    with pytest.raises(InvalidInputError) as caught:
        log.append_feedback(model, [item])
    assert caught.value.field == field
    assert log.backlog == 0


def _two_models(root: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("a1", model="churn"), record("a2", model="churn", at=T0 + HOUR)])
    log.append([record("b1", model="../fraud é", inputs={"x": 2.5})])
    log.flush()


def test_readable_by_pandas_directly(tmp_path: Path, open_log: Any) -> None:
    _two_models(tmp_path, open_log)
    frame = pd.read_parquet(tmp_path / "inference" / "predictions")
    assert sorted(frame["model"].astype(str)) == ["../fraud é", "churn", "churn"]
    fraud = frame[frame["model"] == "../fraud é"]
    assert fraud["request_id"].tolist() == ["b1"] and fraud["input.x"].tolist() == [2.5]


def test_readable_by_pyarrow_dataset(tmp_path: Path, open_log: Any) -> None:
    _two_models(tmp_path, open_log)
    dataset = ds.dataset(tmp_path / "inference" / "predictions", partitioning="hive")
    table = dataset.to_table(filter=ds.field("model") == "churn")
    assert sorted(table.column("request_id").to_pylist()) == ["a1", "a2"]
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert sorted(table.column("hour").to_pylist()) == [13, 14]


def test_readable_by_polars(tmp_path: Path, open_log: Any) -> None:
    _two_models(tmp_path, open_log)
    frame = pl.read_parquet(tmp_path / "inference" / "predictions", hive_partitioning=True)
    fraud = frame.filter(pl.col("model") == "../fraud é")
    assert fraud["request_id"].to_list() == ["b1"]
    assert frame.schema["timestamp"] == pl.Datetime("ms", "UTC")
    assert logged_models(tmp_path / "inference") == ["../fraud é", "churn"]


def test_time_range_prunes_hours_and_rows(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record(f"r{h}", at=T0 + h * HOUR) for h in range(4)])
    log.flush()
    root = tmp_path / "inference"
    table = read_inference_table(root, "churn", since_ms=T0 + HOUR, until_ms=T0 + 3 * HOUR)
    assert table.column("request_id").to_pylist() == ["r1", "r2"]
    after = read_inference_log(root, "churn", since_ms=T0 + 3 * HOUR + 1)
    assert after.empty and "request_id" in after.columns


def test_types_stay_stable_from_file_to_file(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    for inputs in ({"x": 0.5, "s": "a"}, {"x": None, "s": None}, {"x": 2, "s": 3}):
        log.append([record("r", inputs=inputs)])
        log.flush()
    for path in parquet_files(tmp_path):
        schema = pq.read_schema(path)
        assert schema.field("input.x").type == pa.float64()
        assert schema.field("input.s").type == pa.string()
    frame = pd.read_parquet(model_dir(tmp_path / "inference", "predictions", "churn"))
    assert frame["input.x"].tolist()[::2] == [0.5, 2.0]
    assert frame["input.s"].tolist()[::2] == ["a", "3"]


def test_reader_unifies_types_that_widened(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("r1", inputs={"x": 1}, prediction=0)])
    log.flush()
    log.append([record("r2", inputs={"x": 2.5, "y": "new"}, prediction="cat")])
    log.flush()
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert frame["input.x"].tolist() == [1.0, 2.5]
    assert frame["prediction"].tolist() == ["0", "cat"]  # int and text: text
    assert frame["input.y"].isna().iloc[0] and frame["input.y"].iloc[1] == "new"


def test_mixed_types_in_one_batch_are_kept_as_text(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append([record("r1", inputs={"x": 1}), record("r2", inputs={"x": "a"})])
    log.append([record("r3", inputs={"x": True}), record("r4", inputs={"x": None})])
    log.flush()
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert frame["input.x"].tolist()[:3] == ["1", "a", "true"]
    assert frame["input.x"].isna().iloc[3]


def test_malformed_record_is_dropped_alone(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    bad = InferenceRecord("bad", None, "churn", "3", "primary", {}, 1, None, 0.1)  # type: ignore[arg-type]
    log.append([record("r1"), bad, record("r2")])
    log.flush()
    assert (log.written, log.dropped, log.backlog) == (2, 1, 0)


def test_unknown_model_is_not_found(tmp_path: Path, open_log: Any) -> None:
    _two_models(tmp_path, open_log)
    with pytest.raises(NotFoundError, match="churn"):
        read_inference_log(tmp_path / "inference", "nope")


@pytest.mark.parametrize("option", ["flush_rows", "max_backlog", "flush_interval_s"])
def test_settings_are_checked(tmp_path: Path, option: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        InferenceLog(tmp_path, **{option: 0})
    assert caught.value.field == option


def test_rows_with_different_columns_in_one_batch(tmp_path: Path, open_log: Any) -> None:
    log = open_log()
    log.append(
        [
            record("r1", inputs={"a": 1, "b": 2}),
            record("r2", inputs={"b": 3, "c": 4}),  # same size, other keys
            record("r3", inputs={"a": 5}),
        ]
    )
    log.flush()
    frame = read_inference_log(tmp_path / "inference", "churn")
    assert [c for c in frame.columns if c.startswith("input.")] == [
        "input.a",
        "input.b",
        "input.c",
    ]
    assert frame[["input.a", "input.b", "input.c"]].fillna(-1).values.tolist() == [
        [1, 2, -1],
        [-1, 3, 4],
        [5, -1, -1],
    ]
