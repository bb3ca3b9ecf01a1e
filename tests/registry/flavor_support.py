"""Helpers for the flavor and package tests: tiny data, and an attacker's manifest rewrite."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeep.registry.manifest import hash_package_files, read_manifest, write_manifest


def mixed_frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small mixed-type table (floats, ints, strings) and binary labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "visits": rng.integers(0, 20, rows),
            "city": rng.choice(["oslo", "rome", "lima"], rows),
        }
    )
    labels = ((frame["age"] > 40) ^ (frame["city"] == "rome")).astype(int).to_numpy()
    return frame, labels


def numeric_data(rows: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small float matrix with 4 features and binary labels."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 4))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
    return features, labels


def rehash(directory: Path, **option_changes: Any) -> str:
    """Rewrite MODEL.json so it matches the files as they are now (what an attacker who can
    write the whole package does); ``option_changes`` update its flavor_options."""
    manifest = read_manifest(directory)
    options = {**manifest.flavor_options, **option_changes}
    updated = dataclasses.replace(
        manifest, files=hash_package_files(directory), flavor_options=options
    )
    return write_manifest(directory, updated)
