"""Energy on runs: what :func:`log_energy` writes, and versions compared by it.

A measured run gets the metrics ``wall_seconds``, ``cpu_seconds``, ``peak_memory_mb``,
``energy_kwh`` and ``co2_kg``, the tags ``modelkeep.energy.method`` (``codecarbon``,
``codecarbon-estimate`` or ``estimate``) and ``modelkeep.energy.country``, and the artifact
``energy.json`` (:meth:`EnergyUse.to_dict`: the same numbers plus the carbon intensity used and
the seconds codecarbon tracked). Training runs, tuning studies' parent runs (the whole study)
and the refit of a study's best trial are measured.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from modelkeep.energy.estimate import EnergyUse
from modelkeep.entities import Metric, ModelVersion, Run, RunTag, now_ms

if TYPE_CHECKING:
    import pandas as pd

    from modelkeep.tracking import Client

__all__ = [
    "ENERGY_ARTIFACT",
    "ENERGY_METRICS",
    "TAG_ENERGY_COUNTRY",
    "TAG_ENERGY_METHOD",
    "compare_versions",
    "log_energy",
]

TAG_ENERGY_METHOD = "modelkeep.energy.method"
TAG_ENERGY_COUNTRY = "modelkeep.energy.country"
ENERGY_ARTIFACT = "energy.json"
ENERGY_METRICS = ("energy_kwh", "co2_kg", "cpu_seconds", "wall_seconds", "peak_memory_mb")


def log_energy(client: Client, run_id: str, use: EnergyUse, *, step: int = 0) -> None:
    """Record ``use`` on a run: metrics, tags and ``energy.json`` (see the module docstring).

    Example:
        >>> with EnergyMeter() as meter:  # doctest: +SKIP
        ...     work()
        >>> log_energy(client, run.id, meter.use)  # doctest: +SKIP
    """
    timestamp = now_ms()
    metrics = [Metric(name, value, step, timestamp) for name, value in use.as_metrics().items()]
    tags = [RunTag(TAG_ENERGY_METHOD, use.method), RunTag(TAG_ENERGY_COUNTRY, use.country)]
    client.log_batch(run_id, metrics=metrics, tags=tags)
    body = json.dumps(use.to_dict(), indent=2, sort_keys=True).encode("utf-8")
    client.log_bytes(run_id, body, ENERGY_ARTIFACT)


def compare_versions(client: Client, name: str) -> pd.DataFrame:
    """The energy of every version of a registered model, side by side (for the model card).

    One row per version, oldest first: ``version``, ``aliases``, ``run_id``, ``method``,
    ``country``, the five energy metrics of the run that produced the version (NaN where it
    recorded none) and ``study_energy_kwh`` / ``study_co2_kg``: the whole tuning study's, when
    the version was refit from one (its run's parent recorded energy).

    Raises:
        NotFoundError: no registered model ``name``.

    Example:
        >>> table = compare_versions(client, "churn")  # doctest: +SKIP
        >>> table[["version", "energy_kwh", "co2_kg"]]  # doctest: +SKIP
    """
    import pandas as pd

    client.get_registered_model(name)  # NotFoundError for an unknown model
    rows = [_version_row(client, version) for version in _versions(client, name)]
    columns = ["version", "aliases", "run_id", "method", "country", *ENERGY_METRICS]
    columns += ["study_energy_kwh", "study_co2_kg"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("version", ignore_index=True)


def _versions(client: Client, name: str) -> list[ModelVersion]:
    quoted = name.replace("'", "''")
    found: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(f"name = '{quoted}'", page_token=token)
        found.extend(page)
        token = page.next_page_token
        if not token:
            return found


def _version_row(client: Client, version: ModelVersion) -> dict[str, Any]:
    run = _run_or_none(client, version.run_id)
    parent = _run_or_none(client, run.parent_run_id) if run is not None else None
    row: dict[str, Any] = {
        "version": version.version,
        "aliases": ",".join(version.aliases),
        "run_id": version.run_id,
        "method": run.tags.get(TAG_ENERGY_METHOD) if run is not None else None,
        "country": run.tags.get(TAG_ENERGY_COUNTRY) if run is not None else None,
    }
    for metric in ENERGY_METRICS:
        row[metric] = _metric(run, metric)
    row["study_energy_kwh"] = _metric(parent, "energy_kwh")
    row["study_co2_kg"] = _metric(parent, "co2_kg")
    return row


def _run_or_none(client: Client, run_id: str | None) -> Run | None:
    from modelkeep.exceptions import NotFoundError

    if not run_id:
        return None
    try:
        return client.get_run(run_id)
    except NotFoundError:  # an imported version's run may be gone
        return None


def _metric(run: Run | None, name: str) -> float:
    if run is None:
        return math.nan
    return float(run.metrics.get(name, math.nan))
