"""Conformance tests for the audit log.

Part of :class:`modelkeep.testing.store_conformance.StoreConformance`. Every successful mutating
call, tracking and registry alike, appends exactly one event in its own transaction (so a failed
call appends none, and reads none); ``list_audit_events`` filters and returns them newest first.
Over HTTP the server records the events; without authentication it takes the actor the client
names (its :func:`~modelkeep.store.audit.audit_context`), which is what these tests rely on.
"""

from __future__ import annotations

import pytest

from modelkeep.entities import DatasetInput, Metric, Param, Role, RunStatus, RunTag
from modelkeep.exceptions import (
    AlreadyExistsError,
    ImmutableParamError,
    InvalidInputError,
    NotFoundError,
)
from modelkeep.registry.signing import key_id, sign_root_digest
from modelkeep.store.audit import AuditEvent, audit_context
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import new_key

__all__ = ["AuditListingConformance", "AuditRecordingConformance"]

DIGEST = "c" * 64


def _log(store: BaseStore) -> list[tuple[str, str]]:
    """``(action, target)`` of every event, oldest first."""
    return [(e.action, e.target) for e in reversed(store.list_audit_events())]


def _only(store: BaseStore, action: str) -> AuditEvent:
    (event,) = store.list_audit_events(action=action)
    return event


