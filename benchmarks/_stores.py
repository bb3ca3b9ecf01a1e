"""Brand-new stores for benchmark workloads: a SQLite file, a PostgreSQL database, a server.

Each context manager yields a tracking URI and removes everything it made afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import tempfile
import threading
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


@contextlib.contextmanager
def tracking_server(tmp: Path) -> Iterator[str]:
    """modelkeep's tracking server over SQLite, served by uvicorn in a thread of this process."""
    import uvicorn

    from modelkeep.artifacts import LocalArtifactStore
    from modelkeep.server import create_app
    from modelkeep.store import open_store

    store = open_store(f"sqlite:///{tmp / 'server.db'}")
    app = create_app(mk.Settings(home=tmp), store, LocalArtifactStore(tmp / "artifacts"))
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then,
    # and without it Nagle plus delayed ACKs add ~40 ms to every keep-alive response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the tracking server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        store.close()


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
