"""What a model card shows beyond the registry: the reports stored with a version's run
(explanations, audits, compression) and the energy of every version's training run."""

from __future__ import annotations

import json
from typing import Any

from modelkeep.entities import ModelVersion
from modelkeep.exceptions import NotFoundError
from modelkeep.registry.card_reports import ENERGY_METRICS, CardReports
from modelkeep.store.search_tokens import render_quoted
from modelkeep.tracking.client import Client

__all__ = ["card_reports"]

ENERGY_METHOD_TAG = "modelkeep.energy.method"


def card_reports(client: Client, version: ModelVersion) -> CardReports:
    """The stored reports of ``version`` (absent ones are None)."""
    run_id = version.run_id
    compress_tags = {k: v for k, v in version.tags.items() if k.startswith("modelkeep.compress.")}
    return CardReports(
        importance=_json(client, run_id, "explain/importance.json"),
        importance_png=_bytes(client, run_id, "explain/importance.png"),
        privacy=_json(client, run_id, "audit/privacy.json"),
        security=_json(client, run_id, "audit/security.json"),
        compress=_json(client, run_id, "compress/variants.json"),
        compress_tags=compress_tags,
        energy=_energy(client, version.name),
    )


def _bytes(client: Client, run_id: str | None, path: str) -> bytes | None:
    if not run_id:
        return None
    try:
        return client.read_artifact(run_id, path)
    except NotFoundError:
        return None


def _json(client: Client, run_id: str | None, path: str) -> dict[str, Any] | None:
    data = _bytes(client, run_id, path)
    if data is None:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _energy(client: Client, name: str) -> list[dict[str, Any]]:
    """One row per version: its training run's energy metrics (oldest version first)."""
    rows = []
    versions = client.search_model_versions(f"name = {render_quoted(name, chr(39))}")
    for version in sorted(versions, key=lambda v: int(v.version)):
        if not version.run_id:
            continue
        try:
            run = client.get_run(version.run_id)
        except NotFoundError:
            continue
        row: dict[str, Any] = {"version": version.version,
                               "method": run.tags.get(ENERGY_METHOD_TAG, "-")}  # fmt: skip
        row.update({key: run.metrics.get(key) for key in ENERGY_METRICS})
        rows.append(row)
    return rows
