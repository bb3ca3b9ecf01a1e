"""The fluent tracking API on a real SQLite store."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelkeep as mk


def test_run_that_exits_normally_is_finished(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run:
        run.log_param("lr", 0.1)
    got = mk.get_run(run.id)
    assert got.status is mk.RunStatus.FINISHED
    assert got.end_time is not None and got.end_time >= got.start_time
    assert got.params == {"lr": "0.1"}


def test_run_that_raises_is_failed(tracking_uri: str) -> None:
    with pytest.raises(ZeroDivisionError), mk.start_run(experiment="churn") as run:
        run.log_metric("loss", 1.0)
        _ = 1 / 0
    got = mk.get_run(run.id)
    assert got.status is mk.RunStatus.FAILED
    assert got.metrics == {"loss": 1.0}


def test_keyboard_interrupt_ends_run_killed(tracking_uri: str) -> None:
    with pytest.raises(KeyboardInterrupt), mk.start_run(experiment="churn") as run:
        raise KeyboardInterrupt
    assert mk.get_run(run.id).status is mk.RunStatus.KILLED


def test_buffered_metrics_are_durable_after_flush(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run:
        for step in range(1000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.flush()
        other = mk.Client(tracking_uri)
        history = other.get_metric_history(run.id, "loss")
        other.close()
    assert [m.step for m in history] == list(range(1000))
    assert history[-1].value == pytest.approx(1 / 1000)


def test_synchronous_log_metric_is_visible_at_once(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run:
        run.log_metric("acc", 0.5, synchronous=True)
        other = mk.Client(tracking_uri)
        assert other.get_run(run.id).metrics == {"acc": 0.5}
        other.close()


def test_log_metrics_params_tags_and_nan(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn", run_name="first", tags={"team": "a"}) as run:
        run.log_params({"lr": 0.1, "depth": 3})
        run.log_metrics({"acc": 0.9, "loss": float("nan"), "gain": float("inf")}, step=2)
        run.set_tags({"stage": "dev"})
    got = mk.get_run(run.id)
    assert got.name == "first"
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert got.tags == {"team": "a", "stage": "dev"}
    assert got.metrics["acc"] == 0.9
    assert math.isnan(got.metrics["loss"])
    assert got.metrics["gain"] == math.inf


def test_changing_a_param_raises_at_once(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # same value: fine
        with pytest.raises(mk.ImmutableParamError):
            run.log_param("lr", 0.2)
    assert mk.get_run(run.id).params == {"lr": "0.1"}


def test_bad_metric_key_raises_before_buffering(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run, pytest.raises(mk.InvalidInputError) as info:
        run.log_metric("", 1.0)
    assert info.value.field == "metrics.key"


def test_nested_run_records_parent(tracking_uri: str) -> None:
    with mk.start_run(experiment="tune") as parent:
        with mk.start_run(experiment="tune", parent=parent) as child:
            pass
    assert mk.get_run(child.id).parent_run_id == parent.id


def test_artifacts_round_trip(tracking_uri: str, tmp_path: Path) -> None:
    local = tmp_path / "plot.txt"
    local.write_text("roc")
    with mk.start_run(experiment="churn") as run:
        run.log_artifact(local, artifact_path="plots")
        run.log_dict({"a": 1}, "cfg.json")
        run.log_text("hello", "notes/readme.txt")
    client = mk.Client(tracking_uri)
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["cfg.json", "notes/readme.txt", "plots/plot.txt"]
    assert json.loads(client.read_artifact(run.id, "cfg.json")) == {"a": 1}
    out = client.download_artifacts(run.id, "plots", tmp_path / "dl")
    assert (out / "plot.txt").read_text() == "roc"
    client.close()


def test_log_dataset_records_digest_schema_and_rows(tracking_uri: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    with mk.start_run(experiment="churn") as run:
        run.log_dataset(frame, name="train", context="training")
        run.log_dataset(csv, name="train-file", context="training")
        run.log_dataset(np.zeros((4, 2)), name="val", context="validation")
    inputs = {d.name: d for d in mk.get_run(run.id).inputs}
    assert inputs["train"].num_rows == 3
    assert inputs["train"].schema == {"x": "float64", "y": frame.dtypes["y"].name}
    assert len(inputs["train"].digest) == 64
    assert inputs["train-file"].num_rows == 3
    assert inputs["val"].context == "validation"


def test_same_frame_gives_same_digest(tracking_uri: str) -> None:
    a = pd.DataFrame({"x": [1, 2]})
    with mk.start_run(experiment="d") as run:
        run.log_dataset(a, name="one")
        run.log_dataset(a.copy(), name="two")
        run.log_dataset(pd.DataFrame({"x": [1, 3]}), name="three")
    digests = {d.name: d.digest for d in mk.get_run(run.id).inputs}
    assert digests["one"] == digests["two"] != digests["three"]


def test_search_runs_filters_orders_and_pages(tracking_uri: str) -> None:
    for i in range(5):
        with mk.start_run(experiment="churn") as run:
            run.log_param("lr", "0.1" if i % 2 else "0.01")
            run.log_metric("acc", i / 10)
    runs = mk.search_runs(
        experiments=["churn"], filter="metrics.acc > 0.05", order_by=["metrics.acc DESC"]
    )
    assert [r.metrics["acc"] for r in runs] == [0.4, 0.3, 0.2, 0.1]
    first = mk.search_runs(experiments=["churn"], order_by=["metrics.acc"], max_results=2)
    assert first.next_page_token is not None
    rest = mk.search_runs(
        experiments=["churn"], order_by=["metrics.acc"], page_token=first.next_page_token
    )
    assert [r.metrics["acc"] for r in [*first, *rest]] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_search_runs_pandas_output(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn") as run:
        run.log_param("lr", "0.1")
        run.log_metric("acc", 0.9)
    frame = mk.search_runs(experiments=["churn"], output="pandas")
    assert list(frame["run_id"]) == [run.id]
    assert frame.loc[0, "metrics.acc"] == 0.9
    assert frame.loc[0, "params.lr"] == "0.1"


def test_search_unknown_experiment_is_an_error(tracking_uri: str) -> None:
    with pytest.raises(mk.NotFoundError):
        mk.search_runs(experiments=["nope"])


def test_malformed_filter_points_at_token(tracking_uri: str) -> None:
    with mk.start_run(experiment="churn"):
        pass
    with pytest.raises(mk.InvalidFilterError) as info:
        mk.search_runs(experiments=["churn"], filter="metrics.acc >> 3")
    assert info.value.position is not None


def test_client_log_batch_is_written_at_once(tracking_uri: str) -> None:
    client = mk.Client()
    exp = client.get_or_create_experiment("batch")
    run = client.create_run(exp.id)
    points = [mk.Metric("x", float(i), i, 1000 + i) for i in range(10_000)]
    client.log_batch(
        run.id, metrics=points, params=[mk.Param("a", "1")], tags=[mk.RunTag("t", "v")]
    )
    assert len(client.get_metric_history(run.id, "x")) == 10_000
    client.set_terminated(run.id, "FINISHED")
    assert client.get_run(run.id).status is mk.RunStatus.FINISHED
    client.close()


def _run_script(tmp_path: Path, body: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)


def test_interpreter_exit_flushes_buffer_and_ends_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    proc = _run_script(
        tmp_path,
        f"""
        import modelkeep as mk
        mk.set_tracking_uri({uri!r})
        run = mk.start_run(experiment="exit")
        for i in range(500):
            run.log_metric("m", float(i), step=i)
        open("run_id", "w").write(run.id)
        """,
    )
    assert proc.wait(timeout=60) == 0
    run_id = (tmp_path / "run_id").read_text()
    client = mk.Client(uri)
    assert len(client.get_metric_history(run_id, "m")) == 500
    assert client.get_run(run_id).status is mk.RunStatus.FINISHED
    client.close()


def test_sigint_ends_run_killed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'int.db'}"
    proc = _run_script(
        tmp_path,
        f"""
        import time, modelkeep as mk
        mk.set_tracking_uri({uri!r})
        with mk.start_run(experiment="ctrl-c") as run:
            open("run_id", "w").write(run.id)
            while True:
                time.sleep(0.05)
        """,
    )
    marker = tmp_path / "run_id"
    deadline = time.monotonic() + 60
    # The file appears when open() creates it: wait for its content, and a moment more, so
    # that the interrupt lands in the sleep loop as a user's Ctrl-C would.
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    client = mk.Client(uri)
    assert client.get_run((tmp_path / "run_id").read_text()).status is mk.RunStatus.KILLED
    client.close()


def test_artifacts_live_next_to_the_store_the_uri_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELKEEP_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELKEEP_HOME", raising=False)
    client = mk.Client(f"sqlite:///{tmp_path / 'elsewhere' / 'mk.db'}")
    run = client.create_run(client.get_or_create_experiment("a").id)
    client.log_bytes(run.id, b"x", "f.txt")
    assert (tmp_path / "elsewhere" / "artifacts").is_dir()
    assert not (tmp_path / ".modelkeep").exists()
    client.close()


def test_param_clash_with_another_writer_fails_the_run_at_end(tracking_uri: str) -> None:
    other = mk.Client(tracking_uri)
    with pytest.raises(mk.ImmutableParamError), mk.start_run(experiment="clash") as run:
        other.log_param(run.id, "lr", "0.5")  # another process got there first
        run.log_param("lr", 0.1)
        run.log_metric("acc", 0.9)
    got = other.get_run(run.id)
    assert got.status is mk.RunStatus.FAILED
    assert got.params == {"lr": "0.5"}
    other.close()
