"""Every CLI command and option must appear in README.md's "CLI reference" (Datasette's rule).

The reference is a table with one row per command; its first cell is the command in backticks
(`` `modelkeep runs search` ``, or `` `modelkeep` `` for the global options) and the row must
name each of the command's options.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from modelkeep.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _reference_rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## CLI reference\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, "README.md has no '## CLI reference' section"
    rows = {}
    for line in match.group(1).splitlines():
        cell = re.match(r"\|\s*`(modelkeep[^`]*)`\s*\|", line)
        if cell:
            rows[cell.group(1).strip()] = line
    return rows


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(``modelkeep sub cmd``, command) for the root and every leaf command."""
    subcommands = getattr(command, "commands", None)
    if not path or not subcommands:
        yield " ".join(("modelkeep", *path)), command
    for name, sub in sorted((subcommands or {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(get_command(app)))


def _option_names(command: Any) -> list[str]:
    names = []
    for param in command.params:
        if param.param_type_name != "option":
            continue
        names += [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
    return [name for name in names if name != "--help"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_and_its_options_are_documented(name: str) -> None:
    rows = _reference_rows()
    assert name in rows, f"`{name}` is missing from README.md's CLI reference"
    undocumented = [
        option
        for option in _option_names(COMMANDS[name])
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", rows[name])
    ]
    assert undocumented == [], f"options of `{name}` missing from its README row: {undocumented}"


def test_reference_documents_no_command_that_does_not_exist() -> None:
    assert sorted(_reference_rows()) == sorted(COMMANDS)
