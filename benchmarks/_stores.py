"""Brand-new stores for benchmark workloads: a SQLite file, a PostgreSQL database, a server.

Each context manager yields a tracking URI and removes everything it made afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import modelkeep as mk
from modelkeep.tracking import fluent

__all__ = ["BACKENDS", "fresh_store", "postgres_database", "tracking_server"]

BACKENDS = ("sqlite", "postgresql", "server")
PG_SERVER = "postgres@127.0.0.1:5432"
_database_numbers = itertools.count()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one workload; dropped afterwards."""
    import psycopg

    name = f"mk_bench_{os.getpid()}_{next(_database_numbers)}"
    admin = f"postgresql://{PG_SERVER}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tracking_server(tmp: Path) -> Iterator[str]:
    """``modelkeep server`` over SQLite in its own process, as a team would run it."""
    import httpx

    port = _free_port()
    command = [
        sys.executable, "-m", "modelkeep.cli.app", "--store", f"sqlite:///{tmp / 'server.db'}",
        "server", "--port", str(port), "--artifact-root", str(tmp / "artifacts"),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the tracking server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def fresh_store(backend: str) -> Iterator[str]:
    """The tracking URI of a brand-new store of ``backend``; everything is closed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mk_bench_") as tmp_name:
        tmp = Path(tmp_name)
        if backend == "sqlite":
            store: contextlib.AbstractContextManager[str] = contextlib.nullcontext(
                f"sqlite:///{tmp / 'mk.db'}"
            )
        elif backend == "postgresql":
            store = postgres_database()
        else:
            store = tracking_server(tmp)
        with store as uri:
            # Artifacts of SQL stores go next to the database file or under MODELKEEP_HOME.
            old_home = os.environ.get("MODELKEEP_HOME")
            os.environ["MODELKEEP_HOME"] = str(tmp / "home")
            mk.set_tracking_uri(uri)
            try:
                yield uri
            finally:
                fluent.reset()  # closes the fluent API's cached client before the store goes
                mk.set_tracking_uri(None)
                if old_home is None:
                    os.environ.pop("MODELKEEP_HOME", None)
                else:
                    os.environ["MODELKEEP_HOME"] = old_home
