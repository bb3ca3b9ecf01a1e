"""Which store a command acts on: ``--store``, else ``MODELKEEP_TRACKING_URI``, else the
SQLite file under ``MODELKEEP_HOME`` (``./.modelkeep/modelkeep.db``).

The root command puts a :class:`CliState` on the Typer context; commands open the store through
:func:`open_client` or :func:`open_metadata_store`, which close it when the command ends.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer

from modelkeep.config import Settings
from modelkeep.store import BaseStore, open_store
from modelkeep.tracking import Client

__all__ = [
    "CliState",
    "cli_state",
    "open_client",
    "open_metadata_store",
    "resolve_settings",
    "store_option_hint",
]


@dataclass(frozen=True, slots=True)
class CliState:
    """What the root command parsed.

    Attributes:
        store_uri: the ``--store`` option (or ``MODELKEEP_TRACKING_URI``); ``None`` means the
            default store.
        store_given_on_command_line: whether ``--store`` was typed (not taken from the
            environment), so follow-up commands we print must repeat it.
    """

    store_uri: str | None = None
    store_given_on_command_line: bool = False


def cli_state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the root command (a default one if it has none)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def resolve_settings(ctx: typer.Context, store_uri: str | None = None) -> Settings:
    """Settings whose tracking URI is ``store_uri``, else the root ``--store``, else the env.

    Setting ``tracking_uri`` on the settings (not only opening that URI) matters: the artifact
    root of a SQLite store is derived from it, the same way ``modelkeep server`` derives it.
    """
    settings = Settings()
    uri = store_uri or cli_state(ctx).store_uri
    if uri:
        settings = settings.model_copy(update={"tracking_uri": uri})
    return settings


@contextmanager
def open_client(ctx: typer.Context) -> Iterator[Client]:
    """A tracking :class:`Client` on the resolved store, closed when the block ends."""
    settings = resolve_settings(ctx)
    client = Client(settings.resolved_tracking_uri(), settings=settings)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def open_metadata_store(ctx: typer.Context, store_uri: str | None = None) -> Iterator[BaseStore]:
    """The resolved metadata store itself (for tokens and migrations), closed at the end."""
    settings = resolve_settings(ctx, store_uri)
    store = open_store(settings.resolved_tracking_uri(), token=settings.tracking_token)
    try:
        yield store
    finally:
        store.close()


def store_option_hint(ctx: typer.Context) -> str:
    """``--store URI `` when it was typed, so printed follow-up commands hit the same store."""
    state = cli_state(ctx)
    if state.store_given_on_command_line and state.store_uri:
        return f"--store {shlex.quote(state.store_uri)} "
    return ""