class AuditRecordingConformance:
    """Which calls record an event, with which action, target and detail."""

    def test_every_tracking_write_records_one_event(self, store: BaseStore) -> None:
        exp = store.create_experiment("audited", tags={"team": "a"})
        store.set_experiment_tag(exp.id, "k", "v")
        run = store.create_run(exp.id, run_name="r")
        store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 1)], params=[Param("lr", "0.1")])
        store.log_inputs(run.id, [DatasetInput("train", DIGEST, "file.csv", {"x": "int"})])
        store.record_artifact(run.id, "model/weights.bin", DIGEST, 10)
        store.update_run(run.id, status=RunStatus.FINISHED, end_time=5)
        store.delete_run(run.id)
        store.restore_run(run.id)
        store.delete_experiment(exp.id)
        store.restore_experiment(exp.id)
        token = store.create_token("ci", Role.WRITER, "e" * 64)
        store.revoke_token(token.id)
        on_run, on_exp, on_token = f"run:{run.id}", f"experiment:{exp.id}", f"token:{token.id}"
        assert _log(store) == [
            ("create_experiment", on_exp),
            ("set_experiment_tag", on_exp),
            ("create_run", on_run),
            ("log_batch", on_run),
            ("log_inputs", on_run),
            ("record_artifact", on_run),
            ("update_run", on_run),
            ("delete_run", on_run),
            ("restore_run", on_run),
            ("delete_experiment", on_exp),
            ("restore_experiment", on_exp),
            ("create_token", on_token),
            ("revoke_token", on_token),
        ]

    def test_every_registry_write_records_one_event(self, store: BaseStore) -> None:
        store.create_registered_model("churn", tags={"team": "a"})
        store.set_registered_model_tag("churn", "k", "v")
        store.delete_registered_model_tag("churn", "k")
        store.update_registered_model("churn", description="d")
        store.create_model_version("churn", "runs:/x/model", DIGEST)
        store.update_model_version("churn", 1, description="first")
        store.set_model_version_tag("churn", 1, "k", "v")
        store.delete_model_version_tag("churn", 1, "k")
        key, public = new_key()
        store.add_model_version_signature("churn", 1, public, sign_root_digest(key, DIGEST)[1])
        store.set_model_alias("churn", "champion", 1, reason="first")
        store.delete_model_alias("churn", "champion")
        store.set_model_alias("churn", "champion", 1)
        store.delete_model_version("churn", 1, force=True)
        store.delete_registered_model("churn")
        model, version, alias = "model:churn", "model:churn/1", "model:churn@champion"
        assert _log(store) == [
            ("create_registered_model", model),
            ("set_registered_model_tag", model),
            ("delete_registered_model_tag", model),
            ("update_registered_model", model),
            ("create_model_version", version),
            ("update_model_version", version),
            ("set_model_version_tag", version),
            ("delete_model_version_tag", version),
            ("add_model_version_signature", version),
            ("set_model_alias", alias),
            ("delete_model_alias", alias),
            ("set_model_alias", alias),
            ("delete_model_version", version),
            ("delete_registered_model", model),
        ]
        assert _only(store, "add_model_version_signature").details["key_id"] == key_id(public)
        assert _only(store, "delete_model_version").details["removed"] == ["champion"]

    def test_log_batch_records_one_event_with_counts_and_keys(self, store: BaseStore) -> None:
        run = store.create_run(store.create_experiment("e").id)
        metrics = [Metric(f"m{i % 3}", float(i), i, i) for i in range(30)]
        store.log_batch(run.id, metrics, [Param("lr", "0.123")], [RunTag("note", "secret-ish")])
        event = _only(store, "log_batch")
        assert event.details == {"metrics": 30, "params": ["lr"], "tags": ["note"]}
        assert "0.123" not in event.detail and "secret-ish" not in event.detail

    def test_helpers_record_the_calls_they_make(self, store: BaseStore) -> None:
        run = store.create_run(store.create_experiment("e").id)
        store.log_metric(run.id, "loss", 0.5)
        store.finish_run(run.id, RunStatus.FINISHED, 10, params=[Param("a", "1")])
        store.finish_run(run.id, RunStatus.FINISHED, 11)
        actions = [action for action, _ in _log(store)]
        assert actions == ["create_experiment", "create_run"] + ["log_batch"] * 2 + [
            "update_run",
            "update_run",
        ]
        assert store.list_audit_events(action="update_run")[0].details == {
            "end_time": 11,
            "status": "FINISHED",
        }

    def test_token_event_keeps_name_and_role_but_never_the_hash(self, store: BaseStore) -> None:
        token_hash = "f0" * 32
        store.create_token("deploy-bot", Role.ADMIN, token_hash)
        event = _only(store, "create_token")
        assert event.details == {"name": "deploy-bot", "role": "admin"}
        assert token_hash not in event.detail

    def test_reads_record_nothing(self, store: BaseStore) -> None:
        run = store.create_run(store.create_experiment("e").id)
        store.create_model_version("churn", "runs:/x/model", DIGEST, run_id=run.id)
        store.set_model_alias("churn", "champion", 1)
        before = store.list_audit_events()
        store.get_run(run.id)
        store.search_runs([run.experiment_id])
        store.list_experiments()
        store.get_metric_history(run.id, "m")
        store.list_artifacts(run.id)
        store.list_tokens()
        store.get_model_version_by_alias("churn", "champion")
        store.search_model_versions()
        store.list_alias_history("churn")
        assert store.list_audit_events() == before

    def test_failed_calls_record_nothing(self, store: BaseStore) -> None:
        run = store.create_run(store.create_experiment("e").id)
        store.log_batch(run.id, params=[Param("lr", "0.1")])
        before = store.list_audit_events()
        with pytest.raises(AlreadyExistsError):
            store.create_experiment("e")
        with pytest.raises(ImmutableParamError):
            store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 1)], params=[Param("lr", "9")])
        with pytest.raises(NotFoundError):
            store.update_run("0" * 32, status=RunStatus.FAILED)
        with pytest.raises(NotFoundError):
            store.set_model_alias("nope", "champion", 1)
        assert store.list_audit_events() == before

    def test_actor_comes_from_the_audit_context(self, store: BaseStore) -> None:
        with audit_context(actor="alice"):
            exp = store.create_experiment("by-alice")
            with audit_context(actor="bob"):
                store.set_experiment_tag(exp.id, "k", "v")
            store.delete_experiment(exp.id)
        store.restore_experiment(exp.id)
        events = list(reversed(store.list_audit_events()))
        assert [e.actor for e in events[:3]] == ["alice", "bob", "alice"]
        assert events[3].actor not in ("", "alice", "bob")
        assert all(e.source for e in events)

    def test_registry_actor_argument_is_kept_when_it_names_someone_else(
        self, store: BaseStore
    ) -> None:
        with audit_context(actor="alice"):
            store.create_model_version("churn", "runs:/x/model", DIGEST, actor="alice")
            store.set_model_alias("churn", "champion", 1, reason="better", actor="release-bot")
        created, aliased = _only(store, "create_model_version"), _only(store, "set_model_alias")
        assert (created.actor, aliased.actor) == ("alice", "alice")
        assert "actor" not in created.details
        assert aliased.details == {"version": 1, "reason": "better", "actor": "release-bot"}


