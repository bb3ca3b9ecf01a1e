"""Maintenance policies: parsing, errors that name their key, YAML output, storing on the
registered model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.maintain.policy import (
    POLICY_TAG,
    Policy,
    duration_text,
    load_policy,
    policy_text,
    store_policy,
    stored_policies,
)
from modelkeep.tracking import Client

FULL = """
model: churn
champion_alias: champion
challenger_alias: challenger
triggers:
  - {kind: drift_share, above: 0.3}
  - {kind: feature_drift, feature: f0, above: 0.2}
  - {kind: performance, metric: accuracy, below: 0.8, band: true}
  - {kind: performance, metric: rmse, above: 4.5, band: false}
  - {kind: schedule, every: 7d}
  - {kind: new_labels, at_least: 500}
  - {kind: manual}
retrain:
  window: 7d
  weight: 2.0
  include_original: false
  holdout: 0.25
  min_rows: 80
evaluation: {metric: roc_auc, slices: [plan, age], alpha: 0.01, bootstrap: 500}
gates: {min_improvement: 0.01, require_significance: false, slice_tolerance: 0.1,
        latency_p99_ms: 25, latency_ratio: null, signature: true, integrity: false,
        data_validation: true}
rollout:
  mode: canary
  steps: [0.1, 0.5, 1.0]
  min_requests: 200
  step_timeout: 10m
  max_error_rate: 0.05
  max_latency_ratio: 2.0
  max_metric_drop: 0.02
  poll: 500ms
