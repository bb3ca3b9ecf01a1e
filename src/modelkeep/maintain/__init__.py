"""Maintenance: policies that retrain, test challenger against champion, gate, roll out
through the canary and roll back, with every decision recorded.

Example:
    >>> from modelkeep.maintain import load_policy, run_policies, store_policy
    >>> store_policy(client, "policy.yaml")  # doctest: +SKIP
    >>> [record] = run_policies(server_url="http://127.0.0.1:8080")  # doctest: +SKIP
    >>> record.action, record.evaluation["challenger"], record.gates  # doctest: +SKIP

Policy YAML keys are documented in :mod:`modelkeep.maintain.policy`, triggers in
:mod:`~modelkeep.maintain.triggers`, the paired tests in :mod:`~modelkeep.maintain.stats` and
:mod:`~modelkeep.maintain.evaluate`, the gates in :mod:`~modelkeep.maintain.gates`, the rollout
in :mod:`~modelkeep.maintain.rollout` and the records in :mod:`~modelkeep.maintain.decisions`.
Triggers and gates are plugins: :func:`register_trigger`, :func:`register_gate`.
"""

from __future__ import annotations

from modelkeep.maintain.decisions import DecisionRecord, list_decisions
from modelkeep.maintain.evaluate import Evaluation, evaluate_pair
from modelkeep.maintain.gates import GateContext, GateResult, register_gate
from modelkeep.maintain.manual import rollback_champion
from modelkeep.maintain.policy import Policy, load_policy, store_policy, stored_policies
from modelkeep.maintain.rollout import canary_rollout
from modelkeep.maintain.runner import evaluate_policy, run_policies
from modelkeep.maintain.stats import mcnemar_test, paired_bootstrap
from modelkeep.maintain.triggers import TriggerContext, TriggerResult, register_trigger
from modelkeep.maintain.watch import watch_policies

__all__ = [
    "DecisionRecord",
    "Evaluation",
    "GateContext",
    "GateResult",
    "Policy",
    "TriggerContext",
    "TriggerResult",
    "canary_rollout",
    "evaluate_pair",
    "evaluate_policy",
    "list_decisions",
    "load_policy",
    "mcnemar_test",
    "paired_bootstrap",
    "register_gate",
    "register_trigger",
    "rollback_champion",
    "run_policies",
    "store_policy",
    "stored_policies",
    "watch_policies",
]
