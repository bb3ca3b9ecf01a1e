"""Decision records: what every maintenance evaluation saw, measured and did.

Each evaluation of a policy (and each rollback by hand) is one run of the experiment
``maintenance``. Its tags name the model, the action and the idempotency key; its metrics hold
the headline numbers; ``decision.json`` holds the whole record: the trigger evidence, both
models' metrics and the test statistics, every gate's result, the rollout steps, the action
taken and who or what decided. The record is rewritten after each stage, so a process that
stops half-way leaves a record that says how far it got, and :func:`find_decision` lets the
next run resume it instead of repeating finished work.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from modelkeep.entities import Metric
from modelkeep.store.search_tokens import render_quoted
from modelkeep.tracking import Client

__all__ = [
    "MAINTENANCE_EXPERIMENT",
    "DecisionRecord",
    "find_decision",
    "list_decisions",
    "save_decision",
    "start_decision",
]

MAINTENANCE_EXPERIMENT = "maintenance"
TAG_MODEL = "modelkeep.maintain.model"
TAG_ACTION = "modelkeep.maintain.action"
TAG_KEY = "modelkeep.maintain.key"
TAG_STATUS = "modelkeep.maintain.status"
DECISION_FILE = "decision.json"

ACTIONS = (
    "pending",  # started, not finished (a crash leaves this)
    "none",  # no trigger fired
    "skipped",  # a trigger fired but there was too little data (or no champion)
    "rejected",  # a gate failed: champion untouched
    "promoted",  # the challenger became champion (directly or after a canary)
    "rolled_back",  # the canary was worse and was withdrawn, or a rollback by hand
)


@dataclass
class DecisionRecord:
    """One evaluation of one model's policy (see the module docstring).

    Attributes:
        run_id: the ``maintenance`` run holding it.
        model: the registered model.
        key: what makes this evaluation unique (the evidence it acted on): a run that finds a
            finished record with the same key does nothing again.
        status: ``running`` or ``done``.
        action: one of ``pending, none, skipped, rejected, promoted, rolled_back``.
        reason: one sentence for people.
        decided_by: ``policy`` (with the trigger) or the user who acted by hand.
        champion_version, challenger_version: the versions compared (None if not reached).
        triggers: each trigger's result (kind, fired, observed, threshold, detail).
        data: the refreshed data's sources and sizes.
        evaluation: both models' scores on the holdout and the test statistics.
        gates: each gate's result (name, passed, detail, values).
        rollout: the canary steps as they happened.
        started_ms, finished_ms: epoch milliseconds.
    """

    run_id: str
    model: str
    key: str
    status: str = "running"
    action: str = "pending"
    reason: str = ""
    decided_by: str = "policy"
    champion_version: int | None = None
    challenger_version: int | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    rollout: list[dict[str, Any]] = field(default_factory=list)
    started_ms: int = 0
    finished_ms: int | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def start_decision(
    client: Client, model: str, key: str, *, decided_by: str = "policy"
) -> DecisionRecord:
    """A new record (and its ``maintenance`` run), status ``running``."""
    experiment = client.get_or_create_experiment(MAINTENANCE_EXPERIMENT)
    tags = {TAG_MODEL: model, TAG_KEY: key_digest(key), TAG_ACTION: "pending",
            TAG_STATUS: "running"}  # fmt: skip
    run = client.create_run(experiment.id, run_name=f"{model[:200]} maintenance", tags=tags)
    record = DecisionRecord(
        str(run.id), model, key, decided_by=decided_by, started_ms=int(time.time() * 1000)
    )
    save_decision(client, record)
    return record


def save_decision(client: Client, record: DecisionRecord, *, finish: bool = False) -> None:
    """Write ``record`` (again); with ``finish`` mark it done and end its run."""
    if finish:
        record.status = "done"
        record.finished_ms = int(time.time() * 1000)
    text = json.dumps(record.to_dict(), default=_json_default, indent=1)
    client.artifacts.log_bytes(record.run_id, text.encode(), DECISION_FILE)
    client.set_tag(record.run_id, TAG_ACTION, record.action)
    client.set_tag(record.run_id, TAG_STATUS, record.status)
    if finish:
        client.log_batch(record.run_id, _metrics(record), [])
        client.set_terminated(record.run_id)


def list_decisions(
    client: Client, model: str | None = None, limit: int = 100
) -> list[DecisionRecord]:
    """The decision records of ``model`` (every model when None), newest first."""
    return [_read(client, run.id) for run in _runs(client, model, None, limit)]


def find_decision(client: Client, model: str, key: str) -> DecisionRecord | None:
    """The newest record of ``model`` with ``key``, or None."""
    runs = _runs(client, model, key, 1)
    return _read(client, runs[0].id) if runs else None


def key_digest(key: str) -> str:
    """The tag value a key is found by: its sha256 (keys may be longer than a tag)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _runs(client: Client, model: str | None, key: str | None, limit: int) -> list[Any]:
    experiment = client.get_experiment_by_name(MAINTENANCE_EXPERIMENT)
    if experiment is None:
        return []
    clauses = []
    if model is not None:
        clauses.append(f"tags.`{TAG_MODEL}` = {render_quoted(model, chr(39))}")
    if key is not None:
        clauses.append(f"tags.`{TAG_KEY}` = {render_quoted(key_digest(key), chr(39))}")
    return list(
        client.search_runs(
            [experiment.id],
            " and ".join(clauses),
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
    )


def _read(client: Client, run_id: str) -> DecisionRecord:
    data = json.loads(client.read_artifact(run_id, DECISION_FILE))
    return DecisionRecord.from_dict(data)


def _metrics(record: DecisionRecord) -> list[Metric]:
    now = int(time.time() * 1000)
    values: dict[str, float] = {
        "gates_passed": float(sum(bool(g.get("passed")) for g in record.gates)),
        "gates_failed": float(sum(not g.get("passed") for g in record.gates)),
    }
    evaluation = record.evaluation or {}
    for name in ("champion", "challenger"):
        if isinstance(evaluation.get(name), int | float):
            values[f"{name}_{evaluation.get('metric', 'metric')}"] = float(evaluation[name])
    return [Metric(k, v, 0, now) for k, v in values.items()]


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
