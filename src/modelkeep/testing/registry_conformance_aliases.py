"""Conformance tests for aliases: set, move, delete, name rules and the append-only history.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`.
"""

from __future__ import annotations

import pytest

from modelkeep.entities import now_ms
from modelkeep.exceptions import ConflictError, InvalidInputError, NotFoundError
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import MAX_MODEL_NAME_LENGTH, new_versions

__all__ = ["AliasConformance", "AliasDeleteConformance", "AliasHistoryConformance"]

BAD_ALIASES = [
    "latest",
    "1",
    "007",
    "",
    "x" * (MAX_MODEL_NAME_LENGTH + 1),
    "prod/champion",
    "champion@1",
    "champ\nion",
    " champion",
    "champion ",
]


class AliasConformance:
    """Setting and moving aliases; what versions and models report; alias names."""

    def test_set_returns_the_change(self, store: BaseStore) -> None:
        new_versions(store, 1)
        before = now_ms()
        change = store.set_model_alias("churn", "champion", 1, reason="best auc", actor="alice")
        assert (change.name, change.alias, change.version, change.previous_version) == (
            "churn",
            "champion",
            1,
            None,
        )
        assert (change.actor, change.reason) == ("alice", "best auc")
        assert before <= change.timestamp <= now_ms()

    def test_alias_resolves_to_its_version(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        found = store.get_model_version_by_alias("churn", "champion")
        assert found == store.get_model_version("churn", 1)

    def test_move_reports_previous_version(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        change = store.set_model_alias("churn", "champion", 2)
        assert (change.version, change.previous_version) == (2, 1)

    def test_moved_alias_points_at_one_version_only(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        store.set_model_alias("churn", "champion", 2)
        assert store.get_model_version_by_alias("churn", "champion").version == 2
        assert store.get_model_version("churn", 1).aliases == ()
        assert store.get_model_version("churn", 2).aliases == ("champion",)

    def test_version_lists_its_aliases_sorted(self, store: BaseStore) -> None:
        new_versions(store, 1)
        for alias in ("prod", "champion", "eu"):
            store.set_model_alias("churn", alias, 1)
        assert store.get_model_version("churn", 1).aliases == ("champion", "eu", "prod")

    def test_model_maps_aliases_to_versions(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        store.set_model_alias("churn", "challenger", 2)
        assert dict(store.get_registered_model("churn").aliases) == {
            "champion": 1,
            "challenger": 2,
        }

    def test_same_alias_on_two_models_is_independent(self, store: BaseStore) -> None:
        new_versions(store, 2, "churn")
        new_versions(store, 1, "fraud")
        store.set_model_alias("churn", "champion", 2)
        store.set_model_alias("fraud", "champion", 1)
        assert store.get_model_version_by_alias("churn", "champion").version == 2

    @pytest.mark.parametrize("alias", BAD_ALIASES)
    def test_bad_alias_is_invalid(self, store: BaseStore, alias: str) -> None:
        new_versions(store, 1)
        with pytest.raises(InvalidInputError) as info:
            store.set_model_alias("churn", alias, 1)
        assert info.value.field == "alias"

    def test_bad_alias_records_nothing(self, store: BaseStore) -> None:
        new_versions(store, 1)
        with pytest.raises(InvalidInputError):
            store.set_model_alias("churn", "latest", 1)
        assert store.list_alias_history("churn") == []
        assert dict(store.get_registered_model("churn").aliases) == {}

    @pytest.mark.parametrize("alias", ["v2", "2b", "latest-good", "x" * MAX_MODEL_NAME_LENGTH])
    def test_alias_near_the_rules_is_accepted(self, store: BaseStore, alias: str) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", alias, 1)
        assert store.get_model_version_by_alias("churn", alias).version == 1

    def test_alias_to_unknown_version_changes_nothing(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(NotFoundError):
            store.set_model_alias("churn", "champion", 2)
        assert store.get_model_version_by_alias("churn", "champion").version == 1
        assert len(store.list_alias_history("churn")) == 1

    def test_unset_alias_raises_not_found(self, store: BaseStore) -> None:
        new_versions(store, 1)
        with pytest.raises(NotFoundError):
            store.get_model_version_by_alias("churn", "champion")


class AliasDeleteConformance:
    """Removing aliases, and deleting versions that aliases point at."""

    def test_delete_alias_returns_removal(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        change = store.delete_model_alias("churn", "champion", reason="rollback", actor="bob")
        assert (change.alias, change.version, change.previous_version) == ("champion", None, 1)
        assert (change.actor, change.reason) == ("bob", "rollback")

    def test_deleted_alias_no_longer_resolves(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        store.delete_model_alias("churn", "champion")
        with pytest.raises(NotFoundError):
            store.get_model_version_by_alias("churn", "champion")
        assert dict(store.get_registered_model("churn").aliases) == {}
        assert store.get_model_version("churn", 1).aliases == ()

    def test_delete_unset_alias_raises_not_found(self, store: BaseStore) -> None:
        new_versions(store, 1)
        with pytest.raises(NotFoundError):
            store.delete_model_alias("churn", "champion")
        assert store.list_alias_history("churn") == []

    def test_delete_aliased_version_needs_force(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(ConflictError):
            store.delete_model_version("churn", 1)
        assert store.get_model_version("churn", 1).aliases == ("champion",)
        assert len(store.list_alias_history("churn")) == 1

    def test_forced_delete_of_aliased_version_removes_it(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        store.delete_model_version("churn", 1, force=True)
        with pytest.raises(NotFoundError):
            store.get_model_version("churn", 1)
        assert dict(store.get_registered_model("churn").aliases) == {}

    def test_forced_delete_records_each_alias_removal(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        store.set_model_alias("churn", "eu", 1)
        store.delete_model_version("churn", 1, force=True, actor="bob")
        removals = store.list_alias_history("churn")[2:]
        assert sorted((c.alias, c.version, c.previous_version, c.actor) for c in removals) == [
            ("champion", None, 1, "bob"),
            ("eu", None, 1, "bob"),
        ]


class AliasHistoryConformance:
    """Every set and removal is appended, oldest first, and never rewritten."""

    def test_history_lists_changes_oldest_first(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1, actor="alice")
        store.set_model_alias("churn", "champion", 2, actor="bob")
        store.delete_model_alias("churn", "champion", actor="carol")
        history = store.list_alias_history("churn")
        assert [(c.version, c.previous_version, c.actor) for c in history] == [
            (1, None, "alice"),
            (2, 1, "bob"),
            (None, 2, "carol"),
        ]

    def test_history_of_one_alias(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        store.set_model_alias("churn", "challenger", 2)
        history = store.list_alias_history("churn", "challenger")
        assert [(c.alias, c.version) for c in history] == [("challenger", 2)]

    def test_setting_alias_to_same_version_is_recorded(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        change = store.set_model_alias("churn", "champion", 1, reason="re-approved")
        assert (change.version, change.previous_version) == (1, 1)
        assert len(store.list_alias_history("churn")) == 2

    def test_history_entries_are_never_rewritten(self, store: BaseStore) -> None:
        new_versions(store, 2)
        first = store.set_model_alias("churn", "champion", 1, reason="first", actor="alice")
        store.set_model_alias("churn", "champion", 2, reason="second")
        store.delete_model_alias("churn", "champion")
        assert store.list_alias_history("churn")[0] == first

    def test_history_keeps_changes_of_deleted_version(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.set_model_alias("churn", "champion", 1)
        store.set_model_alias("churn", "champion", 2)
        store.delete_model_version("churn", 1)
        assert [c.version for c in store.list_alias_history("churn")] == [1, 2]

    def test_history_is_per_model(self, store: BaseStore) -> None:
        new_versions(store, 1, "churn")
        new_versions(store, 1, "fraud")
        store.set_model_alias("fraud", "champion", 1)
        assert store.list_alias_history("churn") == []
