"""Conformance tests for experiments, runs, artifact records and API tokens.

Part of :class:`modelkeep.testing.store_conformance.StoreConformance`; the helpers here are
shared by the other ``store_conformance_*`` modules.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from modelkeep.entities import (
    ArtifactRecord,
    LifecycleStage,
    Role,
    Run,
    RunStatus,
    now_ms,
)
from modelkeep.exceptions import AlreadyExistsError, InvalidInputError, NotFoundError
from modelkeep.store.base import BaseStore

__all__ = [
    "T0",
    "ArtifactConformance",
    "ExperimentConformance",
    "RunConformance",
    "TokenConformance",
    "new_experiment",
    "new_run",
]

# A realistic epoch-millisecond base (> 2**31) so backends must store times as 64-bit integers.
T0 = 1_700_000_000_000
# Unknown ids of both shapes a backend might use (integer keys, uuids): neither may leak a
# database error instead of NotFoundError.
MISSING_ID = "no-such-id-0000"
MISSING_IDS = ["no-such-id-0000", "987654321"]
DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def new_experiment(store: BaseStore, name: str = "exp") -> str:
    """Create an experiment and return its id."""
    return store.create_experiment(name).id


def new_run(
    store: BaseStore,
    experiment_id: str | None = None,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    start_time: int | None = None,
) -> Run:
    """Create a run, in the experiment ``exp`` (created on first use) unless one is given."""
    if experiment_id is None:
        experiment_id = store.get_or_create_experiment("exp").id
    return store.create_run(
        experiment_id,
        run_name=run_name,
        tags=tags,
        parent_run_id=parent_run_id,
        start_time=start_time,
    )


class ExperimentConformance:
    """Experiments: naming, lookup, listing, soft delete and tags."""

    def test_create_experiment_returns_active_experiment(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn", tags={"team": "a"})
        assert (exp.name, exp.lifecycle_stage, dict(exp.tags)) == (
            "churn",
            LifecycleStage.ACTIVE,
            {"team": "a"},
        )

    def test_create_experiment_sets_creation_time(self, store: BaseStore) -> None:
        before = now_ms()
        exp = store.create_experiment("churn")
        assert before <= exp.creation_time <= now_ms()

    def test_get_experiment_returns_created(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn", tags={"k": "v"})
        assert store.get_experiment(exp.id) == exp

    @pytest.mark.parametrize("missing", MISSING_IDS)
    def test_get_experiment_unknown_id_raises_not_found(
        self, store: BaseStore, missing: str
    ) -> None:
        with pytest.raises(NotFoundError):
            store.get_experiment(missing)

    def test_get_experiment_by_name_finds_it(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn")
        found = store.get_experiment_by_name("churn")
        assert found is not None and found.id == exp.id

    def test_get_experiment_by_name_unknown_returns_none(self, store: BaseStore) -> None:
        assert store.get_experiment_by_name("nope") is None

    def test_get_experiment_by_name_finds_deleted(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn")
        store.delete_experiment(exp.id)
        found = store.get_experiment_by_name("churn")
        assert found is not None and found.lifecycle_stage is LifecycleStage.DELETED

    def test_duplicate_experiment_name_raises_already_exists(self, store: BaseStore) -> None:
        store.create_experiment("churn")
        with pytest.raises(AlreadyExistsError):
            store.create_experiment("churn")

    def test_name_of_deleted_experiment_stays_taken(self, store: BaseStore) -> None:
        store.delete_experiment(store.create_experiment("churn").id)
        with pytest.raises(AlreadyExistsError):
            store.create_experiment("churn")

    def test_empty_experiment_name_is_invalid(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.create_experiment("")
        assert info.value.field

    def test_list_experiments_ordered_by_name(self, store: BaseStore) -> None:
        for name in ("bravo", "charlie", "alpha"):
            store.create_experiment(name)
        assert [e.name for e in store.list_experiments()] == ["alpha", "bravo", "charlie"]

    @pytest.mark.parametrize(
        ("view", "expected"),
        [("active", ["keep"]), ("deleted", ["gone"]), ("all", ["gone", "keep"])],
    )
    def test_list_experiments_view(self, store: BaseStore, view: str, expected: list[str]) -> None:
        store.create_experiment("keep")
        store.delete_experiment(store.create_experiment("gone").id)
        assert [e.name for e in store.list_experiments(view=view)] == expected

    def test_delete_experiment_marks_it_deleted(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn")
        store.delete_experiment(exp.id)
        assert store.get_experiment(exp.id).lifecycle_stage is LifecycleStage.DELETED

    def test_restore_experiment_makes_it_active_again(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn")
        store.delete_experiment(exp.id)
        store.restore_experiment(exp.id)
        assert [e.id for e in store.list_experiments()] == [exp.id]

    @pytest.mark.parametrize("method", ["delete_experiment", "restore_experiment"])
    def test_lifecycle_of_unknown_experiment_raises_not_found(
        self, store: BaseStore, method: str
    ) -> None:
        with pytest.raises(NotFoundError):
            getattr(store, method)(MISSING_ID)

    def test_set_experiment_tag_overwrites(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn", tags={"team": "a", "keep": "1"})
        store.set_experiment_tag(exp.id, "team", "b")
        assert dict(store.get_experiment(exp.id).tags) == {"team": "b", "keep": "1"}

    def test_set_tag_of_unknown_experiment_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.set_experiment_tag(MISSING_ID, "k", "v")

    def test_get_or_create_experiment_creates_missing(self, store: BaseStore) -> None:
        exp = store.get_or_create_experiment("churn")
        assert store.get_experiment(exp.id).name == "churn"

    def test_get_or_create_experiment_returns_existing(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn")
        assert store.get_or_create_experiment("churn").id == exp.id


class RunConformance:
    """Runs: creation, lookup, status changes and soft delete."""

    def test_create_run_is_running_and_active(self, store: BaseStore) -> None:
        exp_id = new_experiment(store)
        run = store.create_run(exp_id, run_name="r1", start_time=T0)
        assert (run.experiment_id, run.name, run.status, run.start_time, run.end_time) == (
            exp_id,
            "r1",
            RunStatus.RUNNING,
            T0,
            None,
        )
        assert run.lifecycle_stage is LifecycleStage.ACTIVE

    def test_create_run_without_name_generates_one(self, store: BaseStore) -> None:
        run = new_run(store)
        assert isinstance(run.name, str) and run.name

    def test_create_run_without_start_time_uses_now(self, store: BaseStore) -> None:
        before = now_ms()
        run = new_run(store)
        assert before <= run.start_time <= now_ms()

    def test_create_run_stores_tags(self, store: BaseStore) -> None:
        run = new_run(store, tags={"team": "a", "env": "dev"})
        assert dict(store.get_run(run.id).tags) == {"team": "a", "env": "dev"}

    def test_create_run_stores_parent(self, store: BaseStore) -> None:
        parent = new_run(store)
        child = new_run(store, parent_run_id=parent.id)
        assert store.get_run(child.id).parent_run_id == parent.id

    def test_create_run_with_unknown_parent_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            new_run(store, parent_run_id=MISSING_ID)

    def test_create_run_in_unknown_experiment_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.create_run(MISSING_ID)

    def test_run_ids_are_unique(self, store: BaseStore) -> None:
        assert new_run(store).id != new_run(store).id

    def test_get_run_returns_created(self, store: BaseStore) -> None:
        run = new_run(store, run_name="r1", tags={"k": "v"}, start_time=T0)
        assert store.get_run(run.id) == run

    @pytest.mark.parametrize("missing", MISSING_IDS)
    def test_get_run_unknown_id_raises_not_found(self, store: BaseStore, missing: str) -> None:
        with pytest.raises(NotFoundError):
            store.get_run(missing)

    @pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
    def test_update_run_sets_status_and_end_time(
        self, store: BaseStore, status: RunStatus
    ) -> None:
        run = new_run(store, start_time=T0)
        store.update_run(run.id, status=status, end_time=T0 + 5)
        got = store.get_run(run.id)
        assert (got.status, got.end_time) == (status, T0 + 5)

    def test_update_run_renames_and_keeps_status(self, store: BaseStore) -> None:
        run = new_run(store, run_name="old")
        store.update_run(run.id, run_name="new")
        got = store.get_run(run.id)
        assert (got.name, got.status) == ("new", RunStatus.RUNNING)

    def test_update_unknown_run_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.update_run(MISSING_ID, status=RunStatus.FINISHED)

    def test_delete_run_marks_it_deleted(self, store: BaseStore) -> None:
        run = new_run(store)
        store.delete_run(run.id)
        assert store.get_run(run.id).lifecycle_stage is LifecycleStage.DELETED

    def test_restore_run_makes_it_active(self, store: BaseStore) -> None:
        run = new_run(store)
        store.delete_run(run.id)
        store.restore_run(run.id)
        assert store.get_run(run.id).lifecycle_stage is LifecycleStage.ACTIVE

    @pytest.mark.parametrize("method", ["delete_run", "restore_run"])
    def test_lifecycle_of_unknown_run_raises_not_found(
        self, store: BaseStore, method: str
    ) -> None:
        with pytest.raises(NotFoundError):
            getattr(store, method)(MISSING_ID)


class ArtifactConformance:
    """Artifact records: the logical tree of a run mapped to blob digests."""

    def test_record_artifact_returns_record(self, store: BaseStore) -> None:
        run = new_run(store)
        rec = store.record_artifact(run.id, "model/weights.bin", DIGEST_A, 42)
        assert (rec.run_id, rec.path, rec.digest, rec.size) == (
            run.id,
            "model/weights.bin",
            DIGEST_A,
            42,
        )

    def test_get_artifact_returns_recorded(self, store: BaseStore) -> None:
        run = new_run(store)
        rec = store.record_artifact(run.id, "plot.png", DIGEST_A, 7)
        assert store.get_artifact(run.id, "plot.png") == rec

    def test_record_artifact_last_write_wins(self, store: BaseStore) -> None:
        run = new_run(store)
        store.record_artifact(run.id, "plot.png", DIGEST_A, 7)
        store.record_artifact(run.id, "plot.png", DIGEST_B, 9)
        assert [(r.digest, r.size) for r in store.list_artifacts(run.id)] == [(DIGEST_B, 9)]

    def test_list_artifacts_sorted_by_path(self, store: BaseStore) -> None:
        run = new_run(store)
        for path in ("b.txt", "a/z.txt", "a/b.txt"):
            store.record_artifact(run.id, path, DIGEST_A, 1)
        assert [r.path for r in store.list_artifacts(run.id)] == ["a/b.txt", "a/z.txt", "b.txt"]

    def test_list_artifacts_prefix_matches_path_and_subtree_only(self, store: BaseStore) -> None:
        run = new_run(store)
        for path in ("a", "a/x.txt", "a/deep/y.txt", "ab", "ab/z.txt", "b/a/w.txt"):
            store.record_artifact(run.id, path, DIGEST_A, 1)
        assert [r.path for r in store.list_artifacts(run.id, prefix="a")] == [
            "a",
            "a/deep/y.txt",
            "a/x.txt",
        ]

    def test_list_artifacts_only_of_that_run(self, store: BaseStore) -> None:
        run, other = new_run(store), new_run(store)
        store.record_artifact(other.id, "x.txt", DIGEST_A, 1)
        assert store.list_artifacts(run.id) == []

    def test_get_unknown_artifact_raises_not_found(self, store: BaseStore) -> None:
        run = new_run(store)
        with pytest.raises(NotFoundError):
            store.get_artifact(run.id, "missing.txt")

    def test_record_artifact_of_unknown_run_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.record_artifact(MISSING_ID, "x.txt", DIGEST_A, 1)

    def test_artifact_record_is_a_snapshot(self, store: BaseStore) -> None:
        run = new_run(store)
        rec = store.record_artifact(run.id, "x.txt", DIGEST_A, 1)
        store.record_artifact(run.id, "x.txt", DIGEST_B, 2)
        assert isinstance(rec, ArtifactRecord) and rec.digest == DIGEST_A


class TokenConformance:
    """API tokens: stored by hash, listed, revoked."""

    @pytest.mark.parametrize("role", list(Role))
    def test_create_token_returns_unrevoked_token(self, store: BaseStore, role: Role) -> None:
        token = store.create_token("ci", role, "hash-1")
        assert (token.name, token.role, token.revoked) == ("ci", role, False)

    def test_get_token_by_hash_finds_it(self, store: BaseStore) -> None:
        token = store.create_token("ci", Role.WRITER, "hash-1")
        assert store.get_token_by_hash("hash-1") == token

    def test_get_token_by_unknown_hash_returns_none(self, store: BaseStore) -> None:
        store.create_token("ci", Role.WRITER, "hash-1")
        assert store.get_token_by_hash("hash-2") is None

    def test_list_tokens_returns_all_oldest_first(self, store: BaseStore) -> None:
        for i in range(3):
            store.create_token(f"t{i}", Role.READER, f"hash-{i}")
        tokens = store.list_tokens()
        assert sorted(t.name for t in tokens) == ["t0", "t1", "t2"]
        assert [t.created_time for t in tokens] == sorted(t.created_time for t in tokens)

    def test_revoke_token_marks_it_revoked(self, store: BaseStore) -> None:
        token = store.create_token("ci", Role.ADMIN, "hash-1")
        store.revoke_token(token.id)
        found = store.get_token_by_hash("hash-1")
        assert found is not None and found.revoked

    def test_revoke_unknown_token_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.revoke_token(MISSING_ID)