class AuditListingConformance:
    """``list_audit_events``: newest first, filters, limits, validation."""

    def _three_actors(self, store: BaseStore) -> None:
        for actor in ("alice", "bob", "alice"):
            with audit_context(actor=actor):
                store.create_experiment(f"exp-{len(store.list_experiments())}")

    def test_newest_first_with_increasing_ids(self, store: BaseStore) -> None:
        self._three_actors(store)
        events = store.list_audit_events()
        assert [e.target for e in events] == [
            f"experiment:{x.id}" for x in reversed(store.list_experiments())
        ]
        assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
        stamps = [e.timestamp for e in events]
        assert stamps == sorted(stamps, reverse=True)

    def test_filter_by_actor_and_action(self, store: BaseStore) -> None:
        self._three_actors(store)
        with audit_context(actor="alice"):
            store.set_experiment_tag(store.list_experiments()[0].id, "k", "v")
        assert len(store.list_audit_events(actor="alice")) == 3
        assert [e.actor for e in store.list_audit_events(actor="bob")] == ["bob"]
        found = store.list_audit_events(actor="alice", action="create_experiment")
        assert [e.action for e in found] == ["create_experiment"] * 2
        assert store.list_audit_events(actor="nobody") == []

    def test_filter_by_target_prefix(self, store: BaseStore) -> None:
        store.create_model_version("churn", "runs:/x/model", DIGEST)
        store.create_model_version("churn", "runs:/x/model", DIGEST)
        store.create_model_version("churn_%", "runs:/x/model", DIGEST)
        store.set_model_alias("churn", "champion", 2)
        versions = store.list_audit_events(target_prefix="model:churn/")
        assert [e.target for e in versions] == ["model:churn/2", "model:churn/1"]
        assert len(store.list_audit_events(target_prefix="model:churn")) == 4
        assert [e.target for e in store.list_audit_events(target_prefix="model:churn_%")] == [
            "model:churn_%/1"
        ]
        assert store.list_audit_events(target_prefix="MODEL:") == []

    def test_filter_by_time_window(self, store: BaseStore) -> None:
        self._three_actors(store)
        events = store.list_audit_events()
        middle = events[1].timestamp
        since = store.list_audit_events(since_ms=middle)
        until = store.list_audit_events(until_ms=middle)
        assert since == [e for e in events if e.timestamp >= middle]
        assert until == [e for e in events if e.timestamp <= middle]
        assert store.list_audit_events(since_ms=middle, until_ms=middle) == [
            e for e in events if e.timestamp == middle
        ]
        assert store.list_audit_events(since_ms=events[0].timestamp + 1) == []

    def test_max_results_keeps_the_newest(self, store: BaseStore) -> None:
        self._three_actors(store)
        events = store.list_audit_events()
        assert store.list_audit_events(max_results=2) == events[:2]

    @pytest.mark.parametrize("bad", [0, -1, 50_001])
    def test_bad_max_results_is_refused(self, store: BaseStore, bad: int) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.list_audit_events(max_results=bad)
        assert info.value.field == "max_results"

    def test_window_that_ends_before_it_starts_is_refused(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.list_audit_events(since_ms=10, until_ms=5)
        assert info.value.field == "since_ms"

    def test_returned_events_are_frozen(self, store: BaseStore) -> None:
        store.create_experiment("e")
        event = store.list_audit_events()[0]
        with pytest.raises(AttributeError):
            event.actor = "mallory"  # type: ignore[misc]
