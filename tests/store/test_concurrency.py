"""Several processes writing one SQLite store at once: nothing lost, no "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from modelkeep.store.sql import SqlStore

PROCESSES = 8
RUNS = 200
POINTS = 50

WORKER = textwrap.dedent(
    """
    import sys
    import modelkeep as mk

    uri, worker = sys.argv[1], int(sys.argv[2])
    mk.set_tracking_uri(uri)  # the store is opened (and migrated) by all workers at once
    for i in range({runs}):
        with mk.start_run(experiment="stress", run_name=f"w{{worker}}-{{i}}") as run:
            run.log_params({{"worker": worker, "i": i}})
            for step in range({points}):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
    """
).format(runs=RUNS, points=POINTS)


def test_eight_processes_log_into_one_fresh_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, str(w)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert b"locked" not in err

    store = SqlStore(uri)
    exp = store.get_experiment_by_name("stress")
    assert exp is not None
    runs = []
    page = store.search_runs([exp.id], max_results=50_000)
    runs.extend(page)
    assert len(runs) == PROCESSES * RUNS
    assert {r.name for r in runs} == {f"w{w}-{i}" for w in range(PROCESSES) for i in range(RUNS)}
    assert all(r.status.value == "FINISHED" for r in runs)
    assert all(r.params["worker"] == r.name[1 : r.name.index("-")] for r in runs)
    sample = runs[:: len(runs) // 20]
    for run in sample:
        history = store.get_metric_history(run.id, "loss")
        assert [m.step for m in history] == list(range(POINTS))
    assert all(r.metrics["loss"] == 1.0 / POINTS for r in runs)
    store.close()
