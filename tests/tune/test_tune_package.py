"""The package surface: its public names, and Optuna kept inside ``modelkeep.tune``."""

from __future__ import annotations

import re
from pathlib import Path

import modelkeep.tune

SOURCE = Path(modelkeep.tune.__file__).resolve().parents[1]


def test_public_names_are_exactly_the_intended_ones() -> None:
    assert sorted(modelkeep.tune.__all__) == [
        "TuneConfig",
        "TuneResult",
        "load_tune_config",
        "tune",
    ]


def test_only_the_tune_package_imports_optuna() -> None:
    importing = [
        path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*.py")
        if re.search(r"^\s*(import optuna|from optuna)", path.read_text(), re.M)
    ]
    assert importing and all(name.startswith("tune/") for name in importing), importing
