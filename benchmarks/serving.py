"""Inference-server throughput and latency: ``modelkeep serve`` against ``mlflow models serve``.

The model is ``RandomForestClassifier(n_estimators=100, random_state=0)`` trained on
scikit-learn's breast_cancer table (569 rows x 30 features), logged as a package with its
signature, registered as ``bench-rf`` and served as ``models:/bench-rf@champion`` with the
defaults (runtime ``auto``, micro-batching, inference log on). Each request is one row in
MLflow's ``dataframe_split`` format. Load comes from ``benchmarks/loadgen.py`` in its own
process: closed-loop keep-alive connections (1 and 16 by default) for ``--seconds`` each after
a one-second warm-up. The server's peak resident memory is read from ``/proc`` (VmHWM).

With ``--compare-mlflow PYTHON`` (an interpreter with ``mlflow==3.17.2``), the same model is
trained and saved by that interpreter and served with ``PYTHON -m mlflow models serve
--env-manager local`` (one worker) under the same load, and the ratios are printed.

Examples::

    .venv/bin/python benchmarks/serving.py
    .venv/bin/python benchmarks/serving.py --compare-mlflow /tmp/mlflow-venv/bin/python
    .venv/bin/python benchmarks/serving.py --connections 1,4,16,64 --seconds 20 --json -
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 30.0
TARGET_P99_MS = 50.0
TARGET_P50_1_MS = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_model(home: Path) -> tuple[str, list[str], list[float]]:
    """Train, log and register the model; returns (store URI, columns, one row)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from modelkeep.config import Settings
    from modelkeep.tracking import Client

    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    uri = f"sqlite:///{home / 'modelkeep.db'}"
    with Client(uri, settings=Settings(home=home)) as client:
        experiment = client.get_or_create_experiment("bench-serving")
        run = client.create_run(experiment.id, run_name="rf")
        info = client.log_model(run.id, model, "model", input_example=X.head(5))
        client.set_terminated(run.id)
        version = client.register_model(info.uri, "bench-rf")
        client.set_alias("bench-rf", "champion", version.version)
    return uri, [str(c) for c in X.columns], [float(v) for v in X.iloc[0]]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url} after {timeout:.0f} s")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of ``pid`` plus its children (uvicorn workers), in MiB."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def drive(url: str, body_file: Path, connections: int, seconds: float) -> dict[str, Any]:
    command = [
        sys.executable, str(HERE / "loadgen.py"), url, str(body_file),
        "--connections", str(connections), "--seconds", str(seconds),
    ]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def measure(
    name: str, command: list[str], env: dict[str, str], port: int, ready_path: str,
    body_file: Path, loads: list[int], seconds: float,
) -> dict[str, Any]:  # fmt: skip
    print(f"starting {name} ...", file=sys.stderr)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", process)
        results = {}
        for connections in loads:
            print(f"  {name}: {connections} connection(s), {seconds:g} s", file=sys.stderr)
            url = f"http://127.0.0.1:{port}/invocations"
            results[connections] = drive(url, body_file, connections, seconds)
        return {"loads": results, "peak_rss_mb": peak_rss_mb(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def serve_modelkeep(tmp: Path, args: argparse.Namespace, body: Path, port: int) -> dict[str, Any]:
    home = tmp / "home"
    uri, _, _ = make_model(home)
    command = [
        sys.executable, "-m", "modelkeep.cli.app", "--store", uri, "serve",
        "models:/bench-rf@champion", "--port", str(port), "--runtime", args.runtime,
        "--workers", str(args.workers),
    ] + ([] if args.log else ["--no-inference-log"])  # fmt: skip
    env = {**os.environ, "MODELKEEP_HOME": str(home)}
    loads = [int(c) for c in args.connections.split(",")]
    return measure("modelkeep", command, env, port, "/ready", body, loads, args.seconds)


def serve_mlflow(tmp: Path, args: argparse.Namespace, body: Path, port: int) -> dict[str, Any]:
    python = args.compare_mlflow
    model_dir = tmp / "mlflow-model"
    subprocess.run([python, str(HERE / "mlflow_serving_model.py"), str(model_dir)], check=True)
    command = [
        python, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager",
        "local", "--port", str(port), "--host", "127.0.0.1", "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{tmp / 'mlruns'}",
        # mlflow starts `uvicorn` by name: its venv's bin must come first on the PATH.
        "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    loads = [int(c) for c in args.connections.split(",")]
    return measure("mlflow", command, env, port, "/ping", body, loads, args.seconds)


def table(ours: dict[str, Any], theirs: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for connections, result in ours["loads"].items():
        row: dict[str, Any] = {"connections": connections, "modelkeep": result}
        other = theirs["loads"].get(connections) if theirs else None
        if other:
            row["mlflow"] = other
            row["throughput_ratio"] = result["rps"] / other["rps"] if other["rps"] else None
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], ours: dict[str, Any], theirs: dict[str, Any] | None,
                args: argparse.Namespace) -> None:  # fmt: skip
    from rich.console import Console
    from rich.table import Table

    out = Table(title="modelkeep serve vs mlflow models serve: one-row dataframe_split requests")
    for header in ("conns", "modelkeep req/s", "p50 ms", "p99 ms", "errors", "MLflow req/s",
                   "p50 ms", "p99 ms", "ratio", "target", "ok"):  # fmt: skip
        out.add_column(header, justify="right")
    for row in rows:
        ours_r, theirs_r = row["modelkeep"], row.get("mlflow")
        conns = row["connections"]
        target, ok = _target(conns, ours_r, row.get("throughput_ratio"))
        out.add_row(
            str(conns), f"{ours_r['rps']:,.0f}", f"{ours_r['p50_ms']:.2f}",
            f"{ours_r['p99_ms']:.2f}", str(ours_r["errors"]),
            f"{theirs_r['rps']:,.1f}" if theirs_r else "-",
            f"{theirs_r['p50_ms']:.1f}" if theirs_r else "-",
            f"{theirs_r['p99_ms']:.1f}" if theirs_r else "-",
            f"{row['throughput_ratio']:.1f}x" if row.get("throughput_ratio") else "-",
            target, ok,
        )  # fmt: skip
    console = Console(width=160)
    console.print(out)
    memory = f"peak RSS: modelkeep {ours['peak_rss_mb']:.0f} MiB"
    if theirs:
        memory += f", MLflow {theirs['peak_rss_mb']:.0f} MiB"
    console.print(f"{memory}; runtime={args.runtime}, workers={args.workers}, inference log "
                  f"{'on' if args.log else 'off'}; {os.cpu_count()} CPUs; "
                  f"{args.seconds:g} s per load after 1 s warm-up")  # fmt: skip


def _target(conns: int, result: dict[str, Any], ratio: float | None) -> tuple[str, str]:
    if conns == 1:
        return f"p50 <= {TARGET_P50_1_MS:g} ms", _yes(result["p50_ms"] <= TARGET_P50_1_MS)
    if conns == 16:
        text = f">= {TARGET_RATIO:g}x, p99 <= {TARGET_P99_MS:g} ms"
        if ratio is None:
            return text, "?"
        return text, _yes(ratio >= TARGET_RATIO and result["p99_ms"] <= TARGET_P99_MS)
    return "", ""


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,16", help="comma-separated loads")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load")
    parser.add_argument("--runtime", default="auto", choices=["auto", "native", "onnx"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-log", dest="log", action="store_false",
                        help="serve with --no-inference-log")  # fmt: skip
    parser.add_argument("--compare-mlflow", metavar="PYTHON", help="MLflow's interpreter")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON (- = stdout)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mk-bench-serve-") as name:
        tmp = Path(name)
        from sklearn.datasets import load_breast_cancer

        X = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
        body = tmp / "body.json"
        payload = {"dataframe_split": {"columns": [str(c) for c in X.columns],
                                       "data": [[float(v) for v in X.iloc[0]]]}}  # fmt: skip
        body.write_text(json.dumps(payload))
        ours = serve_modelkeep(tmp, args, body, free_port())
        theirs = serve_mlflow(tmp, args, body, free_port()) if args.compare_mlflow else None
    rows = table(ours, theirs)
    print_table(rows, ours, theirs, args)
    if args.json:
        text = json.dumps({"modelkeep": ours, "mlflow": theirs, "rows": rows}, indent=2)
        if args.json == "-":
            print(text)  # noqa: T201
        else:
            Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
