"""Run the inference server with uvicorn (httptools + uvloop, no access log on the hot path).

With ``workers`` above 1, uvicorn starts that many processes, each building the app from
:data:`~modelkeep.serve.app.OPTIONS_ENV` and loading its own copy of the model. Like the
tracking server, it binds 127.0.0.1 by default and refuses any other address unless auth is on
and at least one active token exists.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.serve.app import OPTIONS_ENV, create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.server.runner import is_loopback
from modelkeep.store import open_store

__all__ = ["check_models_load", "check_port_free", "check_serving_bind", "run_serving"]


def check_serving_bind(options: ServeOptions) -> None:
    """Refuse a non-loopback host unless auth is on and some active token exists.

    Raises:
        InvalidInputError: (``field="host"``) when binding the host is not allowed.
    """
    if is_loopback(options.host):
        return
    if not options.auth:
        raise InvalidInputError(
            f"refusing to bind {options.host!r} without authentication: anyone on the network "
            "could query the model. Bind 127.0.0.1, or pass --auth and create a token with "
            "`modelkeep token create`.",
            field="host",
        )
    assert options.tracking_uri is not None  # the CLI resolves it
    store = open_store(options.tracking_uri)
    try:
        if not any(not token.revoked for token in store.list_tokens()):
            raise InvalidInputError(
                f"refusing to bind {options.host!r}: auth is on but no active token exists; "
                "create one with `modelkeep token create`.",
                field="host",
            )
    finally:
        store.close()


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, before uvicorn would fail on it.

    Raises:
        InvalidInputError: (``field="port"``) the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port",
                field="port",
            ) from None


def check_models_load(options: ServeOptions, settings: Settings) -> None:
    """Load every model the server would serve, once, so that an unknown alias, a tampered
    package or a missing --allow-code is one error here instead of a failed start-up inside
    uvicorn (the server then loads them again; ONNX conversions come from the cache). A canary
    whose alias is not set yet is not an error: the server starts with it pending.

    Raises:
        ModelkeepError: what loading a model raised.
    """
    from modelkeep.serve.deployment import load_deployment
    from modelkeep.serve.rollout import alias_not_set
    from modelkeep.tracking import Client

    assert options.tracking_uri is not None  # the CLI resolves it
    cache = Path(settings.home) / "cache" / "onnx"
    with Client(options.tracking_uri, settings=settings) as client:
        for uri in (options.model_uri, options.canary_uri, options.shadow_uri):
            if uri is None:
                continue
            try:
                load_deployment(
                    client, uri, runtime=options.runtime, cache_dir=cache,
                    allow_code=options.allow_code,
                )  # fmt: skip
            except NotFoundError as exc:
                # a canary may wait for its alias: it starts pending (see serve.state)
                if uri != options.canary_uri or not alias_not_set(uri, exc):
                    raise


def run_serving(options: ServeOptions, settings: Settings) -> None:
    """Serve until interrupted (blocking).

    Raises:
        InvalidInputError: a public address without auth, or a port in use.
        ModelkeepError: a model cannot be loaded (see :func:`check_models_load`).
    """
    import uvicorn

    options = _with_store(options, settings)
    check_serving_bind(options)
    check_port_free(options.host, options.port)
    check_models_load(options, settings)
    common = {
        "host": options.host,
        "port": options.port,
        "access_log": False,
        "log_level": "warning",
        "proxy_headers": False,
        "http": "httptools",
        "loop": "uvloop" if _has_uvloop() else "asyncio",
        "timeout_graceful_shutdown": 30,
    }
    if options.workers == 1:
        uvicorn.run(create_serving_app(options, settings), **common)  # type: ignore[arg-type]
        return
    os.environ[OPTIONS_ENV] = json.dumps(options.to_dict())
    os.environ["MODELKEEP_HOME"] = str(settings.home)
    uvicorn.run(
        "modelkeep.serve.app:app_from_environment",
        factory=True,
        workers=options.workers,
        **common,  # type: ignore[arg-type]
    )


def _with_store(options: ServeOptions, settings: Settings) -> ServeOptions:
    if options.tracking_uri is not None:
        return options
    raw = options.to_dict()
    raw["tracking_uri"] = settings.resolved_tracking_uri()
    return ServeOptions(**raw)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
