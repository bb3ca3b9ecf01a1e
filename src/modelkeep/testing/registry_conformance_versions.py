"""Conformance tests for model versions: numbering, validation, updates, tags, latest, delete.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from modelkeep.entities import ModelVersionStatus, now_ms
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import digest, new_version, new_versions

__all__ = ["ModelVersionConformance", "VersionNumberingConformance"]

BAD_DIGESTS = ["", "a" * 63, "a" * 65, "A" * 64, "g" * 64, "sha256:" + "a" * 57, " " + "a" * 63]

# Threads registering at once, and versions each registers.
_WRITERS = 4
_PER_WRITER = 5


class VersionNumberingConformance:
    """Numbers 1, 2, 3... per model, never reused, distinct under concurrent registration."""

    def test_versions_are_numbered_from_one(self, store: BaseStore) -> None:
        assert [v.version for v in new_versions(store, 3)] == [1, 2, 3]

    def test_each_model_numbers_its_own_versions(self, store: BaseStore) -> None:
        new_versions(store, 2, "churn")
        assert new_version(store, "fraud").version == 1

    def test_number_of_deleted_latest_version_is_not_reused(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.delete_model_version("churn", 2)
        assert store.create_model_version("churn", "file:///m", digest(9)).version == 3

    def test_numbers_are_not_reused_after_deleting_every_version(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.delete_model_version("churn", 1)
        store.delete_model_version("churn", 2)
        assert store.create_model_version("churn", "file:///m", digest(9)).version == 3

    def test_concurrent_registrations_get_distinct_numbers(self, store: BaseStore) -> None:
        store.create_registered_model("churn")

        def register(writer: int) -> list[int]:
            return [
                store.create_model_version("churn", f"file:///w{writer}/{i}", digest(i)).version
                for i in range(_PER_WRITER)
            ]

        # Executor futures re-raise a thread's exception here instead of losing it.
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            futures = [pool.submit(register, w) for w in range(_WRITERS)]
            numbers = [n for future in futures for n in future.result()]
        assert sorted(numbers) == list(range(1, _WRITERS * _PER_WRITER + 1))


class ModelVersionConformance:
    """Create, read, validation, updates, tags, latest version and delete."""

    def test_create_round_trips_every_field(self, store: BaseStore) -> None:
        before = now_ms()
        created = store.create_model_version(
            "churn",
            source="file:///models/churn/1",
            root_digest=digest(1),
            flavor="sklearn",
            description="first",
            tags={"team": "a"},
            actor="alice",
        )
        got = store.get_model_version("churn", 1)
        assert got == created
        assert (got.source, got.root_digest, got.flavor, got.description, dict(got.tags)) == (
            "file:///models/churn/1",
            digest(1),
            "sklearn",
            "first",
            {"team": "a"},
        )
        assert (got.status, got.aliases, got.signatures, got.run_id) == (
            ModelVersionStatus.READY,
            (),
            (),
            None,
        )
        assert got.created_by == "alice"
        assert before <= got.creation_time <= now_ms()

    def test_missing_model_is_created(self, store: BaseStore) -> None:
        new_version(store, "churn", actor="alice")
        model = store.get_registered_model("churn")
        assert (model.latest_version, model.created_by) == (1, "alice")

    def test_version_records_existing_run(self, store: BaseStore) -> None:
        exp_id = store.create_experiment("train").id
        run = store.create_run(exp_id)
        version = new_version(store, run_id=run.id)
        assert store.get_model_version("churn", version.version).run_id == run.id

    @pytest.mark.parametrize("missing", ["0" * 32, "no-such-run"])
    def test_unknown_run_raises_not_found(self, store: BaseStore, missing: str) -> None:
        with pytest.raises(NotFoundError):
            store.create_model_version("churn", "file:///m", digest(1), run_id=missing)

    def test_unknown_run_creates_no_model(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.create_model_version("churn", "file:///m", digest(1), run_id="0" * 32)
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")

    @pytest.mark.parametrize("bad", BAD_DIGESTS)
    def test_bad_root_digest_is_invalid(self, store: BaseStore, bad: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.create_model_version("churn", "file:///m", bad)
        assert info.value.field == "root_digest"

    def test_bad_root_digest_stores_nothing(self, store: BaseStore) -> None:
        new_version(store)
        with pytest.raises(InvalidInputError):
            store.create_model_version("churn", "file:///m", "A" * 64)
        assert store.get_registered_model("churn").latest_version == 1
        assert new_version(store).version == 2

    def test_bad_model_name_is_invalid(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.create_model_version("team/churn", "file:///m", digest(1))
        assert info.value.field == "name"

    def test_version_description_is_updated(self, store: BaseStore) -> None:
        new_version(store)
        updated = store.update_model_version("churn", 1, description="better")
        assert updated.description == "better"
        assert store.get_model_version("churn", 1).description == "better"

    def test_status_is_updated(self, store: BaseStore) -> None:
        new_version(store)
        store.update_model_version("churn", 1, status=ModelVersionStatus.ARCHIVED)
        assert store.get_model_version("churn", 1).status is ModelVersionStatus.ARCHIVED

    def test_update_stamps_actor_and_time(self, store: BaseStore) -> None:
        created = new_version(store, actor="alice")
        updated = store.update_model_version("churn", 1, description="x", actor="bob")
        assert (updated.created_by, updated.updated_by) == ("alice", "bob")
        assert created.last_update_time <= updated.last_update_time <= now_ms()

    def test_version_tag_is_set_and_overwritten(self, store: BaseStore) -> None:
        new_version(store, tags={"team": "a"})
        store.set_model_version_tag("churn", 1, "team", "b")
        store.set_model_version_tag("churn", 1, "stage", "qa")
        assert dict(store.get_model_version("churn", 1).tags) == {"team": "b", "stage": "qa"}

    def test_version_tag_is_deleted(self, store: BaseStore) -> None:
        new_version(store, tags={"team": "a", "keep": "1"})
        store.delete_model_version_tag("churn", 1, "team")
        assert dict(store.get_model_version("churn", 1).tags) == {"keep": "1"}

    def test_deleting_unset_version_tag_raises_not_found(self, store: BaseStore) -> None:
        new_version(store)
        with pytest.raises(NotFoundError):
            store.delete_model_version_tag("churn", 1, "team")

    def test_version_tags_are_separate_from_model_tags(self, store: BaseStore) -> None:
        store.create_registered_model("churn", tags={"team": "model"})
        new_version(store, tags={"team": "version"})
        assert dict(store.get_registered_model("churn").tags) == {"team": "model"}
        assert dict(store.get_model_version("churn", 1).tags) == {"team": "version"}

    def test_latest_version_is_highest_number(self, store: BaseStore) -> None:
        versions = new_versions(store, 3)
        assert store.get_latest_model_version("churn") == versions[-1]

    def test_latest_version_after_deleting_highest(self, store: BaseStore) -> None:
        new_versions(store, 3)
        store.delete_model_version("churn", 3)
        assert store.get_latest_model_version("churn").version == 2
        assert store.get_registered_model("churn").latest_version == 2

    def test_latest_of_model_without_versions_raises_not_found(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        with pytest.raises(NotFoundError):
            store.get_latest_model_version("churn")

    def test_delete_removes_only_that_version(self, store: BaseStore) -> None:
        first, _ = new_versions(store, 2)
        store.delete_model_version("churn", 2)
        with pytest.raises(NotFoundError):
            store.get_model_version("churn", 2)
        assert store.get_model_version("churn", 1) == first
