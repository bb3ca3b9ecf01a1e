"""Types shared by the CLI tests and their fixtures (``conftest.py`` cannot be imported)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from typer.testing import Result

Invoke = Callable[..., Result]


@dataclass(frozen=True)
class Seeded:
    experiment_id: str
    run_ids: dict[str, str]  # run name -> id
