"""Evaluating maintenance policies: trigger -> retrain -> evaluate -> gates -> rollout.

:func:`evaluate_policy` runs one policy once and returns its :class:`DecisionRecord`:

1. Resolve the champion; build the trigger context from its newest monitoring run, its
   training time and the labels that arrived since; evaluate the triggers.
2. Derive the evaluation's key from the evidence (champion version, fired triggers, the
   monitoring run, label and schedule buckets). A finished record with that key means the
   work was done: it is returned, nothing is repeated. A record left ``running`` by a process
   that stopped is resumed (a challenger it registered is reused, not retrained).
3. Retrain on refreshed data (:mod:`~modelkeep.maintain.refresh`,
   :mod:`~modelkeep.maintain.retrain`), the challenger alias pointing at the new version.
4. Score champion and challenger on the holdout (:mod:`~modelkeep.maintain.evaluate`) and run
   every gate (:mod:`~modelkeep.maintain.gates`). A failed gate: the challenger alias is
   removed, the champion untouched, the reasons recorded.
5. Roll out (:mod:`~modelkeep.maintain.rollout`): promote directly, or through the canary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelkeep.config import Settings
from modelkeep.entities import ModelVersion
from modelkeep.exceptions import ModelkeepError, NotFoundError
from modelkeep.maintain.decisions import (
    DecisionRecord,
    find_decision,
    list_decisions,
    save_decision,
    start_decision,
)
from modelkeep.maintain.policy import Policy, load_policy, stored_policies
from modelkeep.maintain.triggers import TriggerContext, TriggerResult, evaluate_triggers
from modelkeep.tracking import Client

__all__ = ["evaluate_policy", "run_policies"]

_log = logging.getLogger("modelkeep.maintain")
Progress = Callable[[str], None]


def run_policies(
    *,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
    policies: Sequence[Policy | str | Path] | None = None,
    models: Sequence[str] | None = None,
    manual: bool = False,
    server_url: str | None = None,
    now_ms: int | None = None,
    progress: Progress | None = None,
) -> list[DecisionRecord]:
    """Evaluate every policy once (the stored ones unless ``policies`` are given).

    Args:
        policies: policies (or their YAML) to use instead of those stored with the models.
        models: only these models' policies.
        manual: fire ``manual`` triggers (``modelkeep maintain run --manual``).
        server_url: the inference server serving the canary, for canary rollouts.
        now_ms: the current time (tests); the clock's when None.
        progress: called with one line per stage (the CLI prints them).
    """
    settings = settings or Settings()
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        chosen = [load_policy(p) if not isinstance(p, Policy) else p for p in policies or ()]
        if policies is None:
            chosen = stored_policies(client)
        if models is not None:
            chosen = [p for p in chosen if p.model in set(models)]
        return [
            evaluate_policy(
                client,
                settings,
                policy,
                manual=manual,
                server_url=server_url,
                now_ms=now_ms,
                progress=progress,
            )  # fmt: skip
            for policy in chosen
        ]


def evaluate_policy(
    client: Client,
    settings: Settings,
    policy: Policy,
    *,
    manual: bool = False,
    server_url: str | None = None,
    now_ms: int | None = None,
    progress: Progress | None = None,
    decided_by: str = "policy",
) -> DecisionRecord:
    """One policy, once (see the module docstring)."""
    say = progress or (lambda line: _log.info("%s", line))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        uri = f"models:/{policy.model}@{policy.champion_alias}"
        champion = client.resolve_model_uri(uri).version
    except NotFoundError as exc:
        return _no_champion(client, policy, decided_by, str(exc))
    assert champion is not None
    pending = _pending(client, policy.model)
    if pending is not None:
        say(f"{policy.model}: resuming the unfinished decision {pending.run_id}")
        return _pipeline(client, settings, policy, pending, champion, now, server_url, say)
    context, evidence = _trigger_context(client, settings, policy, champion, now, manual)
    results = evaluate_triggers(policy, context)
    key = _key(policy, champion, results, evidence, context)
    existing = find_decision(client, policy.model, key)
    if existing is not None and existing.done:
        return existing
    record = start_decision(client, policy.model, key, decided_by=decided_by)
    record.champion_version = int(champion.version)
    record.triggers = [r.to_dict() for r in results]
    fired = [r for r in results if r.fired]
    if not fired:
        return _finish(client, record, "none", "no trigger fired")
    say(f"{policy.model}: triggered by {'; '.join(r.detail for r in fired)}")
    return _pipeline(client, settings, policy, record, champion, now, server_url, say)


def _pipeline(
    client: Client,
    settings: Settings,
    policy: Policy,
    record: DecisionRecord,
    champion: ModelVersion,
    now: int,
    server_url: str | None,
    say: Progress,
) -> DecisionRecord:
    from modelkeep.maintain.rollout import withdraw
    from modelkeep.maintain.stages import evaluate_and_gate, prepare_challenger, roll_out

    try:
        if record.challenger_version is not None and int(champion.version) == int(
            record.challenger_version
        ):
            withdraw(client, policy, reason=f"promoted v{champion.version} (completed)")
            return _finish(client, record, "promoted", "the challenger was promoted before a "
                           "restart; the record is completed")  # fmt: skip
        staged = prepare_challenger(client, settings, policy, record, champion, now, say)
        if staged is None:
            return _finish(client, record, record.action, record.reason)
        if not evaluate_and_gate(client, policy, record, champion, staged, say):
            return _finish(client, record, "rejected", record.reason)
        outcome, reason = roll_out(client, settings, policy, record, server_url, say)
        return _finish(client, record, outcome, reason)
    except (ModelkeepError, ValueError, KeyError, TypeError, OSError) as exc:
        # A data or configuration problem: recorded, so the record is not resumed forever;
        # whatever else stops the process (KeyboardInterrupt, a kill) leaves it resumable.
        _log.error("maintenance of %s failed: %s", policy.model, exc)
        return _finish(client, record, "skipped", f"failed: {exc}")


def _no_champion(client: Client, policy: Policy, decided_by: str, why: str) -> DecisionRecord:
    """A ``skipped`` record for a model without a champion (one per model: not repeated)."""
    key = f"{policy.model}|no {policy.champion_alias}"
    existing = find_decision(client, policy.model, key)
    if existing is not None and existing.done:
        return existing
    record = start_decision(client, policy.model, key, decided_by=decided_by)
    return _finish(client, record, "skipped", f"no {policy.champion_alias} to maintain: {why}")


def _finish(client: Client, record: DecisionRecord, action: str, reason: str) -> DecisionRecord:
    record.action, record.reason = action, reason
    save_decision(client, record, finish=True)
    return record


def _pending(client: Client, model: str) -> DecisionRecord | None:
    for record in list_decisions(client, model, limit=5):
        if not record.done and record.decided_by == "policy":
            return record
    return None


def _trigger_context(
    client: Client,
    settings: Settings,
    policy: Policy,
    champion: ModelVersion,
    now: int,
    manual: bool,
) -> tuple[TriggerContext, str]:
    """The trigger context and the evidence it rests on: the inference log's state since the
    champion was trained (predictions, labels, newest prediction), so the same data never
    starts the same work twice however many monitoring runs look at it."""
    from modelkeep.maintain.stages import log_state
    from modelkeep.monitor.alert_history import monitoring_runs

    runs = monitoring_runs(client, policy.model, 1)
    latest = runs[0] if runs else None
    current = latest is not None and latest.tags.get("modelkeep.monitor.version") == str(
        champion.version
    )
    trained_ms = _trained_ms(client, champion)
    state = log_state(settings, policy.model, trained_ms, now)
    context = TriggerContext(
        now_ms=now,
        monitor_metrics=dict(latest.metrics) if current and latest is not None else None,
        last_training_ms=trained_ms,
        new_labels=state["labeled"],
        manual=manual,
    )
    evidence = f"{state['predictions']}-{state['labeled']}-{state['last_ms']}"
    return context, evidence


def _trained_ms(client: Client, version: ModelVersion) -> int | None:
    if not version.run_id:
        return None
    try:
        return int(client.get_run(version.run_id).start_time)
    except NotFoundError:
        return None


def _key(
    policy: Policy,
    champion: ModelVersion,
    results: list[TriggerResult],
    evidence: str,
    context: TriggerContext,
) -> str:
    """What the evaluation acted on: the same key again means the same evidence."""
    parts = [policy.model, f"v{champion.version}"]
    for spec, result in zip(policy.triggers, results, strict=True):
        if not result.fired:
            continue
        if spec.kind == "new_labels" and spec.at_least:
            parts.append(f"labels{context.new_labels // spec.at_least}")
        elif spec.kind == "schedule" and spec.every:
            since = context.now_ms - (context.last_training_ms or 0)
            parts.append(f"schedule{int(since // (spec.every * 1000))}")
        elif spec.kind == "manual":
            parts.append(f"manual{context.now_ms}")
        else:
            parts.append(spec.kind)
    parts.append(f"data:{evidence}")
    return "|".join(parts)


def decision_summary(record: DecisionRecord) -> dict[str, Any]:
    """The record's headline (for tables)."""
    evaluation = record.evaluation or {}
    return {
        "run_id": record.run_id,
        "model": record.model,
        "action": record.action,
        "champion": record.champion_version,
        "challenger": record.challenger_version,
        "metric": evaluation.get("metric"),
        "reason": record.reason,
        "started_ms": record.started_ms,
    }