"""


def _minimal(**extra: Any) -> dict[str, Any]:
    return {"model": "churn", "triggers": [{"kind": "manual"}], **extra}


def _error(source: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        load_policy(source)
    return info.value


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    with Client(uri, settings=Settings(home=tmp_path)) as opened:
        yield opened


def test_full_policy_reads_every_setting() -> None:
    policy = load_policy(FULL)
    assert [t.kind for t in policy.triggers] == [
        "drift_share",
        "feature_drift",
        "performance",
        "performance",
        "schedule",
        "new_labels",
        "manual",
    ]
    assert policy.triggers[1].feature == "f0" and policy.triggers[1].above == 0.2
    assert policy.triggers[2].uses_band and not policy.triggers[3].uses_band
    assert policy.triggers[3].above == 4.5 and policy.triggers[3].below is None
    assert policy.triggers[4].every == 7 * 86400
    assert policy.triggers[5].at_least == 500
    assert (policy.retrain.window, policy.retrain.weight, policy.retrain.min_rows) == (
        604800.0,
        2.0,
        80,
    )
    assert not policy.retrain.include_original and policy.retrain.holdout == 0.25
    assert policy.evaluation.metric == "roc_auc" and policy.evaluation.slices == ["plan", "age"]
    assert policy.gates.latency_p99_ms == 25 and policy.gates.latency_ratio is None
    assert not policy.gates.integrity and not policy.gates.require_significance
    assert policy.rollout.mode == "canary" and policy.rollout.step_timeout == 600
    assert policy.rollout.poll == 0.5 and policy.rollout.min_requests == 200


def test_defaults() -> None:
    policy = load_policy(_minimal())
    assert (policy.champion_alias, policy.challenger_alias) == ("champion", "challenger")
    assert policy.retrain.window == 7 * 86400 and policy.retrain.holdout == 0.3
    assert policy.retrain.min_rows == 50 and policy.retrain.include_original
    assert policy.evaluation.metric is None and policy.evaluation.alpha == 0.05
    assert policy.gates.require_significance and policy.gates.latency_ratio == 3.0
    assert policy.rollout.mode == "direct" and policy.rollout.steps == [0.1, 0.5, 1.0]
    assert policy.rollout.step_timeout == 600 and policy.rollout.poll == 2


@pytest.mark.parametrize(
    ("trigger", "field", "says"),
    [
        ({"kind": "drift_share"}, "triggers.0.above", "required for a drift_share trigger"),
        ({"kind": "drift_share", "above": "high"}, "triggers.0.above", "valid number"),
        ({"kind": "drift_share", "above": 0.3, "feature": "f0"}, "triggers.0.feature", "not used"),
        ({"kind": "drift_shar", "above": 0.3}, "triggers.0.kind", "unknown trigger kind"),
        ({"kind": "drift_share", "abov": 0.3}, "triggers.0.abov", "did you mean 'above'"),
        ({"kind": "feature_drift", "above": 0.3}, "triggers.0.feature", "required"),
        ({"kind": "performance", "below": 0.8}, "triggers.0.metric", "required"),
        ({"kind": "performance", "metric": "acc", "below": 0.8}, "triggers.0.metric", "unknown"),
        ({"kind": "performance", "metric": "accuracy"}, "triggers.0.below", "needs 'below'"),
        ({"kind": "performance", "metric": "rmse"}, "triggers.0.below", "needs 'above'"),
        (
            {"kind": "performance", "metric": "accuracy", "above": 0.9},
            "triggers.0.above",
            "give 'below'",
        ),
        (
            {"kind": "performance", "metric": "accuracy", "above": 0.9, "below": 0.8},
            "triggers.0.above",
            "give 'below'",
        ),
        ({"kind": "performance", "metric": "mae", "below": 2}, "triggers.0.below", "give 'above'"),
        ({"kind": "schedule"}, "triggers.0.every", "required"),
        ({"kind": "schedule", "every": "7 days"}, "triggers.0.every", "expected a duration"),
        ({"kind": "schedule", "every": 0}, "triggers.0.every", "greater than 0"),
        ({"kind": "new_labels", "at_least": 0}, "triggers.0.at_least", "greater than or equal"),
        ({"kind": "manual", "options": {"x": 1}}, "triggers.0.options", "plugins"),
    ],
)
def test_trigger_errors_name_their_key(trigger: dict[str, Any], field: str, says: str) -> None:
    error = _error({"model": "churn", "triggers": [trigger]})
    assert error.field == field
    assert error.message.startswith(f"{field}: ")
    assert says in error.message


def test_an_error_in_a_later_trigger_names_its_index() -> None:
    error = _error(
        "model: churn\ntriggers:\n  - {kind: manual}\n  - {kind: new_labels, at_least: -1}\n"
    )
    assert error.field == "triggers.1.at_least"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"retrain": {"window": "soon"}}, "retrain.window"),
        ({"retrain": {"holdout": 1.0}}, "retrain.holdout"),
        ({"retrain": {"min_rows": 0}}, "retrain.min_rows"),
        ({"evaluation": {"metric": "accuracy_score"}}, "evaluation.metric"),
        ({"evaluation": {"bootstrap": 10}}, "evaluation.bootstrap"),
        ({"gates": {"latency": 10}}, "gates.latency"),
        ({"gates": {"slice_tolerance": -0.1}}, "gates.slice_tolerance"),
        ({"rollout": {"mode": "blue-green"}}, "rollout.mode"),
        ({"rollout": {"steps": [0.5, 0.2, 1.0]}}, "rollout.steps"),
        ({"rollout": {"steps": [0.1, 0.5]}}, "rollout.steps"),
        ({"rollout": {"steps": [0.0, 1.0]}}, "rollout.steps"),
        ({"rollout": {"poll": float("inf")}}, "rollout.poll"),
        ({"rollout": {"max_error_rate": 1.5}}, "rollout.max_error_rate"),
        ({"challenger_alias": "champion"}, "challenger_alias"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_section_errors_name_their_key(extra: dict[str, Any], field: str) -> None:
    error = _error(_minimal(**extra))
    assert error.field == field
    assert error.message.startswith(f"{field}: ")


def test_model_and_a_trigger_are_required() -> None:
    assert _error({"triggers": [{"kind": "manual"}]}).field == "model"
    assert _error({"model": "churn", "triggers": []}).field == "triggers"


def test_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "churn.yaml"
    path.write_text(FULL, encoding="utf-8")
    assert load_policy(path) == load_policy(str(path)) == load_policy(FULL)


def test_document_errors_say_policy(tmp_path: Path) -> None:
    missing = _error(str(tmp_path / "nope.yaml"))
    assert missing.field == "policy" and missing.message.startswith("policy file not found")
    broken = _error("model: [churn\ntriggers: []\n")
    assert broken.field == "policy" and "line" in broken.message
    listed = _error("- model\n- churn\n")
    assert listed.message == "policy: expected a mapping with 'model' and 'triggers'"


def test_policy_text_reads_back_equal() -> None:
    policy = load_policy(FULL)
    text = policy_text(policy)
    assert load_policy(text) == policy
    assert "every: 7d" in text and "step_timeout: 10m" in text and "poll: 500ms" in text
    assert "feature: null" not in text  # keys a trigger kind does not use are left out


def test_policy_text_keeps_an_inexact_duration_as_seconds() -> None:
    policy = load_policy(_minimal(rollout={"poll": 1.2345}))
    assert "poll: 1.2345" in policy_text(policy)
    assert load_policy(policy_text(policy)).rollout.poll == 1.2345


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (604800, "7d"),
        (5400, "90m"),
        (90, "90s"),
        (0.25, "250ms"),
        (0, "0s"),
        (11823, "3.3h"),
        (1.5, "1.5s"),
        (0.0001, "0.0001s"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_store_and_list_policies(client: Client) -> None:
    for name in ("churn", "fraud", "spam"):
        client.store.create_registered_model(name)
    fraud = store_policy(client, _minimal(model="fraud"))
    churn = store_policy(client, FULL)
    assert isinstance(churn, Policy)
    assert stored_policies(client) == [churn, fraud]
    assert client.get_registered_model("churn").tags[POLICY_TAG] == policy_text(churn)
    assert POLICY_TAG not in client.get_registered_model("spam").tags


def test_storing_again_replaces_the_policy(client: Client) -> None:
    client.store.create_registered_model("churn")
    store_policy(client, _minimal())
    newer = store_policy(client, load_policy(_minimal(retrain={"min_rows": 500})))
    assert stored_policies(client) == [newer]
    assert newer.retrain.min_rows == 500


def test_store_refuses_a_policy_for_an_unknown_model(client: Client) -> None:
    client.store.create_registered_model("churn")
    with pytest.raises(NotFoundError) as info:
        store_policy(client, _minimal(model="churm"))
    assert info.value.field == "model"
    assert "'churm'" in info.value.message
    assert stored_policies(client) == []


def test_store_refuses_an_invalid_policy_and_keeps_the_old_one(client: Client) -> None:
    client.store.create_registered_model("churn")
    kept = store_policy(client, _minimal())
    with pytest.raises(InvalidInputError) as info:
        store_policy(client, _minimal(rollout={"mode": "sometimes"}))
    assert info.value.field == "rollout.mode"
    assert stored_policies(client) == [kept]


def test_a_hand_edited_bad_policy_names_its_model(client: Client) -> None:
    client.store.create_registered_model("churn")
    client.store.set_registered_model_tag("churn", POLICY_TAG, "model: churn\ntriggers: []\n")
    with pytest.raises(InvalidInputError) as info:
        stored_policies(client)
    assert info.value.field == "triggers"
    assert "model 'churn'" in info.value.message


def test_a_stored_policy_naming_another_model_is_refused(client: Client) -> None:
    client.store.create_registered_model("churn")
    text = policy_text(load_policy(_minimal(model="fraud")))
    client.store.set_registered_model_tag("churn", POLICY_TAG, text)
    with pytest.raises(InvalidInputError) as info:
        stored_policies(client)
    assert info.value.field == "model"


def test_a_one_line_tag_is_not_read_as_a_file(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FULL, encoding="utf-8")
    client.store.create_registered_model("churn")
    client.store.set_registered_model_tag("churn", POLICY_TAG, str(path))
    with pytest.raises(InvalidInputError) as info:
        stored_policies(client)
    assert "expected a mapping" in info.value.message
