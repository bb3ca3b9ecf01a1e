"""Rollback by hand, recorded like every other maintenance decision.

``rollback_champion("churn", reason="v5 mislabels refunds")`` points ``champion`` back at the
version it pointed at before its current one (:meth:`Client.rollback_alias`) and writes a
decision record (action ``rolled_back``, decided by the user) so ``modelkeep maintain history``
and the model card show it next to the policy's decisions.
"""

from __future__ import annotations

import time

from modelkeep.entities import AliasChange
from modelkeep.maintain.decisions import DecisionRecord, save_decision, start_decision
from modelkeep.tracking import Client
from modelkeep.tracking.client_models import default_actor

__all__ = ["rollback_champion"]


def rollback_champion(
    client: Client,
    model: str,
    *,
    alias: str = "champion",
    reason: str = "",
    actor: str | None = None,
) -> tuple[AliasChange, DecisionRecord]:
    """Move ``alias`` of ``model`` back one version and record the decision.

    Raises:
        NotFoundError: no such model, or the alias is not set.
        InvalidInputError: (``field="alias"``) no earlier version to go back to.
    """
    who = actor or default_actor()
    change = client.rollback_alias(model, alias, reason or "rollback", actor=who)
    record = start_decision(
        client, model, f"{model}|rollback|{alias}|{int(time.time() * 1000)}", decided_by=who
    )
    record.action = "rolled_back"
    record.reason = reason or "rollback by hand"
    record.champion_version = change.version
    record.challenger_version = change.previous_version
    record.data = {
        "alias": alias,
        "from_version": change.previous_version,
        "to_version": change.version,
    }
    save_decision(client, record, finish=True)
    return change, record
