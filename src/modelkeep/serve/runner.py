"""Run the inference server with uvicorn (httptools + uvloop, no access log on the hot path).

With ``workers`` above 1, uvicorn starts that many processes, each building the app from
:data:`~modelkeep.serve.app.OPTIONS_ENV` and loading its own copy of the model. Like the
tracking server, it binds 127.0.0.1 by default and refuses any other address unless auth is on
and at least one active token exists.
"""

from __future__ import annotations

import json
import os

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.serve.app import OPTIONS_ENV, create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.server.runner import is_loopback
from modelkeep.store import open_store

__all__ = ["check_serving_bind", "run_serving"]


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


def run_serving(options: ServeOptions, settings: Settings) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    options = _with_store(options, settings)
    check_serving_bind(options)
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
